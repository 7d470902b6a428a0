/**
 * Which workloads a policy (AuthorizationPolicy, PeerAuthentication) covers, by Istio's scoping rules: in
 * the root namespace (`istio-system`) without a selector it applies mesh-wide; elsewhere without a selector
 * to its own namespace; with a selector to the matching workloads of its namespace, and when it lives in the
 * root namespace to the matching workloads of every namespace. The control plane decides the scope once
 * (`policyScope`); the control plane (which policies a node needs) and the ztunnel (which policies apply to
 * a connection) both ask `policyApplies`.
 */
import { ROOT_NAMESPACE } from '../labels.ts';
import type { PolicyScope, Workload } from '../model/index.ts';
import { labelsMatch } from './selector.ts';

export interface ScopedPolicy {
  namespace: string;
  scope: PolicyScope;
  selector?: Record<string, string> | undefined;
}

export function policyScope(namespace: string, selector: Record<string, string> | undefined): PolicyScope {
  if (selector !== undefined) return 'workload';
  return namespace === ROOT_NAMESPACE ? 'mesh' : 'namespace';
}

export function policyApplies(
  policy: ScopedPolicy,
  workload: Pick<Workload, 'namespace' | 'labels'>,
): boolean {
  switch (policy.scope) {
    case 'mesh':
      // `policyScope` never gives a mesh scope a selector; a snapshot that does anyway is held to it.
      return policy.selector === undefined || labelsMatch(policy.selector, workload.labels);
    case 'namespace':
      return policy.namespace === workload.namespace;
    case 'workload':
      return (
        (policy.namespace === workload.namespace || policy.namespace === ROOT_NAMESPACE) &&
        labelsMatch(policy.selector ?? {}, workload.labels)
      );
  }
}
