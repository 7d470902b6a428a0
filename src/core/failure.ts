/**
 * Why a proxied connection or request did not get through, for every proxy (ztunnel at L4, the waypoint and
 * gateways at L7). Each failure maps, here and nowhere else, to the error code a caller sees, the L4
 * `response_flags` of Istio's TCP metrics, and the Envoy-style L7 response flag of HTTP metrics and access
 * logs, so that one cause reads the same in every part.
 */
import type { ErrorCode } from './errors.ts';

/** Istio ztunnel's TCP flags: `-` none, `DENY` refused by policy, `CONNECT` no upstream connection. */
export type L4ResponseFlag = '-' | 'DENY' | 'CONNECT';

/** Envoy's HTTP response flags (the subset a mesh proxy sets); `-` none. */
export type L7ResponseFlag =
  | '-'
  | 'NR'
  | 'UH'
  | 'UF'
  | 'UC'
  | 'UO'
  | 'UT'
  | 'URX'
  | 'DI'
  | 'FI'
  | 'RL'
  | 'DENY';

interface FailureSpec {
  readonly error: ErrorCode;
  readonly l4: L4ResponseFlag;
  readonly l7: L7ResponseFlag;
}

export const FAILURES = {
  /** No route, listener or service matches the destination. */
  NoRoute: { error: 'NOT_FOUND', l4: 'CONNECT', l7: 'NR' },
  /** The destination has no endpoint fit to serve (none, or all ejected or draining). */
  NoHealthyUpstream: { error: 'UNAVAILABLE', l4: 'CONNECT', l7: 'UH' },
  /** TCP connect, TLS handshake or HTTP/2 setup with the upstream failed, or it refused the app port. */
  UpstreamConnectFailure: { error: 'UNAVAILABLE', l4: 'CONNECT', l7: 'UF' },
  /** The upstream answered, but not with success (an unexpected status to a CONNECT). */
  UpstreamRejected: { error: 'UNAVAILABLE', l4: 'CONNECT', l7: 'UF' },
  /** The upstream connection or stream broke before the answer. */
  UpstreamReset: { error: 'UNAVAILABLE', l4: 'CONNECT', l7: 'UC' },
  /** A limit (connections, streams, pending requests) refused the work. */
  Overflow: { error: 'UNAVAILABLE', l4: 'CONNECT', l7: 'UO' },
  /** No answer in time. */
  Timeout: { error: 'TIMEOUT', l4: 'CONNECT', l7: 'UT' },
  /** Every retry the route allows failed. */
  RetryLimitExceeded: { error: 'UNAVAILABLE', l4: 'CONNECT', l7: 'URX' },
  /** Policy refused it (authorization, or mTLS required and absent). */
  Denied: { error: 'DENIED', l4: 'DENY', l7: 'DENY' },
  /** A rate limit refused it. */
  RateLimited: { error: 'UNAVAILABLE', l4: 'CONNECT', l7: 'RL' },
  /** A configured fault aborted it. */
  FaultInjected: { error: 'UNAVAILABLE', l4: 'CONNECT', l7: 'FI' },
  /** A configured fault delayed it (the request may still succeed). */
  DelayInjected: { error: 'TIMEOUT', l4: '-', l7: 'DI' },
} as const satisfies Record<string, FailureSpec>;

export type Failure = keyof typeof FAILURES;

/** The `response_flags` of an L4 connection that ended with `failure` (none: it did not fail). */
export function l4ResponseFlag(failure: Failure | undefined): L4ResponseFlag {
  return failure === undefined ? '-' : FAILURES[failure].l4;
}

/** The response flag of an HTTP request that ended with `failure` (none: it did not fail). */
export function l7ResponseFlag(failure: Failure | undefined): L7ResponseFlag {
  return failure === undefined ? '-' : FAILURES[failure].l7;
}

/** The error code a caller sees for `failure`. */
export function failureErrorCode(failure: Failure): ErrorCode {
  return FAILURES[failure].error;
}
