/**
 * The upstream stage as an attempt loop (Envoy's router with its retry state): each attempt takes a
 * circuit-breaker slot, picks an endpoint (a retry prefers one not tried yet), sends with the per-try
 * timeout, and reports its result to outlier detection; a retriable outcome with attempts and retry budget
 * left waits the jittered backoff and goes again. The loop stops when the request's deadline (route timeout,
 * or the client leaving) aborts it. Every decision is a pure function from the sibling modules.
 */
import type { Clock } from '../../core/clock.ts';
import type { ClusterEndpoint, RetryPolicy } from '../../core/l7/types.ts';
import type { Workload } from '../../core/model/index.ts';
import { type EndpointLoad, endpointKey } from '../balance/balancer.ts';
import type { HeaderMap } from '../pipeline/headers.ts';
import { NO_HEALTHY_UPSTREAM } from '../pipeline/plan.ts';
import type { ConnectionSettings } from '../upstream/connection-settings.ts';
import { type UpstreamClient, UpstreamFailure, type UpstreamResponse } from '../upstream/exchange.ts';
import type { TunnelTarget } from '../upstream/tunnels.ts';
import { attemptBody, type RequestBody, replayable } from './body.ts';
import type { ClusterLimits, Limits, Release } from './limits.ts';
import type { OutlierConfig, OutlierTracker } from './outlier.ts';
import { type AttemptOutcome, backoffMs, HOST_RESELECT_ATTEMPTS, isRetriable } from './retry.ts';

export interface Destination {
  endpoint: ClusterEndpoint;
  workload: Workload;
}

export interface AttemptPlan {
  client: UpstreamClient;
  method: string;
  path: string;
  authority: string;
  /** Sent with each attempt (the plan set `x-envoy-attempt-count: 1`; a retry's copy has its number). */
  headers: HeaderMap;
  body: RequestBody;
  first: Destination;
  /** Another pick from the cluster's balancer (undefined: none serving). */
  pick: () => Destination | undefined;
  target: (destination: Destination) => TunnelTarget;
  /** Retries already disabled (attempts 0) where faults apply. */
  retry: RetryPolicy;
  cluster: string;
  /** The cluster's serving endpoint count, which outlier detection's ejection share is taken of. */
  clusterSize: number;
  limits: Limits;
  /** The cluster's connection settings (connect timeout, requests per connection, idle timeout). */
  connection: ConnectionSettings;
  outlier: OutlierConfig | undefined;
  /** The whole request's deadline: aborted on the route timeout or when the client goes away. */
  deadline: AbortSignal;
}

export interface AttemptServices {
  clusterLimits: ClusterLimits;
  outliers: OutlierTracker;
  load: EndpointLoad;
  clock: Clock;
  random: () => number;
}

export type AttemptsResult =
  | {
      kind: 'response';
      response: UpstreamResponse;
      destination: Destination;
      /** `URX` when this is the last of the retries a retriable answer used up; else `-`. */
      flags: string;
      /** Frees the endpoint's load count and the circuit-breaker slot; call when the response is done. */
      release: Release;
    }
  | {
      kind: 'local';
      status: number;
      text: string;
      flags: string;
      destination: Destination | undefined;
    };

export const UPSTREAM_FAILED = 'upstream connect error or disconnect/reset before headers';
export const UPSTREAM_TIMEOUT = 'upstream request timeout';
export const OVERFLOW = 'upstream connect error or disconnect/reset before headers. reset reason: overflow';

/** Resolves after `ms` unless `signal` aborts first (then false). */
export function sleep(clock: Clock, ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = clock.setTimeout(() => {
      signal.removeEventListener('abort', stop);
      resolve(true);
    }, ms);
    const stop = () => {
      clock.clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', stop, { once: true });
  });
}

interface SentAttempt {
  outcome: AttemptOutcome;
  response: UpstreamResponse | undefined;
}

/**
 * One attempt: send, bounded by the per-try timeout and the deadline (both cancel the upstream request).
 * Without a per-try timeout the deadline itself is the request's signal.
 */
async function sendOnce(
  plan: AttemptPlan,
  services: AttemptServices,
  destination: Destination,
  attempt: number,
): Promise<SentAttempt> {
  const perTry = plan.retry.perTryTimeoutMs;
  let timedOut = false;
  let signal = plan.deadline;
  let timer: ReturnType<Clock['setTimeout']> | undefined;
  if (perTry !== undefined) {
    const cancel = new AbortController();
    timer = services.clock.setTimeout(() => {
      timedOut = true;
      cancel.abort();
    }, perTry);
    signal = AbortSignal.any([cancel.signal, plan.deadline]);
  }
  try {
    const response = await plan.client.send({
      target: plan.target(destination),
      method: plan.method,
      path: plan.path,
      authority: plan.authority,
      headers: attempt === 1 ? plan.headers : { ...plan.headers, 'x-envoy-attempt-count': String(attempt) },
      body: attemptBody(plan.body),
      signal,
      connection: plan.connection,
    });
    const grpc = response.headers['grpc-status'];
    const grpcStatus = typeof grpc === 'string' ? Number(grpc) : undefined;
    return { outcome: { kind: 'response', status: response.status, grpcStatus }, response };
  } catch (error) {
    if (timedOut) return { outcome: { kind: 'failure', flag: 'UT' }, response: undefined };
    const flag = error instanceof UpstreamFailure ? error.flag : 'UC';
    return { outcome: { kind: 'failure', flag }, response: undefined };
  } finally {
    if (timer !== undefined) services.clock.clearTimeout(timer);
  }
}

