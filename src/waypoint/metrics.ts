/**
 * The waypoint's Prometheus metrics with Istio's names, labels and buckets (`reporter="waypoint"`), so that
 * Kiali's and Grafana's Istio queries work unchanged: the four request metrics for HTTP and gRPC, the TCP
 * metrics for ports proxied as bytes, and refusal counters of our own (what a peer was not allowed to hold).
 * Label sets are built once per request from the parties (`RequestParties`), never per chunk.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ISTIO_PARTY_LABELS } from '../core/istio-labels.ts';
import { istioTcpCounters } from '../core/istio-tcp-metrics.ts';
import type { Service, Workload } from '../core/model/index.ts';
import {
  bindCounter,
  bindHistogram,
  type CounterSeries,
  type HistogramSeries,
} from './telemetry/bound-series.ts';
import type { RequesterLabels } from './upstream/lookup-limits.ts';

export const PARTY_LABELS = ISTIO_PARTY_LABELS;

export const REQUEST_LABELS = [...PARTY_LABELS, 'response_code', 'grpc_response_status'] as const;

export type PartyLabels = Record<(typeof PARTY_LABELS)[number], string>;
export type RequestLabels = Record<(typeof REQUEST_LABELS)[number], string>;

/** Envoy's default histogram buckets (ms), which Istio's dashboards' quantile queries assume. */
export const ENVOY_DURATION_BUCKETS_MS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
  3600000,
];

/** Byte-size buckets as Istio's size histograms use them (1 B to 10 MB, by tens). */
export const SIZE_BUCKETS_BYTES = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000];

export type RefusalReason =
  | 'tls-handshake'
  | 'no-h2'
  | 'bad-identity'
  | 'bad-request'
  | 'session-error'
  | 'not-served'
  | 'header-overflow'
  | 'body-overflow'
  | 'too-many-requests'
  | 'idle-timeout';

export interface RequestParties {
  source?: Workload | undefined;
  /** The caller's SPIFFE identity, as its certificate proves it. */
  sourceIdentity: string;
  destination?: Workload | undefined;
  destinationService?: { hostname: string; name: string; namespace: string } | Service | undefined;
  protocol: 'http' | 'grpc' | 'tcp';
}

const UNKNOWN = 'unknown';

/** Istio's labels for one request or connection (values `unknown` when not known), without the outcome. */
export function partyLabels(parties: RequestParties, responseFlags: string): PartyLabels {
  const { source, destination, destinationService: service } = parties;
  return {
    reporter: 'waypoint',
    source_workload: source?.canonicalName ?? UNKNOWN,
    source_canonical_service: source?.canonicalName ?? UNKNOWN,
    source_canonical_revision: source?.canonicalRevision ?? UNKNOWN,
    source_workload_namespace: source?.namespace ?? UNKNOWN,
    source_principal: parties.sourceIdentity,
    source_app: source?.labels.app ?? source?.canonicalName ?? UNKNOWN,
    source_version: source?.labels.version ?? source?.canonicalRevision ?? UNKNOWN,
    destination_service: service?.hostname ?? UNKNOWN,
    destination_service_namespace: service?.namespace ?? UNKNOWN,
    destination_service_name: service?.name ?? UNKNOWN,
    destination_workload: destination?.canonicalName ?? UNKNOWN,
    destination_canonical_service: destination?.canonicalName ?? UNKNOWN,
    destination_canonical_revision: destination?.canonicalRevision ?? UNKNOWN,
    destination_workload_namespace: destination?.namespace ?? UNKNOWN,
    destination_principal: destination?.identity ?? UNKNOWN,
    destination_app: destination?.labels.app ?? destination?.canonicalName ?? UNKNOWN,
    destination_version: destination?.labels.version ?? destination?.canonicalRevision ?? UNKNOWN,
    request_protocol: parties.protocol,
    response_flags: responseFlags,
    connection_security_policy: 'mutual_tls',
  };
}

interface RequestSeries {
  requests: CounterSeries;
  duration: HistogramSeries;
  requestBytes: HistogramSeries;
  responseBytes: HistogramSeries;
}

/** Label sets whose series are kept bound (each is a few small objects). */
const MAX_CACHED_SERIES = 10_000;

