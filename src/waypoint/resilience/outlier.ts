/**
 * Outlier detection (Envoy's, under Istio's `DestinationRule` `outlierDetection`): each endpoint of a
 * cluster counts consecutive errors; on reaching `consecutive5xxErrors` (any 5xx; default 5) or
 * `consecutiveGatewayErrors` (502, 503, 504; unset = off) it is ejected for `baseEjectionTime` x the number
 * of times it has been ejected (capped at 300 s, or at the base when that is longer), unless
 * `maxEjectionPercent` of the cluster is already out (at least one endpoint may always be ejected, as
 * Envoy's does). Errors that originate locally (no connection, reset, timeout) count as 5xx gateway errors,
 * unless `splitExternalLocalOriginErrors` sends them to `consecutiveLocalOriginFailures` (default 5) alone.
 * Each `interval` an endpoint spends back in service takes one off its ejection multiplier. While the
 * healthy share is under `minHealthPercent`, ejection is ignored and every ready endpoint serves (Envoy's
 * panic threshold, which Istio sets from that field).
 *
 * Every decision is a pure function of an endpoint's record, the config and the time; `OutlierTracker`
 * keeps the records (they outlive snapshots) and tells the balancer which endpoints are out.
 */
import type { Clock } from '../../core/clock.ts';
import type { OutlierDetection } from '../../core/config/kinds/istio-networking.ts';

export interface OutlierConfig {
  consecutive5xx: number;
  consecutiveGateway: number;
  consecutiveLocalOrigin: number;
  splitLocalOrigin: boolean;
  intervalMs: number;
  baseEjectionMs: number;
  maxEjectionPercent: number;
  minHealthPercent: number;
}

/** Envoy's `max_ejection_time` default. */
const MAX_EJECTION_MS = 300_000;

/** Istio's defaults for the fields a DestinationRule leaves out (0 disables a consecutive counter). */
export function outlierConfig(spec: OutlierDetection): OutlierConfig {
  return {
    consecutive5xx: spec.consecutive5xxErrors ?? 5,
    consecutiveGateway: spec.consecutiveGatewayErrors ?? 0,
    consecutiveLocalOrigin: spec.consecutiveLocalOriginFailures ?? 5,
    splitLocalOrigin: spec.splitExternalLocalOriginErrors ?? false,
    intervalMs: spec.interval ?? 10_000,
    baseEjectionMs: spec.baseEjectionTime ?? 30_000,
    maxEjectionPercent: spec.maxEjectionPercent ?? 10,
    minHealthPercent: spec.minHealthPercent ?? 0,
  };
}

/** What an attempt on an endpoint came to, as outlier detection sees it. */
export type EndpointResult = { kind: 'status'; status: number } | { kind: 'localFailure' };

export interface EndpointRecord {
  consecutive5xx: number;
  consecutiveGateway: number;
  consecutiveLocalOrigin: number;
  /** Times ejected, less one per interval spent back in service (Envoy's multiplier). */
  ejections: number;
  /** When the current ejection ends; undefined when in service. */
  ejectedUntil: number | undefined;
  /** When the endpoint last came back (or was first seen), for the multiplier's decay. */
  inServiceSince: number;
}

export function newRecord(now: number): EndpointRecord {
  return {
    consecutive5xx: 0,
    consecutiveGateway: 0,
    consecutiveLocalOrigin: 0,
    ejections: 0,
    ejectedUntil: undefined,
    inServiceSince: now,
  };
}

/** The counters after `result` (a new record; the input is not changed). */
export function countResult(
  record: EndpointRecord,
  result: EndpointResult,
  config: OutlierConfig,
): EndpointRecord {
  if (result.kind === 'localFailure') {
    if (config.splitLocalOrigin)
      return { ...record, consecutiveLocalOrigin: record.consecutiveLocalOrigin + 1 };
    return {
      ...record,
      consecutive5xx: record.consecutive5xx + 1,
      consecutiveGateway: record.consecutiveGateway + 1,
    };
  }
  const { status } = result;
  if (status < 500) return { ...record, consecutive5xx: 0, consecutiveGateway: 0, consecutiveLocalOrigin: 0 };
  const gateway = status === 502 || status === 503 || status === 504;
  return {
    ...record,
    consecutive5xx: record.consecutive5xx + 1,
    consecutiveGateway: gateway ? record.consecutiveGateway + 1 : 0,
    // A response came back: the connection itself is fine.
    consecutiveLocalOrigin: 0,
  };
}

/** Whether a counter reached its threshold (a threshold of 0 is off). */
export function shouldEject(record: EndpointRecord, config: OutlierConfig): boolean {
  const reached = (count: number, threshold: number) => threshold > 0 && count >= threshold;
  return (
    reached(record.consecutive5xx, config.consecutive5xx) ||
    reached(record.consecutiveGateway, config.consecutiveGateway) ||
    (config.splitLocalOrigin && reached(record.consecutiveLocalOrigin, config.consecutiveLocalOrigin))
  );
}

