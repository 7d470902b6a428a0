/**
 * Every proxied connection from open to close: its parties, its live byte counters (shared with the copy),
 * the Istio TCP metrics (opened at start, bytes as they flow, closed with its response flags), the
 * `/connections` listing and one access-log line when it ends.
 */
import { type Failure, l4ResponseFlag } from '../../core/failure.ts';
import type { Logger } from '../../core/log.ts';
import { joinHostPort } from '../../core/net/host-port.ts';
import type { ByteCounters } from '../../core/net/splice.ts';
import { type TrafficLabels, type TrafficParties, trafficLabels, type ZtunnelMetrics } from '../metrics.ts';

/** outbound: app -> mesh; inbound: HBONE -> app; inbound-plaintext: non-mesh client -> app (15006). */
export type Direction = 'outbound' | 'inbound' | 'inbound-plaintext';

export interface ConnectionEndpoints {
  direction: Direction;
  /** Kind of upstream on outbound: over HBONE (possibly via a waypoint) or straight (passthrough). */
  mode: 'hbone' | 'waypoint' | 'passthrough' | 'direct';
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
  /** Bytes already added to the metrics, per direction. */
  reportedUpstream: number;
  reportedDownstream: number;
  labels: TrafficLabels;
  /** Set by the handler once both sides are open: closes them abortively (idle timeout, shutdown). */
  cancel: (() => void) | undefined;
  /** Why the tracker cancelled it, reported instead of the copy's own error. */
  cancelReason: string | undefined;
  /** Byte total at the last idle sweep, and when it last changed. */
  sweptBytes: number;
  activeAt: number;
}

export interface ConnectionListing {
  id: number;
  direction: Direction;
  mode: ConnectionEndpoints['mode'];
  source: string;
  destination: string;
  hboneTarget?: string | undefined;
  sourceWorkload?: string | undefined;
  sourceIdentity?: string | undefined;
  destinationWorkload?: string | undefined;
  destinationService?: string | undefined;
  destinationIdentity?: string | undefined;
  bytesSent: number;
  bytesReceived: number;
  durationMs: number;
}

export class ConnectionTracker {
  readonly #metrics: ZtunnelMetrics;
  readonly #access: Logger;
  readonly #live = new Map<number, TrackedConnection>();
  readonly #idleMs: number;
  readonly #sweeper: NodeJS.Timeout | undefined;
  #nextId = 1;

  /** `idleMs`: connections that move no byte for this long are cancelled (0 = never). */
  constructor(metrics: ZtunnelMetrics, accessLog: Logger, idleMs = 0) {
    this.#metrics = metrics;
    this.#access = accessLog;
    this.#idleMs = idleMs;
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

  /** Records a new connection and counts it opened. */
  open(endpoints: ConnectionEndpoints): TrackedConnection {
    const connection: TrackedConnection = {
      id: this.#nextId++,
      endpoints,
      startedAt: Date.now(),
      counters: { upstream: 0, downstream: 0 },
      reportedUpstream: 0,
      reportedDownstream: 0,
      labels: trafficLabels(endpoints.parties),
      cancel: undefined,
      cancelReason: undefined,
      sweptBytes: 0,
      activeAt: Date.now(),
    };
    this.#live.set(connection.id, connection);
    this.#metrics.tcpOpened.inc(connection.labels);
    return connection;
  }

  /**
   * Records the end: final bytes, closed counter with the response flags of its failure (none: it got
   * through, whatever happened later), one access-log line with the error's detail.
   */
  close(connection: TrackedConnection, failure: Failure | undefined, error?: string): void {
    if (!this.#live.delete(connection.id)) return;
    this.#flush(connection);
    const reason = connection.cancelReason ?? error;
    const flags = l4ResponseFlag(failure);
    const closedLabels = flags === '-' ? connection.labels : { ...connection.labels, response_flags: flags };
    this.#metrics.tcpClosed.inc(closedLabels);
    this.#logAccess(connection, failure, reason);
  }

  /** Adds what every live connection moved since the last flush to the byte counters (called per scrape). */
  flushBytes(): void {
    for (const connection of this.#live.values()) this.#flush(connection);
  }

  countByDirection(): Record<Direction, number> {
    const counts: Record<Direction, number> = { outbound: 0, inbound: 0, 'inbound-plaintext': 0 };
    for (const connection of this.#live.values()) counts[connection.endpoints.direction]++;
    return counts;
  }

  list(now = Date.now()): ConnectionListing[] {
    return [...this.#live.values()].map((connection) => listing(connection, now));
  }

  #flush(connection: TrackedConnection): void {
    const up = connection.counters.upstream - connection.reportedUpstream;
    const down = connection.counters.downstream - connection.reportedDownstream;
    // Istio: received = request direction (client to server), sent = response direction.
    if (up > 0) this.#metrics.receivedBytes.inc(connection.labels, up);
    if (down > 0) this.#metrics.sentBytes.inc(connection.labels, down);
    connection.reportedUpstream = connection.counters.upstream;
    connection.reportedDownstream = connection.counters.downstream;
  }

  #logAccess(connection: TrackedConnection, failure: Failure | undefined, error: string | undefined): void {
    const entry = listing(connection, Date.now());
    const fields: Record<string, unknown> = {
      direction: entry.direction,
      mode: entry.mode,
      'src.addr': entry.source,
      'src.workload': entry.sourceWorkload,
      'src.identity': entry.sourceIdentity,
      'dst.addr': entry.destination,
      'dst.hbone_addr': entry.hboneTarget,
      'dst.service': entry.destinationService,
      'dst.workload': entry.destinationWorkload,
      'dst.identity': entry.destinationIdentity,
      bytes_sent: entry.bytesSent,
      bytes_recv: entry.bytesReceived,
      duration_ms: entry.durationMs,
      result: failure === undefined && !error ? 'ok' : failure === 'Denied' ? 'denied' : 'failed',
      error,
    };
    for (const key of Object.keys(fields)) if (fields[key] === undefined) delete fields[key];
    if (fields.result === 'ok') this.#access.info('connection complete', fields);
    else this.#access.warn('connection complete', fields);
  }
}

function listing(connection: TrackedConnection, now: number): ConnectionListing {
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