export class WaypointMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<(typeof REQUEST_LABELS)[number]>;
  readonly duration: Histogram<(typeof REQUEST_LABELS)[number]>;
  readonly requestBytes: Histogram<(typeof REQUEST_LABELS)[number]>;
  readonly responseBytes: Histogram<(typeof REQUEST_LABELS)[number]>;
  readonly tcpOpened: Counter<(typeof PARTY_LABELS)[number]>;
  readonly tcpClosed: Counter<(typeof PARTY_LABELS)[number]>;
  readonly tcpSent: Counter<(typeof PARTY_LABELS)[number]>;
  readonly tcpReceived: Counter<(typeof PARTY_LABELS)[number]>;
  readonly refused: Counter<'reason'>;
  readonly mirrored: Counter<'cluster' | 'outcome'>;
  readonly rateLimited: Counter<'policy' | 'limit'>;
  /** Lookups of names requests chose (DYNAMIC_DNS) that a bound refused, with Istio's source labels. */
  readonly dnsLookupsRefused: Counter<'reason' | keyof RequesterLabels>;
  readonly activeRequests: Gauge;
  readonly spans: Counter<'outcome'>;
  /** Where `spans` reads from when scraped: the tracer's counts. */
  spanCounts: (() => { exported: number; failed: number }) | undefined;
  /**
   * Where `activeRequests` reads from when scraped: the request engine's count (read then rather than kept
   * in step, which cost two gauge updates, each hashing its labels, on every request).
   */
  requestsInFlight: (() => number) | undefined;
  readonly #series = new Map<string, RequestSeries>();
  /** The request metrics the Telemetry objects leave on. */
  readonly #enabled = { requests: true, duration: true, requestBytes: true, responseBytes: true };

  constructor() {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'istio_requests_total',
      help: 'Requests through the waypoint, by parties and outcome',
      labelNames: REQUEST_LABELS,
      registers,
    });
    this.duration = new Histogram({
      name: 'istio_request_duration_milliseconds',
      help: 'Time from the request to the end of its response, in milliseconds',
      labelNames: REQUEST_LABELS,
      buckets: ENVOY_DURATION_BUCKETS_MS,
      registers,
    });
    this.requestBytes = new Histogram({
      name: 'istio_request_bytes',
      help: 'Request sizes (headers and body), in bytes',
      labelNames: REQUEST_LABELS,
      buckets: SIZE_BUCKETS_BYTES,
      registers,
    });
    this.responseBytes = new Histogram({
      name: 'istio_response_bytes',
      help: 'Response sizes (headers and body), in bytes',
      labelNames: REQUEST_LABELS,
      buckets: SIZE_BUCKETS_BYTES,
      registers,
    });
    const tcp = istioTcpCounters(this.registry, 'waypoint');
    this.tcpOpened = tcp.opened;
    this.tcpClosed = tcp.closed;
    this.tcpSent = tcp.sent;
    this.tcpReceived = tcp.received;
    const spanCounts = () => this.spanCounts?.();
    this.spans = new Counter({
      name: 'ambit_waypoint_spans_total',
      help: 'Request spans handed to the trace collector, by outcome (exported, failed)',
      labelNames: ['outcome'],
      registers,
      collect() {
        const counts = spanCounts();
        if (counts === undefined) return;
        this.reset();
        this.inc({ outcome: 'exported' }, counts.exported);
        this.inc({ outcome: 'failed' }, counts.failed);
      },
    });
    this.refused = new Counter({
      name: 'ambit_waypoint_refused_total',
      help: 'Connections, streams and requests the waypoint refused, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.mirrored = new Counter({
      name: 'ambit_waypoint_mirrored_requests_total',
      help: 'Copies of requests sent to mirror clusters, by outcome (answered, failed, dropped before sending)',
      labelNames: ['cluster', 'outcome'],
      registers,
    });
    this.rateLimited = new Counter({
      name: 'ambit_waypoint_rate_limited_total',
      help: 'Requests refused with 429 by a local rate limit, by policy and limit (total, identity, override)',
      labelNames: ['policy', 'limit'],
      registers,
    });
    this.dnsLookupsRefused = new Counter({
      name: 'ambit_waypoint_dns_lookups_refused_total',
      help: 'DNS lookups of request-chosen names (DYNAMIC_DNS) refused by a bound (client-names, client-in-flight, in-flight), by source',
      labelNames: ['reason', 'source_workload', 'source_workload_namespace', 'source_principal'],
      registers,
    });
    const requestsInFlight = () => this.requestsInFlight?.();
    this.activeRequests = new Gauge({
      name: 'ambit_waypoint_active_requests',
      help: 'Requests in flight',
      registers,
      collect() {
        this.set(requestsInFlight() ?? 0);
      },
    });
  }

  /**
   * Records one finished request with all four request metrics. `key` names the label set (the parties and
   * the outcome); the series are bound once per key and kept (`telemetry/bound-series.ts`), so the
   * per-request cost is four additions rather than four hashes of 23 labels. `labels` is called only for a
   * new key.
   */
  recordRequest(
    key: string,
    labels: () => RequestLabels,
    durationMs: number,
    requestBytes: number,
    responseBytes: number,
  ): void {
    let series = this.#series.get(key);
    if (series === undefined) {
      const values = labels();
      series = {
        requests: bindCounter(this.requests, values),
        duration: bindHistogram(this.duration, values),
        requestBytes: bindHistogram(this.requestBytes, values),
        responseBytes: bindHistogram(this.responseBytes, values),
      };
      // Bounded: a peer cycling through identities or codes cannot grow the cache without limit.
      if (this.#series.size >= MAX_CACHED_SERIES) this.#series.clear();
      this.#series.set(key, series);
    }
    const on = this.#enabled;
    if (on.requests) series.requests.inc();
    if (on.duration) series.duration.observe(durationMs);
    if (on.requestBytes) series.requestBytes.observe(requestBytes);
    if (on.responseBytes) series.responseBytes.observe(responseBytes);
  }

  /** Turns request metrics off by name (Telemetry `metrics.overrides`); a metric turned off loses its series. */
  disableRequestMetrics(names: readonly string[]): void {
    const off = new Set(names);
    const metrics = {
      requests: [this.requests, 'istio_requests_total'],
      duration: [this.duration, 'istio_request_duration_milliseconds'],
      requestBytes: [this.requestBytes, 'istio_request_bytes'],
      responseBytes: [this.responseBytes, 'istio_response_bytes'],
    } as const;
    for (const key of Object.keys(metrics) as (keyof typeof metrics)[]) {
      const [metric, name] = metrics[key];
      const enabled = !off.has(name);
      if (!enabled && this.#enabled[key]) metric.reset();
      this.#enabled[key] = enabled;
    }
    // A reset metric keeps its series in a new store: series bound to the old one must be bound again.
    this.#series.clear();
  }
}
