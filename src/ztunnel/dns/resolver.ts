/**
 * What the DNS proxy answers, as a pure function of the query bytes, the asking pod's context and a lookup
 * of service hostnames. Service names resolve to their VIPs in every form a pod may use: `name`,
 * `name.ns`, `name.ns.svc`, `name.ns.svc.cluster.local`, and these with one of the pod's search domains
 * appended (what a resolver sends when it walks its search list), as Istio's ztunnel does. Unknown names in
 * the cluster domain get NXDOMAIN; other names go upstream (or NXDOMAIN without an upstream).
 */
import { isIPv4 } from 'node:net';
import { CLUSTER_DOMAIN } from '../../core/labels.ts';
import {
  buildErrorResponse,
  buildResponse,
  DNS_CLASS_IN,
  DNS_TYPE,
  type DnsAnswer,
  DnsFormatError,
  parseQuery,
  RCODE,
  type Rcode,
} from './codec.ts';

/** Istio's ztunnel answers with a 30 s TTL. */
export const DNS_TTL_SECONDS = 30;

export interface DnsClientContext {
  /** The asking pod's namespace (for bare names); undefined when unknown. */
  namespace: string | undefined;
  /** The pod's search domains; default `<ns>.svc.<domain> svc.<domain> <domain>`. */
  searchDomains?: readonly string[] | undefined;
}

/** Hostname (lowercase, no trailing dot) -> the service's VIPs, or undefined when there is no such service. */
export type HostLookup = (hostname: string) => readonly string[] | undefined;

export type LocalAnswer =
  | { kind: 'response'; response: Buffer; rcode: Rcode; hostname?: string | undefined }
  | { kind: 'forward'; name: string }
  | { kind: 'drop' };

export interface AnswerOptions {
  /** Whether names outside the mesh may go upstream; without an upstream they get NXDOMAIN. */
  canForward: boolean;
  domain?: string;
}

export function answerLocally(
  message: Uint8Array,
  context: DnsClientContext,
  lookup: HostLookup,
  options: AnswerOptions,
): LocalAnswer {
  const domain = options.domain ?? CLUSTER_DOMAIN;
  let query: ReturnType<typeof parseQuery>;
  try {
    query = parseQuery(message);
  } catch (error) {
    if (error instanceof DnsFormatError && error.id !== undefined) {
      return {
        kind: 'response',
        response: buildErrorResponse(error.id, RCODE.FORMERR),
        rcode: RCODE.FORMERR,
      };
    }
    return { kind: 'drop' };
  }
  const reply = (
    rcode: Rcode,
    authoritative: boolean,
    answers?: DnsAnswer[],
    hostname?: string,
  ): LocalAnswer => ({
    kind: 'response',
    response: buildResponse(message, query, { rcode, authoritative, answers }),
    rcode,
    hostname,
  });
  if (query.opcode !== 0) return reply(RCODE.NOTIMP, false);
  const question = query.questions[0];
  if (query.questions.length !== 1 || !question) return reply(RCODE.FORMERR, false);
  const elsewhere = (): LocalAnswer =>
    options.canForward ? { kind: 'forward', name: question.name } : reply(RCODE.NXDOMAIN, false);
  if (question.class !== DNS_CLASS_IN) return elsewhere();
  for (const alias of aliases(question.name, context, domain)) {
    const vips = lookup(alias);
    if (vips === undefined) continue;
    const wantV4 = question.type === DNS_TYPE.A;
    const wantV6 = question.type === DNS_TYPE.AAAA;
    const answers: DnsAnswer[] = [];
    for (const vip of vips) {
      const v4 = isIPv4(vip);
      if ((wantV4 && v4) || (wantV6 && !v4)) {
        answers.push({ type: v4 ? DNS_TYPE.A : DNS_TYPE.AAAA, ttl: DNS_TTL_SECONDS, address: vip });
      }
    }
    // A known name without records of the asked type is NOERROR with no answers (NODATA), not NXDOMAIN.
    return reply(RCODE.NOERROR, true, answers, alias);
  }
  if (question.name === domain || question.name.endsWith(`.${domain}`)) return reply(RCODE.NXDOMAIN, true);
  return elsewhere();
}

/** The hostnames a query name may stand for, from the asking pod's point of view, most literal first. */
export function aliases(name: string, context: DnsClientContext, domain = CLUSTER_DOMAIN): string[] {
  const out = new Set<string>();
  const add = (candidate: string) => {
    out.add(candidate);
    for (const expanded of kubeExpansions(candidate, context.namespace, domain)) out.add(expanded);
  };
  add(name);
  for (const search of searchDomainsOf(context, domain)) {
    if (name.length > search.length && name.endsWith(`.${search}`)) add(name.slice(0, -search.length - 1));
  }
  return [...out];
}

function kubeExpansions(name: string, namespace: string | undefined, domain: string): string[] {
  const labels = name.split('.');
  if (labels.length === 1 && namespace) return [`${name}.${namespace}.svc.${domain}`];
  if (labels.length === 2) return [`${name}.svc.${domain}`];
  if (labels.length === 3 && labels[2] === 'svc') return [`${name}.${domain}`];
  return [];
}

function searchDomainsOf(context: DnsClientContext, domain: string): readonly string[] {
  if (context.searchDomains) return context.searchDomains.map((s) => s.toLowerCase().replace(/\.$/, ''));
  const defaults = [`svc.${domain}`, domain];
  return context.namespace ? [`${context.namespace}.svc.${domain}`, ...defaults] : defaults;
}
