/**
 * The resilience stages between load balancing and the response filters, in Envoy's order: fault
 * injection (delay, then abort), then the request's deadline (route `timeout` or `grpc-timeout`) over the
 * attempt loop (retries, per-try timeouts, circuit breaking, outlier detection). A route with a fault has
 * no retries and no timeout, as Istio documents ("timeouts or retries will not be enabled when faults are
 * enabled").
 */
import type { Readable } from 'node:stream';
import type { Clock } from '../../core/clock.ts';
import type { Cluster, Route } from '../../core/l7/types.ts';
import type { EndpointLoad } from '../balance/balancer.ts';
import type { ForwardPlan } from '../pipeline/plan.ts';
import type { WaypointState } from '../state.ts';
import { connectionSettings } from '../upstream/connection-settings.ts';
import type { UpstreamClient } from '../upstream/exchange.ts';
import type { TunnelTarget } from '../upstream/tunnels.ts';
import { type AttemptsResult, type Destination, runAttempts, sleep } from './attempts.ts';
import { type RequestBody, readForReplay } from './body.ts';
import { decideFault, faultFlags } from './fault.ts';
import { type ClusterLimits, limitsOf } from './limits.ts';
import { chooseMirrors, type RequestMirrors } from './mirror.ts';
import { outlierConfig } from './outlier.ts';
import { RETRY_BODY_LIMIT } from './retry.ts';
import { requestTimeoutMs } from './timeout.ts';

export interface ResilienceServices {
  clusterLimits: ClusterLimits;
  load: EndpointLoad;
  clock: Clock;
  random: () => number;
  mirrors: RequestMirrors;
}

export interface StageInput {
  plan: ForwardPlan;
  state: WaypointState;
  client: UpstreamClient;
  wire: 'http1' | 'http2';
  method: string;
  grpc: boolean;
  grpcTimeout: string | undefined;
  /** The downstream body (undefined: none), read here for replay when the route may retry. */
  body: Readable | undefined;
  target: (destination: Destination) => TunnelTarget;
  /** The upstream client for a cluster's wire (mirror clusters may speak another than the primary). */
  clientFor: (cluster: Cluster) => UpstreamClient;
  /** Aborted when the downstream response closes (the client left, or the response is done). */
  downstreamClosed: AbortSignal;
}

export type StageResult =
  /** `timeout` aborts when the request's deadline passes; undefined when the request has none. */
  | (AttemptsResult & { faultFlags: string | undefined; timeout: AbortSignal | undefined })
  | { kind: 'abort'; httpStatus: number; grpcStatus: number | undefined; faultFlags: string };

/** The route's retry policy as it applies: none when a fault is configured. */
function effectiveRetry(route: Route): Route['retry'] {
  return route.fault === undefined ? route.retry : { ...route.retry, attempts: 0 };
}

export async function resilientForward(
  input: StageInput,
  services: ResilienceServices,
): Promise<StageResult> {
  const { plan, state } = input;
  const route = plan.route;
  const fault = decideFault(route.fault, services.random(), services.random());
  const flags = faultFlags(fault);
  if (fault.delayMs > 0) await sleep(services.clock, fault.delayMs, input.downstreamClosed);
  if (fault.abort !== undefined)
    return {
      kind: 'abort',
      httpStatus: fault.abort.httpStatus,
      grpcStatus: fault.abort.grpcStatus,
      faultFlags: flags!,
    };

  const timeoutMs = requestTimeoutMs(
    route.timeoutMs,
    input.grpcTimeout,
    input.grpc,
    route.fault !== undefined,
  );
  // Made only for a request with a deadline: most have none, and an AbortController costs every request.
  let timeout: AbortController | undefined;
  if (timeoutMs !== undefined) {
    const controller = new AbortController();
    timeout = controller;
    const timer = services.clock.setTimeout(() => controller.abort(), timeoutMs);
    input.downstreamClosed.addEventListener('abort', () => services.clock.clearTimeout(timer), {
      once: true,
    });
  }
  const retry = effectiveRetry(route);
  // A mirrored request's body is buffered like a retried one's: each copy needs the bytes again.
  const mirrors = chooseMirrors(route.mirrors, services.random);
  const body = await requestBody(input, retry.attempts > 0 || mirrors.length > 0);
  const cluster = plan.cluster;
  if (mirrors.length > 0)
    services.mirrors.copy(mirrors, {
      method: input.method,
      path: plan.path,
      authority: plan.authority,
      headers: plan.headers,
      body,
      timeoutMs,
      clientFor: input.clientFor,
      target: input.target,
      state,
    });
  const result = await runAttempts(
    {
      client: input.client,
      method: input.method,
      path: plan.path,
      authority: plan.authority,
      headers: plan.headers,
      body,
      first: { endpoint: plan.endpoint, workload: plan.destination },
      pick: () => pickDestination(state, cluster, services.random),
      target: input.target,
      retry,
      cluster: cluster.name,
      clusterSize: readyCount(cluster),
      limits: limitsOf(cluster.policy.connectionPool, input.wire, cluster.policy.retryBudget),
      connection: connectionSettings(cluster.policy.connectionPool),
      outlier: cluster.policy.outlierDetection && outlierConfig(cluster.policy.outlierDetection),
      // Without a timeout, the client leaving is the only deadline (no composite signal to build).
      deadline:
        timeout === undefined
          ? input.downstreamClosed
          : AbortSignal.any([timeout.signal, input.downstreamClosed]),
    },
    { ...services, outliers: state.outliers },
  );
  return { ...result, faultFlags: flags, timeout: timeout?.signal };
}

/** A body that may be replayed is read first (up to the limit); otherwise it streams as it arrives. */
async function requestBody(input: StageInput, mayRetry: boolean): Promise<RequestBody> {
  if (input.body === undefined) return { kind: 'none' };
  if (!mayRetry) return { kind: 'streaming', stream: input.body };
  return readForReplay(input.body, RETRY_BODY_LIMIT);
}

function pickDestination(
  state: WaypointState,
  cluster: Cluster,
  random: () => number,
): Destination | undefined {
  const endpoint = state.balancer(cluster).pick({ random });
  const workload = endpoint === undefined ? undefined : state.endpointWorkload(cluster, endpoint);
  return endpoint === undefined || workload === undefined ? undefined : { endpoint, workload };
}

/** The cluster's ready endpoints: what outlier detection's ejection share is a share of. */
function readyCount(cluster: Cluster): number {
  let count = 0;
  for (const endpoint of cluster.endpoints) if (endpoint.ready) count++;
  return count;
}
