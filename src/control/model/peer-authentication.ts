/**
 * PeerAuthentication -> PeerAuthPolicy. Istio applies at most one policy per scope (the oldest); Ambit has
 * no creation times, so the first by name wins, deterministically, and the others are reported. Policies with
 * a selector in the root namespace are ignored, as Istio's ambient mode does.
 */
import type { PeerAuthenticationSpec } from '../../core/config/kinds/istio-security.ts';
import type { Resource } from '../../core/config/resource.ts';
import { ROOT_NAMESPACE } from '../../core/labels.ts';
import type { PeerAuthPolicy } from '../../core/model/index.ts';
import { policyScope } from '../../core/policy/scope.ts';
import type { TranslationNote } from './authorization.ts';

export interface PeerAuthTranslation {
  policies: PeerAuthPolicy[];
  /** Notes keyed by the resource they concern (`namespace/name`). */
  notes: Map<string, TranslationNote[]>;
}

export function toPeerAuthPolicies(
  resources: readonly Resource<PeerAuthenticationSpec>[],
): PeerAuthTranslation {
  const notes = new Map<string, TranslationNote[]>();
  const note = (resource: Resource, message: string) => {
    const key = `${resource.metadata.namespace}/${resource.metadata.name}`;
    notes.set(key, [...(notes.get(key) ?? []), { path: '', message }]);
  };
  const sorted = [...resources].sort((a, b) =>
    `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`),
  );
  const winners = new Map<string, Resource<PeerAuthenticationSpec>>();
  const policies: PeerAuthPolicy[] = [];
  for (const resource of sorted) {
    const namespace = resource.metadata.namespace ?? 'default';
    const { selector } = resource.spec;
    const hasSelector = selector !== undefined && Object.keys(selector).length > 0;
    if (hasSelector && namespace === ROOT_NAMESPACE) {
      note(
        resource,
        `a PeerAuthentication with a selector in the root namespace ${ROOT_NAMESPACE} is ignored in ambient mode`,
      );
      continue;
    }
    // Workload policies with different selectors coexist; mesh and namespace policies are one per scope.
    const scopeKey = hasSelector ? `${namespace}/${JSON.stringify(selector)}` : namespace;
    const winner = winners.get(scopeKey);
    if (winner) {
      note(
        resource,
        `PeerAuthentication ${winner.metadata.namespace}/${winner.metadata.name} already covers this scope; only one applies (the first by name)`,
      );
      continue;
    }
    winners.set(scopeKey, resource);
    policies.push({
      name: resource.metadata.name,
      namespace,
      scope: policyScope(namespace, hasSelector ? selector : undefined),
      selector: hasSelector ? selector : undefined,
      mode: resource.spec.mode,
      portLevelMtls: resource.spec.portLevelMtls,
    });
  }
  return { policies, notes };
}
