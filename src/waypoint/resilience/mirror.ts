/**
 * Traffic mirroring (VirtualService `mirror`/`mirrors`, HTTPRoute `RequestMirror`): a copy of the request
 * goes to each chosen mirror cluster, fire and forget, as Envoy's shadow writer does. The caller never waits
 * for a copy and never sees its answer or its failure. The `Host` is sent unchanged: Istio 1.28 stopped
 * appending Envoy's `-shadow` suffix by default (`DISABLE_SHADOW_HOST_SUFFIX`), and the Gateway API never
 * asked for it.
 *
 * Bounded so that a slow mirror cannot make the waypoint hold much: at most `MAX_MIRRORS_IN_FLIGHT` copies at
 * once (more are dropped and counted), each cut after the route timeout or `MIRROR_TIMEOUT_MS`, and only a
 * body the request stage buffered (within the retry buffer limit) is copied; a longer one is not mirrored.
 */
import type { Clock } from '../../core/clock.ts';
import type { Cluster, Mirror } from '../../core/l7/types.ts';
import type { HeaderMap } from '../pipeline/headers.ts';
import type { WaypointState } from '../state.ts';
import { connectionSettings } from '../upstream/connection-settings.ts';
import type { UpstreamClient } from '../upstream/exchange.ts';
import type { TunnelTarget } from '../upstream/tunnels.ts';
import type { Destination } from './attempts.ts';
import { attemptBody, type RequestBody } from './body.ts';

/** Copies in flight at once, all clusters together. */
export const MAX_MIRRORS_IN_FLIGHT = 256;
/** How long a copy may run when the route sets no timeout. */
export const MIRROR_TIMEOUT_MS = 30_000;

/** What happened to one copy: answered (any status), failed (no answer), or dropped before it was sent. */
export type MirrorOutcome = 'answered' | 'failed' | 'dropped';

/**
 * The mirrors a request is copied to: each independently with its own percentage (Envoy draws per mirror
 * policy), `draw` giving a number in [0, 1) per mirror.
 */
export function chooseMirrors(mirrors: readonly Mirror[], draw: () => number): Mirror[] {
  const chosen: Mirror[] = [];
  for (const mirror of mirrors) {
    if (mirror.percentage >= 100 || (mirror.percentage > 0 && draw() * 100 < mirror.percentage))
      chosen.push(mirror);
  }
  return chosen;
}

export interface MirroredRequest {
  method: string;
  path: string;
  authority: string;
  /** The headers the primary request goes up with (a copy is made per mirror). */
  headers: HeaderMap;
  body: RequestBody;
  timeoutMs: number | undefined;
  /** The client for a cluster's wire. */
  clientFor: (cluster: Cluster) => UpstreamClient;
  target: (destination: Destination) => TunnelTarget;
  state: WaypointState;
}

export interface MirrorServices {
  clock: Clock;
  random: () => number;
  /** Counts each copy's outcome by mirror cluster. */
  count: (cluster: string, outcome: MirrorOutcome) => void;
}

export class RequestMirrors {
  readonly #services: MirrorServices;
  /** Copies in flight. */
  inFlight = 0;

  constructor(services: MirrorServices) {
    this.#services = services;
  }

  /** Starts the copies of `request` to `mirrors`; returns at once. */
  copy(mirrors: readonly Mirror[], request: MirroredRequest): void {
    for (const mirror of mirrors) this.#copyOne(mirror.cluster, request);
  }

  #copyOne(clusterName: string, request: MirroredRequest): void {
    const { count, clock, random } = this.#services;
    const cluster = request.state.cluster(clusterName);
    const usable = cluster !== undefined && cluster.problem === undefined;
    const endpoint = usable ? request.state.balancer(cluster).pick({ random }) : undefined;
    const workload = usable && endpoint ? request.state.endpointWorkload(cluster, endpoint) : undefined;
    if (
      cluster === undefined ||
      endpoint === undefined ||
      workload === undefined ||
      request.body.kind === 'streaming' ||
      this.inFlight >= MAX_MIRRORS_IN_FLIGHT
    ) {
      count(clusterName, 'dropped');
      return;
    }
    this.inFlight++;
    const cancel = new AbortController();
    const timer = clock.setTimeout(() => cancel.abort(), request.timeoutMs ?? MIRROR_TIMEOUT_MS);
    let finished = false;
    const done = (outcome: MirrorOutcome) => {
      if (finished) return;
      finished = true;
      clock.clearTimeout(timer);
      this.inFlight--;
      count(clusterName, outcome);
    };
    request
      .clientFor(cluster)
      .send({
        target: request.target({ endpoint, workload }),
        method: request.method,
        path: request.path,
        authority: request.authority,
        headers: { ...request.headers },
        body: attemptBody(request.body),
        signal: cancel.signal,
        connection: connectionSettings(cluster.policy.connectionPool),
      })
      .then(
        (response) => {
          // Read to the end (so the connection is reused) and forgotten; the timer still cuts a slow body.
          response.body.on('error', () => done('failed'));
          response.body.once('end', () => done('answered'));
          response.body.resume();
        },
        () => done('failed'),
      );
  }
}
