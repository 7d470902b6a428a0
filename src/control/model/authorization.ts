/**
 * AuthorizationPolicy -> L4Policy, with ztunnel's semantics (a ztunnel sees TCP connections, not requests):
 * - `serviceAccounts` are folded into principals (`<trust domain>/ns/<ns>/sa/<sa>`);
 * - an ALLOW rule that uses an HTTP attribute (methods, paths, hosts, request principals, remote IPs,
 *   non-L4 `when` keys) is dropped: it can never match, so the policy allows less (fail closed);
 * - a DENY rule keeps its L4 part and loses the HTTP attributes: it denies more (fail closed);
 * - policies attached with `targetRefs` belong to waypoints, and AUDIT/CUSTOM policies have no ztunnel
 *   meaning: neither reaches a ztunnel.
 * Every loss is reported as a warning naming the field, so `ambit apply` tells the user.
 */
import type {
  AuthorizationCondition,
  AuthorizationOperation,
  AuthorizationPolicySpec,
  AuthorizationSource,
} from '../../core/config/kinds/istio-security.ts';
import type { Resource } from '../../core/config/resource.ts';
import type {
  L4Condition,
  L4ConditionKey,
  L4Policy,
  L4Rule,
  L4Source,
  L4Target,
} from '../../core/model/index.ts';
import { policyScope } from '../../core/policy/scope.ts';

export interface TranslationNote {
  path: string;
  message: string;
}

export interface L4Translation {
  /** Undefined when the policy is not for ztunnels (targetRefs, AUDIT, CUSTOM). */
  policy?: L4Policy | undefined;
  notes: TranslationNote[];
}

const L4_CONDITION_KEYS: readonly L4ConditionKey[] = [
  'source.ip',
  'source.namespace',
  'source.principal',
  'destination.ip',
  'destination.port',
];

/** Source fields a ztunnel does not evaluate: HTTP attributes, and trust domains (not in its policy model). */
const HTTP_SOURCE_FIELDS = [
  'requestPrincipals',
  'notRequestPrincipals',
  'remoteIpBlocks',
  'notRemoteIpBlocks',
  'trustDomains',
  'notTrustDomains',
] as const;
const HTTP_OPERATION_FIELDS = ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths'] as const;

export function toL4Policy(resource: Resource<AuthorizationPolicySpec>, trustDomain: string): L4Translation {
  const { spec, metadata } = resource;
  const namespace = metadata.namespace ?? 'default';
  if (spec.targetRefs.length > 0) return { notes: [] };
  if (spec.action === 'AUDIT' || spec.action === 'CUSTOM') {
    return {
      notes: [
        {
          path: 'spec.action',
          message: `ztunnel does not support action ${spec.action}: this policy is not enforced at L4`,
        },
      ],
    };
  }
  const notes: TranslationNote[] = [];
  const rules: L4Rule[] = [];
  spec.rules.forEach((rule, index) => {
    const http: string[] = [];
    const from = rule.from.map((source) => toL4Source(source, namespace, trustDomain, http));
    const to = rule.to.map((operation) => toL4Target(operation, http));
    const when = rule.when.flatMap((condition) => toL4Condition(condition, http));
    if (http.length === 0) {
      rules.push({ from, to, when });
      return;
    }
    const found = [...new Set(http)].join(', ');
    if (spec.action === 'ALLOW') {
      notes.push({
        path: `spec.rules[${index}]`,
        message: `ztunnel does not enforce HTTP attributes (${found}): this ALLOW rule is dropped and allows nothing at L4 (more restrictive than written); use a waypoint for HTTP rules`,
      });
    } else {
      rules.push({ from, to, when });
      notes.push({
        path: `spec.rules[${index}]`,
        message: `ztunnel does not enforce HTTP attributes (${found}): this DENY rule is enforced without them and denies more than written; use a waypoint for HTTP rules`,
      });
    }
  });
  return {
    policy: {
      name: metadata.name,
      namespace,
      scope: policyScope(namespace, spec.selector),
      selector: spec.selector,
      action: spec.action,
      rules,
    },
    notes,
  };
}

/** `ns/sa` or `sa` (in the policy's namespace) as the principal Istio would give that service account. */
export function serviceAccountPrincipal(
  serviceAccount: string,
  namespace: string,
  trustDomain: string,
): string {
  const [ns, sa] = serviceAccount.includes('/') ? serviceAccount.split('/', 2) : [namespace, serviceAccount];
  return `${trustDomain}/ns/${ns}/sa/${sa}`;
}

function toL4Source(
  source: AuthorizationSource,
  namespace: string,
  trustDomain: string,
  http: string[],
): L4Source {
  for (const field of HTTP_SOURCE_FIELDS) if (source[field].length > 0) http.push(field);
  return {
    principals: [
      ...source.principals,
      ...source.serviceAccounts.map((sa) => serviceAccountPrincipal(sa, namespace, trustDomain)),
    ],
    notPrincipals: [
      ...source.notPrincipals,
      ...source.notServiceAccounts.map((sa) => serviceAccountPrincipal(sa, namespace, trustDomain)),
    ],
    namespaces: source.namespaces,
    notNamespaces: source.notNamespaces,
    ipBlocks: source.ipBlocks,
    notIpBlocks: source.notIpBlocks,
  };
}

function toL4Target(operation: AuthorizationOperation, http: string[]): L4Target {
  for (const field of HTTP_OPERATION_FIELDS) if (operation[field].length > 0) http.push(field);
  return { ports: operation.ports, notPorts: operation.notPorts };
}

function toL4Condition(condition: AuthorizationCondition, http: string[]): L4Condition[] {
  const key = L4_CONDITION_KEYS.find((candidate) => candidate === condition.key);
  if (key === undefined) {
    http.push(`when ${condition.key}`);
    return [];
  }
  return [{ key, values: condition.values, notValues: condition.notValues }];
}
