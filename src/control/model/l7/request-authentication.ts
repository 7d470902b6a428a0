/**
 * RequestAuthentication -> the JWT rules of each served service. A policy concerns a served service when a
 * `targetRefs` entry names the waypoint's Gateway (same namespace), the `istio-waypoint` GatewayClass (policy
 * in the root namespace; waypoints only) or the Service itself (same namespace), as Istio's ambient mode
 * attaches them; for a gateway deployment, the caller picks the policies by `selector`. Rules
 * are kept in policy name order; an issuer that two attached policies both name keeps the first's rule.
 */
import type { RequestAuthenticationSpec } from '../../../core/config/kinds/request-authentication.ts';
import type { JwtRule, ServedService } from '../../../core/l7/types.ts';
import { ROOT_NAMESPACE, WAYPOINT_GATEWAY_CLASS } from '../../../core/labels.ts';
import type { NamedConfig, WaypointRef } from '../../../core/model/index.ts';
import type { PolicySubscriber } from './authorization.ts';
import type { CompileNote } from './notes.ts';

const GATEWAY_GROUP = 'gateway.networking.k8s.io';

export function jwtPolicyAttaches(
  policy: NamedConfig<RequestAuthenticationSpec>,
  service: ServedService,
  waypoint: WaypointRef,
  subscriber: PolicySubscriber,
): boolean {
  if (subscriber === 'selected') return true;
  return policy.spec.targetRefs.some((ref) => {
    if (ref.kind === 'Gateway' && ref.group === GATEWAY_GROUP)
      return ref.name === waypoint.name && policy.namespace === waypoint.namespace;
    if (ref.kind === 'GatewayClass' && ref.group === GATEWAY_GROUP)
      return (
        subscriber === 'waypoint' &&
        ref.name === WAYPOINT_GATEWAY_CLASS &&
        policy.namespace === ROOT_NAMESPACE
      );
    return ref.kind === 'Service' && ref.name === service.name && policy.namespace === service.namespace;
  });
}

export function serviceJwtRules(
  service: ServedService,
  policies: readonly NamedConfig<RequestAuthenticationSpec>[],
  waypoint: WaypointRef,
  notes: CompileNote[],
  subscriber: PolicySubscriber = 'waypoint',
): JwtRule[] {
  const attached = policies
    .filter((policy) => jwtPolicyAttaches(policy, service, waypoint, subscriber))
    .sort((a, b) => {
      const ka = `${a.namespace}/${a.name}`;
      const kb = `${b.namespace}/${b.name}`;
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
  const rules: JwtRule[] = [];
  for (const policy of attached) {
    policy.spec.jwtRules.forEach((rule, i) => {
      if (rules.some((kept) => kept.issuer === rule.issuer)) {
        notes.push({
          kind: 'RequestAuthentication',
          namespace: policy.namespace,
          name: policy.name,
          path: `spec.jwtRules[${i}].issuer`,
          message: `another RequestAuthentication for ${service.hostname} already has a rule for issuer ${rule.issuer}: this one is not applied`,
        });
        return;
      }
      rules.push(rule);
    });
  }
  return rules;
}