/** Whether one more endpoint may go out, with `ejected` of `total` out already. */
export function ejectionAllowed(ejected: number, total: number, maxEjectionPercent: number): boolean {
  return ejected === 0 || (ejected * 100) / total < maxEjectionPercent;
}

/** The record ejected at `now`: the multiplier decayed for the time in service, plus one; counters reset. */
export function eject(record: EndpointRecord, config: OutlierConfig, now: number): EndpointRecord {
  const decayed = Math.floor((now - record.inServiceSince) / config.intervalMs);
  const ejections = Math.max(0, record.ejections - decayed) + 1;
  const durationMs = Math.min(
    config.baseEjectionMs * ejections,
    Math.max(MAX_EJECTION_MS, config.baseEjectionMs),
  );
  return { ...newRecord(now), ejections, ejectedUntil: now + durationMs };
}

/** The record at `now`: back in service when its ejection time is up. */
export function expire(record: EndpointRecord, now: number): EndpointRecord {
  if (record.ejectedUntil === undefined || now < record.ejectedUntil) return record;
  return { ...record, ejectedUntil: undefined, inServiceSince: record.ejectedUntil };
}

/** Below `minHealthPercent` healthy, ejections are ignored (panic): every ready endpoint serves. */
export function honourEjections(healthy: number, total: number, minHealthPercent: number): boolean {
  return total === 0 || (healthy * 100) / total >= minHealthPercent;
}

/** The records of every cluster's endpoints; `version` changes whenever the set of ejected endpoints does. */
export class OutlierTracker {
  readonly #clusters = new Map<string, Map<string, EndpointRecord>>();
  /** The earliest ejection end, so that `refresh` is one comparison when nothing is due. */
  #nextExpiry = Number.POSITIVE_INFINITY;
  #version = 0;
  readonly #clock: Clock;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Changes whenever the set of ejected endpoints does (ejections that are up are ended first). */
  get version(): number {
    this.#refresh(this.#clock.now());
    return this.#version;
  }

  #refresh(now: number): void {
    if (now < this.#nextExpiry) return;
    let next = Number.POSITIVE_INFINITY;
    for (const records of this.#clusters.values()) {
      for (const [key, record] of records) {
        const current = expire(record, now);
        if (current !== record) {
          records.set(key, current);
          this.#version++;
        }
        if (current.ejectedUntil !== undefined) next = Math.min(next, current.ejectedUntil);
      }
    }
    this.#nextExpiry = next;
  }

  /** Records an attempt's result on `endpoint` of `cluster` (of `total` endpoints); may eject it. */
  record(
    cluster: string,
    endpoint: string,
    total: number,
    result: EndpointResult,
    config: OutlierConfig,
  ): void {
    const now = this.#clock.now();
    this.#refresh(now);
    let records = this.#clusters.get(cluster);
    if (records === undefined) {
      records = new Map();
      this.#clusters.set(cluster, records);
    }
    const record = records.get(endpoint) ?? newRecord(now);
    // Answers that arrive while ejected (requests sent before) do not count again.
    if (record.ejectedUntil !== undefined) return;
    const counted = countResult(record, result, config);
    if (
      shouldEject(counted, config) &&
      ejectionAllowed(this.ejectedCount(cluster), total, config.maxEjectionPercent)
    ) {
      const ejected = eject(counted, config, now);
      records.set(endpoint, ejected);
      this.#nextExpiry = Math.min(this.#nextExpiry, ejected.ejectedUntil!);
      this.#version++;
      return;
    }
    records.set(endpoint, counted);
  }

  ejectedCount(cluster: string): number {
    let count = 0;
    for (const record of this.#clusters.get(cluster)?.values() ?? [])
      if (record.ejectedUntil !== undefined) count++;
    return count;
  }

  /** When `endpoint` of `cluster` comes back, if it is out. */
  ejectedUntil(cluster: string, endpoint: string): number | undefined {
    this.#refresh(this.#clock.now());
    return this.#clusters.get(cluster)?.get(endpoint)?.ejectedUntil;
  }
}

/**
 * The endpoints a cluster's balancer chooses from: the ready ones, less those ejected, unless that leaves
 * the healthy share under `minHealthPercent` (then all ready ones).
 */
export function servingEndpoints<T>(
  ready: readonly T[],
  isEjected: (endpoint: T) => boolean,
  minHealthPercent: number,
): T[] {
  const healthy = ready.filter((endpoint) => !isEjected(endpoint));
  if (healthy.length === ready.length) return [...ready];
  return honourEjections(healthy.length, ready.length, minHealthPercent) ? healthy : [...ready];
}
