/**
 * The effective mTLS mode of a workload's port under PeerAuthentication, as Istio resolves it: the workload
 * policy (selector) overrides the namespace policy, which overrides the mesh policy (root namespace);
 * `UNSET` inherits from the level above; port-level modes count only on a workload policy. Nothing set
 * means PERMISSIVE. Where several policies compete at one level, the first by name wins (deterministic).
 */
import { ROOT_NAMESPACE } from '../../core/labels.ts';
import type { MtlsMode, PeerAuthPolicy, Workload } from '../../core/model/index.ts';
import { labelsMatch } from '../../core/policy/selector.ts';

export type EffectiveMtlsMode = Exclude<MtlsMode, 'UNSET'>;

export function resolveMtlsMode(
  policies: readonly PeerAuthPolicy[],
  workload: Workload,
  port: number,
): EffectiveMtlsMode {
  let mesh: PeerAuthPolicy | undefined;
  let namespace: PeerAuthPolicy | undefined;
  let selected: PeerAuthPolicy | undefined;
  for (const policy of policies) {
    if (policy.selector === undefined) {
      if (policy.namespace === workload.namespace && policy.scope !== 'mesh') {
        namespace = first(namespace, policy);
      } else if (policy.scope === 'mesh' || policy.namespace === ROOT_NAMESPACE) {
        mesh = first(mesh, policy);
      }
    } else if (policy.namespace === workload.namespace && labelsMatch(policy.selector, workload.labels)) {
      selected = first(selected, policy);
    }
  }
  let mode: EffectiveMtlsMode = 'PERMISSIVE';
  for (const policy of [mesh, namespace, selected]) {
    if (policy && policy.mode !== 'UNSET') mode = policy.mode;
  }
  const portMode = selected?.portLevelMtls[port];
  if (portMode !== undefined && portMode !== 'UNSET') mode = portMode;
  return mode;
}

function first(current: PeerAuthPolicy | undefined, candidate: PeerAuthPolicy): PeerAuthPolicy {
  return current === undefined || candidate.name < current.name ? candidate : current;
}
