/**
 * Which policies select which workload, with Istio's scoping: a policy in the root namespace without a
 * selector applies mesh-wide, one without a selector applies to its namespace, and one with a selector
 * applies to the matching workloads of its namespace (of every namespace when it lives in the root one).
 */
import { ROOT_NAMESPACE } from '../../core/labels.ts';
import type { PolicyScope, Workload } from '../../core/model/index.ts';

export interface ScopedPolicy {
  namespace: string;
  scope: PolicyScope;
  selector?: Record<string, string> | undefined;
}

/** Every label of the selector is on the workload with the same value; an empty selector matches all. */
export function selectorMatches(
  selector: Readonly<Record<string, string>>,
  labels: Readonly<Record<string, string>>,
) {
  for (const key in selector) if (labels[key] !== selector[key]) return false;
  return true;
}

export function policyApplies(policy: ScopedPolicy, workload: Workload): boolean {
  switch (policy.scope) {
    case 'mesh':
      return policy.selector === undefined || selectorMatches(policy.selector, workload.labels);
    case 'namespace':
      return policy.namespace === workload.namespace;
    case 'workload':
      return (
        (policy.namespace === workload.namespace || policy.namespace === ROOT_NAMESPACE) &&
        selectorMatches(policy.selector ?? {}, workload.labels)
      );
  }
}
