/**
 * Label selectors as Kubernetes and Istio evaluate them: plain `matchLabels` maps (Istio's `selector`,
 * Service selectors) and full LabelSelectors with expressions (Deployments). One implementation for the
 * control plane, the data plane and the local cluster.
 */
import type { LabelSelector } from '../config/kinds/common.ts';

/** Whether `labels` satisfy a LabelSelector: every matchLabel and every expression must hold. */
export function selectorMatches(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  if (!labelsMatch(selector.matchLabels, labels)) return false;
  return selector.matchExpressions.every((requirement) => {
    const value = labels[requirement.key];
    switch (requirement.operator) {
      case 'In':
        return value !== undefined && requirement.values.includes(value);
      case 'NotIn':
        return value === undefined || !requirement.values.includes(value);
      case 'Exists':
        return value !== undefined;
      default:
        return value === undefined; // DoesNotExist
    }
  });
}

/** Whether every label of `selector` is on `labels` (Istio's matchLabels and Service selectors). */
export function labelsMatch(
  selector: Readonly<Record<string, string>>,
  labels: Readonly<Record<string, string>>,
): boolean {
  for (const key in selector) if (labels[key] !== selector[key]) return false;
  return true;
}
