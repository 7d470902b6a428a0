/**
 * A Deployment's rolling update, one step at a time, as Kubernetes' deployment controller does it: given the
 * desired replicas, the strategy and the pods of the current template ("new") and of older templates
 * ("old"), which pods to add and which to remove now. Pure: the caller acts on the step, then asks again
 * when a pod became ready or went away, until the step is empty.
 *
 * - At most `replicas + maxSurge` pods exist; at least `replicas - maxUnavailable` are ready (new or old)
 *   whenever an old ready pod is removed: new pods must be ready before old ones go.
 * - Old pods that are not ready serve nothing and go at once; so do new pods beyond the replicas (scale
 *   down), not-ready ones first.
 * - `maxSurge` rounds up and `maxUnavailable` down (percentages of the replicas); both zero means an
 *   unavailable budget of one, as Kubernetes does, so that a rollout can always progress.
 */

/** A number of pods or a percentage of the replicas (`25%`), as in `spec.strategy.rollingUpdate`. */
export type IntOrPercent = number | string;

export interface RolloutStrategy {
  maxSurge: IntOrPercent;
  maxUnavailable: IntOrPercent;
}

/** Kubernetes' defaults for a Deployment's RollingUpdate strategy. */
export const DEFAULT_ROLLOUT_STRATEGY: RolloutStrategy = { maxSurge: '25%', maxUnavailable: '25%' };

export interface RolloutPod {
  uid: string;
  ready: boolean;
}

export interface RolloutState {
  replicas: number;
  strategy: RolloutStrategy;
  /** Pods of the current template, the ones to keep first (the caller's order: planned names first). */
  current: readonly RolloutPod[];
  /** Pods of any older template. */
  old: readonly RolloutPod[];
}

export interface RolloutStep {
  /** How many pods of the current template to add. */
  create: number;
  /** Pods to remove, by uid. */
  remove: string[];
}

/** The absolute value of `value` for `replicas` pods; percentages round up or down; undefined if malformed. */
export function resolveIntOrPercent(
  value: IntOrPercent,
  replicas: number,
  round: 'up' | 'down',
): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : undefined;
  const match = /^(\d+)%$/.exec(value);
  if (!match) return undefined;
  const exact = (Number(match[1]) * replicas) / 100;
  return round === 'up' ? Math.ceil(exact) : Math.floor(exact);
}

/** The surge and unavailability budgets in pods (a malformed value counts as the default). */
export function rolloutBudgets(
  strategy: RolloutStrategy,
  replicas: number,
): { maxSurge: number; maxUnavailable: number } {
  const maxSurge =
    resolveIntOrPercent(strategy.maxSurge, replicas, 'up') ??
    resolveIntOrPercent(DEFAULT_ROLLOUT_STRATEGY.maxSurge, replicas, 'up')!;
  const maxUnavailable =
    resolveIntOrPercent(strategy.maxUnavailable, replicas, 'down') ??
    resolveIntOrPercent(DEFAULT_ROLLOUT_STRATEGY.maxUnavailable, replicas, 'down')!;
  return { maxSurge, maxUnavailable: maxSurge === 0 && maxUnavailable === 0 ? 1 : maxUnavailable };
}

/** Not-ready pods first, each group in the caller's order. */
function notReadyFirst(pods: readonly RolloutPod[]): RolloutPod[] {
  return [...pods.filter((pod) => !pod.ready), ...pods.filter((pod) => pod.ready)];
}

export function planRolloutStep(state: RolloutState): RolloutStep {
  const { replicas, current, old } = state;
  const { maxSurge, maxUnavailable } = rolloutBudgets(state.strategy, replicas);
  const remove: string[] = [];

  // Scale down: the last of the current pods beyond the replicas, those not ready first.
  const excess = Math.max(0, current.length - replicas);
  const keptCurrent = [...current];
  for (const pod of notReadyFirst([...current].reverse()).slice(0, excess)) {
    remove.push(pod.uid);
    keptCurrent.splice(keptCurrent.indexOf(pod), 1);
  }

  // Old pods that are not ready hold no traffic: they go whatever the budget.
  const readyOld = old.filter((pod) => pod.ready);
  for (const pod of old) if (!pod.ready) remove.push(pod.uid);

  // Scale up within the surge, counting every pod still there before this step's removals of ready ones.
  const total = keptCurrent.length + readyOld.length;
  const create = Math.max(0, Math.min(replicas - keptCurrent.length, replicas + maxSurge - total));

  // Old ready pods go only as far as the ready pods left stay at or above the minimum available.
  const ready = keptCurrent.filter((pod) => pod.ready).length + readyOld.length;
  const removable = Math.max(0, ready - Math.max(0, replicas - maxUnavailable));
  for (const pod of readyOld.slice(0, removable)) remove.push(pod.uid);

  return { create, remove };
}

/** Whether a rollout is complete: exactly the replicas, all of the current template and ready. */
export function rolloutComplete(state: Pick<RolloutState, 'replicas' | 'current' | 'old'>): boolean {
  return (
    state.old.length === 0 &&
    state.current.length === state.replicas &&
    state.current.every((pod) => pod.ready)
  );
}
