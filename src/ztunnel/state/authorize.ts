/**
 * L4 authorization at the destination, as Istio's ztunnel enforces AuthorizationPolicy: a pure function of
 * the policies, the destination workload and the connection's attributes.
 *
 * - A DENY policy that matches denies, whatever the ALLOW policies say (DENY is evaluated first).
 * - If any ALLOW policy selects the workload, the connection must match one of them (default deny).
 * - A policy matches when one of its rules matches; a policy without rules (`spec: {}`) matches nothing.
 * - A rule matches when some `from`, some `to` (each list: empty = any) and every `when` match.
 * - A field that is set must match; a `not*` field must not. An attribute the connection lacks (the
 *   principal of a plaintext connection) matches no positive field and is excluded by no negative field.
 */
import { parseSpiffeUri } from '../../core/identity.ts';
import type { L4Condition, L4Policy, L4Rule, L4Source, L4Target, Workload } from '../../core/model/index.ts';
import { type CidrBlock, cidrContains, type IpAddress, parseCidr, parseIp } from '../../core/net/ip.ts';
import { policyApplies } from '../../core/policy/scope.ts';
import { stringMatches } from '../../core/policy/string-match.ts';

export interface ConnectionAttributes {
  sourceIp: string;
  /** The peer's SPIFFE URI from its verified certificate; undefined for plaintext connections. */
  sourceIdentity?: string | undefined;
  destinationIp: string;
  destinationPort: number;
}

export interface AuthorizationResult {
  allowed: boolean;
  /** The policy that decided: the matching DENY or ALLOW policy; none when no policy applies or none allowed. */
  policy?: L4Policy | undefined;
  reason: 'no-policy' | 'allowed' | 'denied' | 'not-allowed';
}

/** The connection's attributes in the form rules compare them, computed once per decision. */
interface Subject {
  sourceIp: IpAddress | undefined;
  principal: string | undefined;
  namespace: string | undefined;
  destinationIp: IpAddress | undefined;
  destinationPort: number;
}

export function authorize(
  policies: readonly L4Policy[],
  workload: Workload,
  connection: ConnectionAttributes,
): AuthorizationResult {
  const subject = subjectOf(connection);
  let anyAllow = false;
  let allowedBy: L4Policy | undefined;
  for (const policy of policies) {
    if (!policyApplies(policy, workload)) continue;
    if (policy.action === 'DENY') {
      if (policyMatches(policy, subject)) return { allowed: false, policy, reason: 'denied' };
    } else {
      anyAllow = true;
      if (allowedBy === undefined && policyMatches(policy, subject)) allowedBy = policy;
    }
  }
  if (!anyAllow) return { allowed: true, reason: 'no-policy' };
  if (allowedBy) return { allowed: true, policy: allowedBy, reason: 'allowed' };
  return { allowed: false, reason: 'not-allowed' };
}

function subjectOf(connection: ConnectionAttributes): Subject {
  const identity = connection.sourceIdentity ? parseSpiffeUri(connection.sourceIdentity) : undefined;
  return {
    sourceIp: parseIp(connection.sourceIp),
    // Policies name principals without the scheme: `cluster.local/ns/default/sa/sleep`.
    principal: connection.sourceIdentity?.startsWith('spiffe://')
      ? connection.sourceIdentity.slice('spiffe://'.length)
      : undefined,
    namespace: identity?.namespace,
    destinationIp: parseIp(connection.destinationIp),
    destinationPort: connection.destinationPort,
  };
}

function policyMatches(policy: L4Policy, subject: Subject): boolean {
  return policy.rules.some((rule) => ruleMatches(rule, subject));
}

function ruleMatches(rule: L4Rule, subject: Subject): boolean {
  return (
    (rule.from.length === 0 || rule.from.some((source) => sourceMatches(source, subject))) &&
    (rule.to.length === 0 || rule.to.some((target) => targetMatches(target, subject))) &&
    rule.when.every((condition) => conditionMatches(condition, subject))
  );
}

function sourceMatches(source: L4Source, subject: Subject): boolean {
  return (
    included(source.principals, source.notPrincipals, (p) => stringMatches(p, subject.principal)) &&
    included(source.namespaces, source.notNamespaces, (n) => stringMatches(n, subject.namespace)) &&
    included(source.ipBlocks, source.notIpBlocks, (b) => ipMatches(b, subject.sourceIp))
  );
}

function targetMatches(target: L4Target, subject: Subject): boolean {
  return included(target.ports, target.notPorts, (port) => port === subject.destinationPort);
}

function conditionMatches(condition: L4Condition, subject: Subject): boolean {
  const test = conditionTest(condition.key, subject);
  return included(condition.values, condition.notValues, test);
}

function conditionTest(key: L4Condition['key'], subject: Subject): (value: string) => boolean {
  switch (key) {
    case 'source.ip':
      return (value) => ipMatches(value, subject.sourceIp);
    case 'source.namespace':
      return (value) => stringMatches(value, subject.namespace);
    case 'source.principal':
      return (value) => stringMatches(value, subject.principal);
    case 'destination.ip':
      return (value) => ipMatches(value, subject.destinationIp);
    case 'destination.port':
      return (value) => Number(value) === subject.destinationPort;
  }
}

/** A positive list that is set needs a match; a negative list that is set must have none. */
function included<T>(positive: readonly T[], negative: readonly T[], test: (value: T) => boolean): boolean {
  if (positive.length > 0 && !positive.some(test)) return false;
  return !negative.some(test);
}

const cidrCache = new Map<string, CidrBlock | null>();

function ipMatches(block: string, ip: IpAddress | undefined): boolean {
  if (ip === undefined) return false;
  let parsed = cidrCache.get(block);
  if (parsed === undefined) {
    parsed = parseCidr(block) ?? null;
    // Policies carry a bounded set of blocks; the cache only spares re-parsing them per connection.
    if (cidrCache.size < 10_000) cidrCache.set(block, parsed);
  }
  // A block that does not parse matches nothing: for ALLOW that denies, for DENY the snapshot was refused.
  return parsed !== null && cidrContains(parsed, ip);
}
