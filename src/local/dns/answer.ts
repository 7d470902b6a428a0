/**
 * The cluster DNS's answer to one query, a pure function of the query bytes and the zone. Known names get
 * authoritative answers (NODATA, i.e. NOERROR without records, for a type the name has none of); unknown
 * names get NXDOMAIN at once, authoritative inside the cluster domain and the reverse zone. Names outside
 * both go to the upstream when the cluster file names one (`forward`), else get NXDOMAIN too, so outside
 * names never leave the cluster unless the user said where they may go.
 */
import {
  buildErrorResponse,
  buildResponse,
  DNS_CLASS_IN,
  DNS_TYPE,
  DnsFormatError,
  type DnsQuery,
  type DnsRecord,
  parseQuery,
  RCODE,
  type Rcode,
} from '../../core/dns/codec.ts';
import type { ClusterZone, ZoneEntry } from './zone.ts';

/** CoreDNS's `kubernetes` plugin answers with a 5 s TTL: clients see endpoint changes soon. */
export const CLUSTER_DNS_TTL_SECONDS = 5;

export type ClusterDnsAnswer = { response: Buffer; rcode: Rcode } | undefined;

/**
 * The response to `message`; `forward` for a name outside the cluster when `canForward`; undefined for a
 * message not worth an answer (no readable id).
 */
export function answerClusterQuery(message: Uint8Array, zone: ClusterZone): ClusterDnsAnswer;
export function answerClusterQuery(
  message: Uint8Array,
  zone: ClusterZone,
  canForward: boolean,
): ClusterDnsAnswer | 'forward';
export function answerClusterQuery(
  message: Uint8Array,
  zone: ClusterZone,
  canForward = false,
): ClusterDnsAnswer | 'forward' {
  let query: DnsQuery;
  try {
    query = parseQuery(message);
  } catch (error) {
    if (error instanceof DnsFormatError && error.id !== undefined) {
      return { response: buildErrorResponse(error.id, RCODE.FORMERR), rcode: RCODE.FORMERR };
    }
    return undefined;
  }
  const reply = (
    rcode: Rcode,
    authoritative: boolean,
    answers?: DnsRecord[],
    additionals?: DnsRecord[],
  ): { response: Buffer; rcode: Rcode } => ({
    response: buildResponse(message, query, { rcode, authoritative, answers, additionals }),
    rcode,
  });
  if (query.opcode !== 0) return reply(RCODE.NOTIMP, false);
  const question = query.questions[0];
  if (query.questions.length !== 1 || !question) return reply(RCODE.FORMERR, false);
  if (question.class !== DNS_CLASS_IN) return reply(RCODE.REFUSED, false);
  const found = zone.names.get(question.name);
  if (!found) {
    const ours =
      question.name === zone.domain ||
      question.name.endsWith(`.${zone.domain}`) ||
      question.name.endsWith('.in-addr.arpa');
    return !ours && canForward ? 'forward' : reply(RCODE.NXDOMAIN, ours);
  }
  const { answers, additionals } = recordsOf(found, question.type);
  return reply(RCODE.NOERROR, true, answers, additionals);
}

function recordsOf(entry: ZoneEntry, type: number): { answers: DnsRecord[]; additionals: DnsRecord[] } {
  const ttl = CLUSTER_DNS_TTL_SECONDS;
  const any = type === DNS_TYPE.ANY;
  const answers: DnsRecord[] = [];
  const additionals: DnsRecord[] = [];
  if (type === DNS_TYPE.A || any) {
    for (const address of entry.addresses) answers.push({ type: DNS_TYPE.A, ttl, address });
  }
  if ((type === DNS_TYPE.PTR || any) && entry.ptr !== undefined) {
    answers.push({ type: DNS_TYPE.PTR, ttl, target: entry.ptr });
  }
  if ((type === DNS_TYPE.SRV || any) && entry.srv) {
    const weight = entry.srv.length > 0 ? Math.max(1, Math.floor(100 / entry.srv.length)) : 0;
    for (const srv of entry.srv) {
      answers.push({ type: DNS_TYPE.SRV, ttl, priority: 0, weight, port: srv.port, target: srv.target });
      additionals.push({ type: DNS_TYPE.A, ttl, name: srv.target, address: srv.address });
    }
  }
  return { answers, additionals };
}
