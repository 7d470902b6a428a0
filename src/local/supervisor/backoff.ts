/**
 * Restart backoff for crashed processes, like Kubernetes' CrashLoopBackOff but on a local scale: the delay
 * doubles with each consecutive crash up to a ceiling, and a process that ran long enough is forgiven.
 */
export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  /** A run at least this long resets the count of consecutive crashes. */
  resetAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 250, maxMs: 10_000, resetAfterMs: 10_000 };

/** Delay before restart number `consecutiveCrashes` (1 for the first crash in a row). */
export function restartDelay(consecutiveCrashes: number, policy: BackoffPolicy = DEFAULT_BACKOFF): number {
  if (consecutiveCrashes < 1) return 0;
  return Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(consecutiveCrashes - 1, 30));
}

/** Consecutive crashes after a run of `ranMs` ended: a long run starts the count afresh. */
export function nextCrashCount(
  previous: number,
  ranMs: number,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
): number {
  return ranMs >= policy.resetAfterMs ? 1 : previous + 1;
}
