/**
 * Envoy's retry decisions as pure functions: whether an attempt's outcome is retriable under a route's
 * `retryOn`, and the jittered backoff before the next attempt. The attempt loop (`attempts.ts`) owns the
 * counting and the I/O.
 */
import type { RetryPolicy } from '../../core/l7/types.ts';

/**
 * How one attempt ended: a response (its status and, for gRPC, the `grpc-status` of a trailers-only
 * answer), or no response: `UF` no connection, `UC` the connection broke, `UR` the stream was reset,
 * `UT` the per-try timeout fired, `UO` a bound refused the connection before it was tried.
 */
export type AttemptOutcome =
  | { kind: 'response'; status: number; grpcStatus?: number | undefined }
  | { kind: 'failure'; flag: 'UF' | 'UC' | 'UR' | 'UT' | 'UO' };

/** The gRPC `retryOn` conditions and the status code each retries on. */
const GRPC_CONDITIONS: Record<string, number> = {
  cancelled: 1,
  'deadline-exceeded': 4,
  'resource-exhausted': 8,
  internal: 13,
  unavailable: 14,
};

/** Does one `retryOn` condition hold for `outcome`? (Envoy's `x-envoy-retry-on` and `-grpc-on` semantics.) */
function conditionHolds(condition: string, outcome: AttemptOutcome, codes: readonly number[]): boolean {
  if (outcome.kind === 'failure') {
    // A bound's refusal is the waypoint's own answer, as Envoy's overflow replies are: never retried.
    if (outcome.flag === 'UO') return false;
    switch (condition) {
      // `5xx` and `gateway-error` include "no answer at all"; a per-try timeout answers 504 locally.
      case '5xx':
      case 'gateway-error':
        return true;
      case 'reset':
        return outcome.flag === 'UC' || outcome.flag === 'UR' || outcome.flag === 'UT';
      case 'connect-failure':
        return outcome.flag === 'UF';
      case 'refused-stream':
        return outcome.flag === 'UR';
      default:
        return false;
    }
  }
  const { status, grpcStatus } = outcome;
  switch (condition) {
    case '5xx':
      return status >= 500 && status <= 599;
    case 'gateway-error':
      return status === 502 || status === 503 || status === 504;
    case 'retriable-4xx':
      return status === 409;
    case 'retriable-status-codes':
      return codes.includes(status);
    default: {
      const grpcCode = GRPC_CONDITIONS[condition];
      if (grpcCode !== undefined) return grpcStatus === grpcCode;
      // A bare numeric code in `retryOn` (Istio accepts `503` there) retries that status.
      return /^\d{3}$/.test(condition) && Number(condition) === status;
    }
  }
}

/** Whether `outcome` is one the policy retries (ignoring how many attempts are left). */
export function isRetriable(policy: RetryPolicy, outcome: AttemptOutcome): boolean {
  for (const condition of policy.retryOn) {
    if (conditionHolds(condition, outcome, policy.retriableStatusCodes)) return true;
  }
  return false;
}

/**
 * Envoy's backoff before retry number `retry` (1 for the first retry): full jitter over
 * [0, (2^retry - 1) x base), the upper end capped at 10 x base. `random` in [0, 1).
 */
export function backoffMs(baseMs: number, retry: number, random: number): number {
  const ceiling = Math.min((2 ** retry - 1) * baseMs, 10 * baseMs);
  return Math.floor(random * ceiling);
}

/** Envoy's default: a retry tries up to this many picks for a host it has not tried (`previous_hosts`). */
export const HOST_RESELECT_ATTEMPTS = 5;

/** Bytes of request body buffered for replay; a longer body is streamed once and never retried (Envoy). */
export const RETRY_BODY_LIMIT = 64 * 1024;
