/**
 * ReferenceGrant: a reference into another namespace (a route's backendRef, a Gateway listener's
 * certificateRef) holds only when a ReferenceGrant in the target's namespace allows references from the
 * referring kind in the referring namespace to that kind (and, when it names one, that object). Pure.
 */
import type { ReferenceGrantSpec } from '../../../core/config/kinds/gateway-l4.ts';
import type { NamedConfig } from '../../../core/model/index.ts';

export interface ReferenceFrom {
  group: string;
  kind: string;
  namespace: string;
}

export interface ReferenceTo {
  group: string;
  kind: string;
  namespace: string;
  name: string;
}

export function referenceGranted(
  grants: readonly NamedConfig<ReferenceGrantSpec>[],
  from: ReferenceFrom,
  to: ReferenceTo,
): boolean {
  if (from.namespace === to.namespace) return true;
  return grants.some(
    (grant) =>
      grant.namespace === to.namespace &&
      grant.spec.from.some(
        (entry) =>
          entry.group === from.group && entry.kind === from.kind && entry.namespace === from.namespace,
      ) &&
      grant.spec.to.some(
        (entry) =>
          entry.group === to.group &&
          entry.kind === to.kind &&
          (entry.name === undefined || entry.name === to.name),
      ),
  );
}
