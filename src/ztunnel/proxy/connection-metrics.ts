/**
 * Istio's TCP metrics of the proxied connections, subscribed to the tracker's events: opened at start,
 * bytes brought up to date at every scrape (never per chunk: the copy only bumps plain counters), closed with
 * the response flags of the connection's failure.
 */
import { l4ResponseFlag } from '../../core/failure.ts';
import { type TrafficLabels, trafficLabels, type ZtunnelMetrics } from '../metrics.ts';
import type { ConnectionTracker, TrackedConnection } from './connections.ts';

interface Counted {
  labels: TrafficLabels;
  /** Bytes already added to the metrics, per direction. */
  upstream: number;
  downstream: number;
}

export interface ConnectionCounting {
  /** Adds what every live connection moved since the last flush to the byte counters (called per scrape). */
  flushBytes(): void;
  unsubscribe(): void;
}

export function countConnections(tracker: ConnectionTracker, metrics: ZtunnelMetrics): ConnectionCounting {
  const live = new Map<TrackedConnection, Counted>();
  const flush = (connection: TrackedConnection, counted: Counted) => {
    const up = connection.counters.upstream - counted.upstream;
    const down = connection.counters.downstream - counted.downstream;
    // Istio: received = request direction (client to server), sent = response direction.
    if (up > 0) metrics.receivedBytes.inc(counted.labels, up);
    if (down > 0) metrics.sentBytes.inc(counted.labels, down);
    counted.upstream = connection.counters.upstream;
    counted.downstream = connection.counters.downstream;
  };
  const unsubscribe = tracker.subscribe({
    opened: (connection) => {
      const counted: Counted = {
        labels: trafficLabels(connection.endpoints.parties),
        upstream: 0,
        downstream: 0,
      };
      live.set(connection, counted);
      metrics.tcpOpened.inc(counted.labels);
    },
    closed: ({ connection, outcome: failure }) => {
      const counted = live.get(connection);
      if (!counted) return;
      live.delete(connection);
      flush(connection, counted);
      const flags = l4ResponseFlag(failure);
      metrics.tcpClosed.inc(flags === '-' ? counted.labels : { ...counted.labels, response_flags: flags });
    },
  });
  return {
    flushBytes: () => {
      for (const [connection, counted] of live) flush(connection, counted);
    },
    unsubscribe,
  };
}
