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
  return resolveMtls(policies, workload, port).mode;
}

/** The effective mode, with which policies applied at each level and which one set the mode. */
export interface MtlsResolution {
  mode: EffectiveMtlsMode;
  /** The policy whose mode (or port-level mode) is in force; undefined: nothing set, PERMISSIVE. */
  decidedBy: PeerAuthPolicy | undefined;
  /** The policies that apply to the workload: mesh, namespace and workload level, the set ones only. */
  applying: PeerAuthPolicy[];
}

export function resolveMtls(
  policies: readonly PeerAuthPolicy[],
  workload: Workload,
  port: number,
): MtlsResolution {
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
  let decidedBy: PeerAuthPolicy | undefined;
  const applying: PeerAuthPolicy[] = [];
  for (const policy of [mesh, namespace, selected]) {
    if (!policy) continue;
    applying.push(policy);
    if (policy.mode !== 'UNSET') {
      mode = policy.mode;
      decidedBy = policy;
    }
  }
  const portMode = selected?.portLevelMtls[port];
  if (portMode !== undefined && portMode !== 'UNSET') {
    mode = portMode;
    decidedBy = selected;
  }
  return { mode, decidedBy, applying };
}

function first(current: PeerAuthPolicy | undefined, candidate: PeerAuthPolicy): PeerAuthPolicy {
  return current === undefined || candidate.name < current.name ? candidate : current;
}
