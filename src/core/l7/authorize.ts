/**
 * L7 authorization at the waypoint, as Istio enforces AuthorizationPolicy there: a pure function of the
 * compiled policies, the served service and the request's attributes.
 *
 * - AUDIT policies never decide; the ones that match are returned so that the caller logs them.
 * - A DENY policy that matches denies, whatever the ALLOW policies say (DENY is evaluated first).
 * - If any ALLOW policy applies, the request must match one of them (default deny); none applies: allowed.
 * - A policy matches when one of its rules matches; a policy without rules (`spec: {}`) matches nothing.
 * - A rule matches when some `from`, some `to` (each list: empty = any) and every `when` match.
 * - A set field must match; a `not*` field must not. An attribute the request lacks (the principal of a
 *   plaintext peer, an absent header) matches no positive field and is excluded by no negative field.
 */
import { parseSpiffeUri } from '../identity.ts';
import { type CidrBlock, cidrContains, parseCidr, parseIp } from '../net/ip.ts';
import { policyMatcherMatches } from '../policy/string-match.ts';
import type {
  L7AuthorizationPolicy,
  L7Condition,
  L7Operation,
  L7Rule,
  L7Source,
  PolicyMatcher,
} from './types.ts';

export interface RequestAttributes {
  /** The peer's SPIFFE URI from its verified certificate (the source workload's); undefined if plaintext. */
  sourceIdentity?: string | undefined;
  sourceIp?: string | undefined;
  /** The original client as Envoy determines it (Istio's default: the same as `sourceIp`). */
  remoteIp?: string | undefined;
  destinationIp: string;
  /** The served service port. */
  destinationPort: number;
  /** Host / `:authority` as sent. */
  host: string;
  method: string;
  /** Without the query string. */
  path: string;
  sni?: string | undefined;
  /** A request header by lowercase name; undefined when absent. */
  header(name: string): string | undefined;
  /** The request's verified JWT; undefined when it carried none. */
  auth?: RequestAuth | undefined;
}

/** What a verified JWT tells policies (Istio's `request.auth.*` attributes). */
export interface RequestAuth {
  /** `<iss>/<sub>`. */
  principal: string;
  audiences: string[];
  /** `azp`. */
  presenter?: string | undefined;
  claims: Record<string, unknown>;
}

export interface L7Decision {
  allowed: boolean;
  reason: 'no-policy' | 'allowed' | 'denied' | 'not-allowed';
  /** The policy that decided: the matching DENY or ALLOW policy. */
  policy?: L7AuthorizationPolicy | undefined;
  /** AUDIT policies that matched (Envoy logs them; they do not change the decision). */
  audited: L7AuthorizationPolicy[];
}

/** The request's attributes in the form rules compare them, derived once per decision. */
interface Subject {
  request: RequestAttributes;
  principal: string | undefined;
  namespace: string | undefined;
  hostWithoutPort: string;
  host: string;
}

export function authorizeRequest(
  policies: readonly L7AuthorizationPolicy[],
  serviceHostname: string,
  request: RequestAttributes,
): L7Decision {
  const subject = subjectOf(request);
  const audited: L7AuthorizationPolicy[] = [];
  let anyAllow = false;
  let allowedBy: L7AuthorizationPolicy | undefined;
  let deniedBy: L7AuthorizationPolicy | undefined;
  for (const policy of policies) {
    if (policy.appliesTo.kind === 'services' && !policy.appliesTo.hostnames.includes(serviceHostname))
      continue;
    switch (policy.action) {
      case 'AUDIT':
        if (policyMatches(policy, subject)) audited.push(policy);
        break;
      case 'DENY':
        if (deniedBy === undefined && policyMatches(policy, subject)) deniedBy = policy;
        break;
      case 'ALLOW':
        anyAllow = true;
        if (allowedBy === undefined && policyMatches(policy, subject)) allowedBy = policy;
        break;
    }
  }
  if (deniedBy) return { allowed: false, reason: 'denied', policy: deniedBy, audited };
  if (!anyAllow) return { allowed: true, reason: 'no-policy', audited };
  if (allowedBy) return { allowed: true, reason: 'allowed', policy: allowedBy, audited };
  return { allowed: false, reason: 'not-allowed', audited };
}

function subjectOf(request: RequestAttributes): Subject {
  const identity = request.sourceIdentity;
  const host = request.host.toLowerCase();
  return {
    request,
    // Policies name principals without the scheme: `cluster.local/ns/default/sa/sleep`.
    principal: identity?.startsWith('spiffe://') ? identity.slice('spiffe://'.length) : undefined,
    namespace: identity ? parseSpiffeUri(identity)?.namespace : undefined,
    host,
    hostWithoutPort: stripPort(host),
  };
}

/** `host:port` -> `host`, `[::1]:80` -> `[::1]`; a bare IPv6 address (several colons) is left alone. */
function stripPort(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end < 0 ? host : host.slice(0, end + 1);
  }
  const colon = host.indexOf(':');
  return colon >= 0 && colon === host.lastIndexOf(':') ? host.slice(0, colon) : host;
}

function policyMatches(policy: L7AuthorizationPolicy, subject: Subject): boolean {
  return policy.rules.some((rule) => ruleMatches(rule, subject));
}

function ruleMatches(rule: L7Rule, subject: Subject): boolean {
  return (
    (rule.from.length === 0 || rule.from.some((source) => sourceMatches(source, subject))) &&
    (rule.to.length === 0 || rule.to.some((operation) => operationMatches(operation, subject))) &&
    rule.when.every((condition) => conditionHolds(condition, subject))
  );
}

