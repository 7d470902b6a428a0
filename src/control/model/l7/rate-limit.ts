/**
 * Local rate limits for the served services: each `HTTPLocalRateLimitPolicy` whose `targetRef` names a served
 * Service compiles to that service's token bucket settings, client ServiceAccounts turned into the SPIFFE IDs
 * the waypoint sees on its tunnels. Linkerd lets one policy target a Server; when several target one Service
 * here, the first by name applies and each other gets a note.
 */
import type { HTTPLocalRateLimitPolicySpec } from '../../../core/config/kinds/linkerd-policy.ts';
import { spiffeUri } from '../../../core/identity.ts';
import type { LocalRateLimit, ServedService } from '../../../core/l7/types.ts';
import type { NamedConfig } from '../../../core/model/index.ts';
import type { CompileNote } from './notes.ts';

export function serviceRateLimit(
  service: ServedService,
  policies: readonly NamedConfig<HTTPLocalRateLimitPolicySpec>[],
  trustDomain: string,
  notes: CompileNote[],
): LocalRateLimit | undefined {
  const targeting = policies
    .filter((policy) => policy.namespace === service.namespace && policy.spec.targetRef.name === service.name)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const [chosen, ...others] = targeting;
  for (const other of others)
    notes.push({
      kind: 'HTTPLocalRateLimitPolicy',
      namespace: other.namespace,
      name: other.name,
      path: 'spec.targetRef',
      message: `Service ${service.namespace}/${service.name} already has rate limit policy ${chosen!.name}: this one is not applied (one policy per target)`,
    });
  if (chosen === undefined) return undefined;
  const { spec } = chosen;
  return {
    policy: `${chosen.namespace}/${chosen.name}`,
    totalPerSecond: spec.total,
    identityPerSecond: spec.identity,
    overrides: spec.overrides.map((override) => ({
      perSecond: override.requestsPerSecond,
      identities: override.clientRefs.map((ref) =>
        spiffeUri({ trustDomain, namespace: ref.namespace ?? chosen.namespace, serviceAccount: ref.name }),
      ),
    })),
  };
}
