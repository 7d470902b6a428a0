/**
 * Circuit breaking (Envoy's per-cluster thresholds from `DestinationRule` `connectionPool`): requests in
 * flight toward a cluster are bounded by `http2MaxRequests` and, over HTTP/1.1 where one connection carries
 * one request at a time, by `tcp.maxConnections`; a request over the connection bound waits in a queue of
 * at most `http1MaxPendingRequests`; anything beyond answers 503 `UO` at once. Concurrent retries are bounded
 * by `maxRetries`, or by `retryBudget` (a share of the requests active and pending, with a floor) when the
 * DestinationRule sets one. Istio's defaults are unlimited (2^32 - 1). The decision is pure; `ClusterLimits` keeps the
 * counts, which outlive snapshots (a push must not reset what is in flight).
 */
import type { ConnectionPoolSettings } from '../../core/config/kinds/istio-networking.ts';
import type { BackendPolicy } from '../../core/l7/types.ts';

export interface LimitCounts {
  active: number;
  pending: number;
}

export interface Limits {
  maxActive: number;
  /** Active requests beyond which a request queues (HTTP/1.1: connections); above `maxActive` it never does. */
  maxConnections: number;
  maxPending: number;
  maxRetries: number;
  retryBudget?: BackendPolicy['retryBudget'];
}

const UNLIMITED = 2 ** 32 - 1;

export function limitsOf(
  pool: ConnectionPoolSettings | undefined,
  wire: 'http1' | 'http2',
  retryBudget?: BackendPolicy['retryBudget'],
): Limits {
  const maxActive = pool?.http?.http2MaxRequests ?? UNLIMITED;
  return {
    maxActive,
    // HTTP/2 multiplexes requests over few connections: the connection bound does not bound requests.
    maxConnections: wire === 'http1' ? (pool?.tcp?.maxConnections ?? UNLIMITED) : UNLIMITED,
    maxPending: pool?.http?.http1MaxPendingRequests ?? UNLIMITED,
    maxRetries: pool?.http?.maxRetries ?? UNLIMITED,
    retryBudget,
  };
}

/**
 * Concurrent retries the cluster allows now: with a budget, `percent` of its active and pending requests
 * (rounded down) but never fewer than `minRetryConcurrency` (Envoy's `retry_budget`, which then replaces
 * `max_retries`); without one, `maxRetries`.
 */
export function retryAllowance(counts: LimitCounts, limits: Limits): number {
  const budget = limits.retryBudget;
  if (budget === undefined) return limits.maxRetries;
  const share = Math.floor(((counts.active + counts.pending) * budget.percent) / 100);
  return Math.max(budget.minRetryConcurrency, share);
}

export type Admission = 'admit' | 'queue' | 'overflow';

/** What happens to a new request given the cluster's counts. */
export function admission(counts: LimitCounts, limits: Limits): Admission {
  if (counts.active >= limits.maxActive) return 'overflow';
  if (counts.active < limits.maxConnections) return 'admit';
  return counts.pending < limits.maxPending ? 'queue' : 'overflow';
}

/** One cluster's counts and its queue of requests waiting for a connection slot, in arrival order. */
class ClusterCounts implements LimitCounts {
  active = 0;
  pending = 0;
  retries = 0;
  readonly waiting: { limits: Limits; admit: () => void }[] = [];
}

/** A granted slot; `release` frees it once (later calls do nothing). */
export type Release = () => void;

export class ClusterLimits {
  readonly #clusters = new Map<string, ClusterCounts>();

  #counts(cluster: string): ClusterCounts {
    let counts = this.#clusters.get(cluster);
    if (counts === undefined) {
      counts = new ClusterCounts();
      this.#clusters.set(cluster, counts);
    }
    return counts;
  }

  /**
   * A slot for one request: at once, after waiting in the pending queue, or `undefined` (overflow). A queued
   * request whose caller gives up (`signal`) leaves the queue.
   */
  acquire(cluster: string, limits: Limits, signal?: AbortSignal): Promise<Release | undefined> {
    const counts = this.#counts(cluster);
    const decision = admission(counts, limits);
    if (decision === 'overflow') return Promise.resolve(undefined);
    if (decision === 'admit') return Promise.resolve(this.#grant(cluster, counts));
    counts.pending++;
    return new Promise((resolve) => {
      const entry = {
        limits,
        admit: () => {
          counts.pending--;
          signal?.removeEventListener('abort', leave);
          resolve(this.#grant(cluster, counts));
        },
      };
      const leave = () => {
        const index = counts.waiting.indexOf(entry);
        if (index < 0) return;
        counts.waiting.splice(index, 1);
        counts.pending--;
        resolve(undefined);
      };
      signal?.addEventListener('abort', leave, { once: true });
      counts.waiting.push(entry);
    });
  }

  /** Counts a retry against `retryAllowance`; undefined when it is spent (the retry is not made). */
  beginRetry(cluster: string, limits: Limits): Release | undefined {
    const counts = this.#counts(cluster);
    if (counts.retries >= retryAllowance(counts, limits)) return undefined;
    counts.retries++;
    return once(() => {
      counts.retries--;
    });
  }

  /** The cluster's counts, for admin and tests. */
  counts(cluster: string): Readonly<LimitCounts> {
    return this.#counts(cluster);
  }

  #grant(cluster: string, counts: ClusterCounts): Release {
    counts.active++;
    return once(() => {
      counts.active--;
      const next = counts.waiting[0];
      if (next !== undefined && counts.active < next.limits.maxConnections) {
        counts.waiting.shift();
        next.admit();
      }
      if (counts.active === 0 && counts.pending === 0 && counts.retries === 0) this.#clusters.delete(cluster);
    });
  }
}

function once(action: () => void): Release {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    action();
  };
}