/** The local reply for an attempt that got no response. */
function failureReply(
  outcome: AttemptOutcome & { kind: 'failure' },
  destination: Destination | undefined,
  exhausted: boolean,
): AttemptsResult {
  const timeout = outcome.flag === 'UT';
  return {
    kind: 'local',
    status: timeout ? 504 : 503,
    text: timeout ? UPSTREAM_TIMEOUT : outcome.flag === 'UO' ? OVERFLOW : UPSTREAM_FAILED,
    flags: exhausted ? `${outcome.flag},URX` : outcome.flag,
    destination,
  };
}

/** Drops an answer nobody will read; its stream's errors (undici reports a destroy as one) are expected. */
function discard(response: UpstreamResponse, how: 'drain' | 'destroy'): void {
  response.body.on('error', () => undefined);
  if (how === 'drain') response.body.resume();
  else response.body.destroy();
}

/**
 * A retry's endpoint (Envoy's `previous_hosts` predicate): up to `HOST_RESELECT_ATTEMPTS` picks for one not
 * in `tried`; when every pick was tried already, the last pick.
 */
export function pickRetry<T extends { endpoint: ClusterEndpoint }>(
  pick: () => T | undefined,
  tried: ReadonlySet<string>,
): T | undefined {
  let picked: T | undefined;
  for (let round = 0; round < HOST_RESELECT_ATTEMPTS; round++) {
    picked = pick();
    if (picked === undefined || !tried.has(endpointKey(picked.endpoint))) return picked;
  }
  return picked;
}

export async function runAttempts(plan: AttemptPlan, services: AttemptServices): Promise<AttemptsResult> {
  const tried = new Set<string>();
  let destination: Destination | undefined = plan.first;
  let releaseRetry: Release | undefined;
  try {
    for (let attempt = 1; ; attempt++) {
      if (destination === undefined)
        return { kind: 'local', status: 503, text: NO_HEALTHY_UPSTREAM, flags: 'UH', destination };
      const slot = await services.clusterLimits.acquire(plan.cluster, plan.limits, plan.deadline);
      if (plan.deadline.aborted) {
        slot?.();
        return { kind: 'local', status: 504, text: UPSTREAM_TIMEOUT, flags: 'UT', destination };
      }
      if (slot === undefined) return { kind: 'local', status: 503, text: OVERFLOW, flags: 'UO', destination };
      const key = endpointKey(destination.endpoint);
      tried.add(key);
      const loadDone = services.load.begin(key);
      const sent = await sendOnce(plan, services, destination, attempt);
      const { outcome, response } = sent;
      if (plan.outlier !== undefined) {
        const result =
          outcome.kind === 'response'
            ? { kind: 'status' as const, status: outcome.status }
            : { kind: 'localFailure' as const };
        services.outliers.record(plan.cluster, key, plan.clusterSize, result, plan.outlier);
      }
      const release = () => {
        loadDone();
        slot();
      };
      if (plan.deadline.aborted) {
        if (response !== undefined) discard(response, 'destroy');
        release();
        return { kind: 'local', status: 504, text: UPSTREAM_TIMEOUT, flags: 'UT', destination };
      }
      const retriable = isRetriable(plan.retry, outcome);
      const canRetry = retriable && attempt <= plan.retry.attempts && replayable(plan.body);
      if (!canRetry) {
        const exhausted = retriable && attempt > 1;
        if (response !== undefined)
          return { kind: 'response', response, destination, flags: exhausted ? 'URX' : '-', release };
        release();
        return failureReply(outcome as AttemptOutcome & { kind: 'failure' }, destination, exhausted);
      }
      releaseRetry?.();
      releaseRetry = services.clusterLimits.beginRetry(plan.cluster, plan.limits);
      if (releaseRetry === undefined) {
        // The cluster's retry budget (`maxRetries`) is spent: this answer is the request's.
        if (response !== undefined) return { kind: 'response', response, destination, flags: '-', release };
        release();
        return failureReply(outcome as AttemptOutcome & { kind: 'failure' }, destination, false);
      }
      // Discard this answer (read to its end, so that its connection is reused), wait, and go again.
      if (response !== undefined) discard(response, 'drain');
      release();
      const waited = await sleep(
        services.clock,
        backoffMs(plan.retry.backoffBaseMs, attempt, services.random()),
        plan.deadline,
      );
      if (!waited) return { kind: 'local', status: 504, text: UPSTREAM_TIMEOUT, flags: 'UT', destination };
      destination = pickRetry(plan.pick, tried);
    }
  } finally {
    releaseRetry?.();
  }
}