/** A positive list (empty = no constraint) and its negative twin, against a value the request may lack. */
function field<T>(
  positive: readonly T[],
  negative: readonly T[],
  value: string | undefined,
  matches: (entry: T, value: string) => boolean,
): boolean {
  if (positive.length > 0 && (value === undefined || !positive.some((entry) => matches(entry, value)))) {
    return false;
  }
  return value === undefined || !negative.some((entry) => matches(entry, value));
}

function sourceMatches(source: L7Source, subject: Subject): boolean {
  const { request } = subject;
  return (
    field(source.principals, source.notPrincipals, subject.principal, policyMatcherMatches) &&
    field(source.namespaces, source.notNamespaces, subject.namespace, policyMatcherMatches) &&
    ipField(source.ipBlocks, source.notIpBlocks, request.sourceIp) &&
    ipField(source.remoteIpBlocks, source.notRemoteIpBlocks, request.remoteIp ?? request.sourceIp) &&
    field(
      source.requestPrincipals ?? NONE,
      source.notRequestPrincipals ?? NONE,
      request.auth?.principal,
      policyMatcherMatches,
    )
  );
}

function operationMatches(operation: L7Operation, subject: Subject): boolean {
  const { request } = subject;
  const hostMatches = (matcher: PolicyMatcher) =>
    policyMatcherMatches(matcher, subject.host) || policyMatcherMatches(matcher, subject.hostWithoutPort);
  const port = request.destinationPort;
  return (
    (operation.hosts.length === 0 || operation.hosts.some(hostMatches)) &&
    !operation.notHosts.some(hostMatches) &&
    (operation.ports.length === 0 || operation.ports.includes(port)) &&
    !operation.notPorts.includes(port) &&
    field(operation.methods, operation.notMethods, request.method, policyMatcherMatches) &&
    field(operation.paths, operation.notPaths, request.path, policyMatcherMatches)
  );
}

function conditionHolds(condition: L7Condition, subject: Subject): boolean {
  const { request } = subject;
  if (condition.kind === 'ip') {
    const key = condition.key.kind;
    const ip =
      key === 'sourceIp'
        ? request.sourceIp
        : key === 'remoteIp'
          ? (request.remoteIp ?? request.sourceIp)
          : request.destinationIp;
    return ipField(condition.values, condition.notValues, ip);
  }
  const key = condition.key;
  if (key.kind === 'authAudiences' || key.kind === 'authClaim') {
    const values = request.auth === undefined ? [] : authValues(request.auth, key);
    return listField(condition.values, condition.notValues, values);
  }
  const value =
    key.kind === 'authPrincipal'
      ? request.auth?.principal
      : key.kind === 'authPresenter'
        ? request.auth?.presenter
        : key.kind === 'requestHeader'
          ? request.header(key.name)
          : key.kind === 'sourceNamespace'
            ? subject.namespace
            : key.kind === 'sourcePrincipal'
              ? subject.principal
              : key.kind === 'destinationPort'
                ? String(request.destinationPort)
                : request.sni;
  return field(condition.values, condition.notValues, value, policyMatcherMatches);
}

const NONE: readonly PolicyMatcher[] = [];

/**
 * The values of a list-valued JWT attribute: the audiences, or the claim at `path` (nested objects by
 * name); a string claim is one value, a list of strings its items (Istio matches any), anything else none.
 */
function authValues(
  auth: RequestAuth,
  key: { kind: 'authAudiences' } | { kind: 'authClaim'; path: string[] },
) {
  if (key.kind === 'authAudiences') return auth.audiences;
  let value: unknown = auth.claims;
  for (const name of key.path) {
    value =
      typeof value === 'object' && value !== null && !Array.isArray(value)
        ? (value as Record<string, unknown>)[name]
        : undefined;
  }
  if (typeof value === 'string') return [value];
  if (typeof value === 'number' || typeof value === 'boolean') return [String(value)];
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

/** `field` over several values: some must match a positive entry, none a negative one. */
function listField(
  positive: readonly PolicyMatcher[],
  negative: readonly PolicyMatcher[],
  values: readonly string[],
): boolean {
  const some = (entries: readonly PolicyMatcher[]) =>
    values.some((value) => entries.some((entry) => policyMatcherMatches(entry, value)));
  if (positive.length > 0 && !some(positive)) return false;
  return !some(negative);
}

const blocks = new WeakMap<readonly string[], CidrBlock[]>();

/** The CIDRs of one list, parsed on first use (the boundary check refused unparsable ones). */
function parsedBlocks(cidrs: readonly string[]): CidrBlock[] {
  let parsed = blocks.get(cidrs);
  if (parsed === undefined) {
    parsed = cidrs.flatMap((cidr) => parseCidr(cidr) ?? []);
    blocks.set(cidrs, parsed);
  }
  return parsed;
}

function ipField(
  positive: readonly string[],
  negative: readonly string[],
  text: string | undefined,
): boolean {
  const ip = text === undefined ? undefined : parseIp(text);
  const contains = (cidrs: readonly string[]) =>
    ip !== undefined && parsedBlocks(cidrs).some((block) => cidrContains(block, ip));
  if (positive.length > 0 && !contains(positive)) return false;
  return negative.length === 0 || !contains(negative);
}
