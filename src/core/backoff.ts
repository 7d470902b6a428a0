/**
 * Exponential backoff with jitter, as a pure function (the caller owns the timer). Used by the discovery
 * client's reconnects and the certificate manager's retries.
 */
export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  /** Growth per attempt (default 2). */
  multiplier?: number;
  /** Fraction of the delay randomised either way (default 0.2), so that many clients do not retry in step. */
  jitter?: number;
}

/** The delay before retry number `attempt` (0 = the first retry). */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const base = Math.min(policy.maxMs, policy.initialMs * (policy.multiplier ?? 2) ** Math.max(0, attempt));
  const jitter = policy.jitter ?? 0.2;
  return Math.max(0, Math.round(base * (1 - jitter + 2 * jitter * random())));
}
