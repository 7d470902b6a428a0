/**
 * L7 AuthorizationPolicies as they apply to traffic the waypoint proxies as bytes (a `tcp` port, or a
 * `detect` port whose client spoke neither HTTP/1 nor HTTP/2), the way Istio treats HTTP-only fields on TCP:
 * an ALLOW rule that needs any (hosts, methods, paths, request headers) can never match, so it is dropped;
 * a DENY rule has those fields ignored, so it denies more rather than less. Both fail closed.
 */
import type { L7AuthorizationPolicy, L7Operation, L7Rule } from '../../core/l7/types.ts';

export function l4Policies(policies: readonly L7AuthorizationPolicy[]): L7AuthorizationPolicy[] {
  return policies.map((policy) => ({
    ...policy,
    rules:
      policy.action === 'DENY'
        ? policy.rules.map(withoutHttpFields)
        : policy.rules.filter((rule) => !needsHttp(rule)),
  }));
}

function needsHttp(rule: L7Rule): boolean {
  return (
    rule.to.some((operation) => HTTP_FIELDS.some((field) => operation[field].length > 0)) ||
    rule.when.some((condition) => condition.kind === 'string' && condition.key.kind === 'requestHeader')
  );
}

const HTTP_FIELDS = ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths'] as const;

function withoutHttpFields(rule: L7Rule): L7Rule {
  return {
    from: rule.from,
    to: rule.to.map(
      (operation): L7Operation => ({
        ...operation,
        hosts: [],
        notHosts: [],
        methods: [],
        notMethods: [],
        paths: [],
        notPaths: [],
      }),
    ),
    when: rule.when.filter(
      (condition) => !(condition.kind === 'string' && condition.key.kind === 'requestHeader'),
    ),
  };
}
