/**
 * What the DNS proxy answers, as a pure function of the query bytes, the asking pod's context and a lookup
 * of service hostnames. Service names resolve to their VIPs as `name.ns.svc.cluster.local` and, sent as
 * typed, `name`, `name.ns`, `name.ns.svc` (see `aliases`). Everything else goes upstream, to the cluster's
 * DNS, as Istio's ztunnel forwards to kube-dns; without an upstream, names in the cluster domain get an
 * authoritative NXDOMAIN and others a plain one.
 */
import { isIPv4 } from 'node:net';
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
} from '../../core/dns/codec.ts';
import { CLUSTER_DOMAIN } from '../../core/labels.ts';

/** Istio's ztunnel answers with a 30 s TTL. */
export const DNS_TTL_SECONDS = 30;

export interface DnsClientContext {
  /** The asking pod's namespace (for bare names); undefined when unknown. */
  namespace: string | undefined;
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
  const wantV4 = question.type === DNS_TYPE.A;
  const wantV6 = question.type === DNS_TYPE.AAAA;
  for (const alias of aliases(question.name, context, domain)) {
    const vips = lookup(alias);
    if (vips === undefined) continue;
    // Other record types (SRV, ...) and headless Services (no VIP) are the cluster DNS's to answer.
    if (options.canForward && (vips.length === 0 || !(wantV4 || wantV6))) return elsewhere();
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
  // The cluster DNS knows more of the cluster's names (pods, headless Services, reverse names).
  if (inDomain(question.name, domain) && !options.canForward) return reply(RCODE.NXDOMAIN, true);
  return elsewhere();
}

/**
 * The hostnames a query name may stand for, from the asking pod's point of view, most literal first. A
 * name inside the cluster domain stands for itself only: a resolver walking its search list sends
 * `web.mesh.mesh.svc.cluster.local` before `web.mesh.svc.cluster.local`, and answering the first would make
 * that search-expanded name the canonical one. A shorter name also stands for its Kubernetes expansions
 * (`name` in the pod's namespace, `name.ns`, `name.ns.svc`), for clients that send it as typed.
 */
export function aliases(name: string, context: DnsClientContext, domain = CLUSTER_DOMAIN): string[] {
  if (inDomain(name, domain)) return [name];
  return [name, ...kubeExpansions(name, context.namespace, domain)];
}

function inDomain(name: string, domain: string): boolean {
  return name === domain || name.endsWith(`.${domain}`);
}

function kubeExpansions(name: string, namespace: string | undefined, domain: string): string[] {
  const labels = name.split('.');
  if (labels.length === 1 && namespace) return [`${name}.${namespace}.svc.${domain}`];
  if (labels.length === 2) return [`${name}.svc.${domain}`];
  if (labels.length === 3 && labels[2] === 'svc') return [`${name}.${domain}`];
  return [];
}
