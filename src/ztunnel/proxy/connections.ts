/**
 * Every proxied connection from open to close: its parties, its live byte counters (shared with the copy),
 * idle and shutdown cancellation, and the `/connections` listing. Opening and closing are published as
 * connection events (`core/observe`): the Istio TCP metrics (`connection-metrics.ts`) and the access log
 * (`access-log.ts`) subscribe to them, so neither is built in here.
 */
import type { Failure } from '../../core/failure.ts';
import { joinHostPort } from '../../core/net/host-port.ts';
import type { ByteCounters } from '../../core/net/splice.ts';
import {
  type ConnectionSubscriber,
  publishClosed,
  publishOpened,
  subscribeConnections,
} from '../../core/observe/connection-events.ts';
import type { ConnectionListing, ConnectionMode, Direction } from '../../core/observe/connection-listing.ts';
import type { TrafficParties } from '../metrics.ts';

export interface ConnectionEndpoints {
  direction: Direction;
  /** The served pod whose tunnel this is (counted against its limit). */
  pod?: string | undefined;
  mode: ConnectionMode;
  sourceIp: string;
  sourcePort: number;
  destinationIp: string;
  destinationPort: number;
  /** The HBONE `:authority`, when tunnelled. */
  hboneTarget?: string | undefined;
  parties: TrafficParties;
}

export interface TrackedConnection {
  readonly id: number;
  readonly endpoints: ConnectionEndpoints;
  readonly startedAt: number;
  readonly counters: ByteCounters;
  /** Set by the handler once both sides are open: closes them abortively (idle timeout, shutdown). */
  cancel: (() => void) | undefined;
  /** Why the tracker cancelled it, reported instead of the copy's own error. */
  cancelReason: string | undefined;
  /** Byte total at the last idle sweep, and when it last changed. */
  sweptBytes: number;
  activeAt: number;
}

/** What subscribers of a tracker's events receive: the connection, and on close its failure if any. */
export type TrackerSubscriber = ConnectionSubscriber<TrackedConnection, Failure | undefined>;

/** How many tunnels may be open at once, per served pod and on the whole node. */
export interface TunnelLimits {
  perPod: number;
  perNode: number;
}

export type TunnelRefusal = 'pod-tunnel-limit' | 'node-tunnel-limit';

export class ConnectionTracker {
  readonly #live = new Map<number, TrackedConnection>();
  readonly #perPod = new Map<string, number>();
  readonly #idleMs: number;
  readonly #limits: TunnelLimits;
  readonly #sweeper: NodeJS.Timeout | undefined;
  #nextId = 1;

  /**
   * `idleMs`: connections that move no byte for this long are cancelled (0 = never); `limits`: open
   * tunnels allowed per pod and per node (default: no limit).
   */
  constructor(idleMs = 0, limits: TunnelLimits = { perPod: Infinity, perNode: Infinity }) {
    this.#idleMs = idleMs;
    this.#limits = limits;
    if (idleMs > 0) {
      // One sweep over the counters for all connections, instead of a timer refreshed per chunk.
      this.#sweeper = setInterval(() => this.sweepIdle(), Math.min(Math.max(idleMs / 4, 250), 60_000));
      this.#sweeper.unref();
    }
  }

  /** Cancels connections idle for the idle period (called periodically; public for tests). */
  sweepIdle(now = Date.now()): void {
    for (const connection of this.#live.values()) {
      const total = connection.counters.upstream + connection.counters.downstream;
      if (total !== connection.sweptBytes) {
        connection.sweptBytes = total;
        connection.activeAt = now;
      } else if (now - connection.activeAt >= this.#idleMs && connection.cancel) {
        connection.cancelReason = 'idle timeout';
        connection.cancel();
      }
    }
  }

  /** Cancels every live connection (shutdown). */
  cancelAll(reason: string): void {
    for (const connection of this.#live.values()) {
      connection.cancelReason ??= reason;
      connection.cancel?.();
    }
  }

  stop(): void {
    clearInterval(this.#sweeper);
  }

  /** Hands `subscriber` this tracker's connection events; returns the unsubscribe function. */
  subscribe(subscriber: TrackerSubscriber): () => void {
    return subscribeConnections(this, subscriber);
  }

  /**
   * Whether one more tunnel for `pod` would exceed a limit; call it in the same tick as `open`, which then
   * counts the tunnel until its `close`.
   */
  refusal(pod: string): TunnelRefusal | undefined {
    if (this.#live.size >= this.#limits.perNode) return 'node-tunnel-limit';
    if ((this.#perPod.get(pod) ?? 0) >= this.#limits.perPod) return 'pod-tunnel-limit';
    return undefined;
  }

  /** Records a new connection and announces it. */
  open(endpoints: ConnectionEndpoints): TrackedConnection {
    const connection: TrackedConnection = {
      id: this.#nextId++,
      endpoints,
      startedAt: Date.now(),
      counters: { upstream: 0, downstream: 0 },
      cancel: undefined,
      cancelReason: undefined,
      sweptBytes: 0,
      activeAt: Date.now(),
    };
    this.#live.set(connection.id, connection);
    if (endpoints.pod !== undefined)
      this.#perPod.set(endpoints.pod, (this.#perPod.get(endpoints.pod) ?? 0) + 1);
    publishOpened({ source: this, connection });
    return connection;
  }

  /**
   * Records the end, once, and announces it with its failure (none: it got through, whatever happened
   * later) and the error's detail (a cancel reason wins over the copy's own error).
   */
  close(connection: TrackedConnection, failure: Failure | undefined, error?: string): void {
    if (!this.#live.delete(connection.id)) return;
    const { pod } = connection.endpoints;
    if (pod !== undefined) {
      const left = (this.#perPod.get(pod) ?? 1) - 1;
      if (left > 0) this.#perPod.set(pod, left);
      else this.#perPod.delete(pod);
    }
    publishClosed({ source: this, connection, outcome: failure, reason: connection.cancelReason ?? error });
  }

  countByDirection(): Record<Direction, number> {
    const counts: Record<Direction, number> = { outbound: 0, inbound: 0, 'inbound-plaintext': 0 };
    for (const connection of this.#live.values()) counts[connection.endpoints.direction]++;
    return counts;
  }

  list(now = Date.now()): ConnectionListing[] {
    return [...this.#live.values()].map((connection) => listing(connection, now));
  }
}

/** How `/connections` and the access log show a connection. */
export function listing(connection: TrackedConnection, now: number): ConnectionListing {
  const { endpoints } = connection;
  const { parties } = endpoints;
  return {
    id: connection.id,
    direction: endpoints.direction,
    mode: endpoints.mode,
    source: joinHostPort(endpoints.sourceIp, endpoints.sourcePort),
    destination: joinHostPort(endpoints.destinationIp, endpoints.destinationPort),
    hboneTarget: endpoints.hboneTarget,
    sourceWorkload: parties.source ? `${parties.source.namespace}/${parties.source.name}` : undefined,
    sourceIdentity: parties.sourceIdentity,
    destinationWorkload: parties.destination
      ? `${parties.destination.namespace}/${parties.destination.name}`
      : undefined,
    destinationService: parties.destinationService?.hostname,
    destinationIdentity: parties.destinationIdentity ?? parties.destination?.identity,
    // Seen from the client: it sent what went upstream and received what came back.
    bytesSent: connection.counters.upstream,
    bytesReceived: connection.counters.downstream,
    durationMs: now - connection.startedAt,
  };
}
