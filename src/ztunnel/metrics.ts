/**
 * The ztunnel's Prometheus metrics, with Istio's names and labels so that existing dashboards and Kiali
 * work: the four TCP metrics, reported by the source ztunnel (`reporter="source"`) and the destination one
 * (`reporter="destination"`), label values `unknown` when not known; plus HBONE pool, refusal, DNS and
 * certificate metrics of our own. Byte counters are brought up to date at every scrape from the live
 * connections' counters, so the data path never touches prom-client per chunk.
 */

import type { L4ResponseFlag } from '../core/failure.ts';
import { ISTIO_PARTY_LABELS } from '../core/istio-labels.ts';
import { istioTcpCounters } from '../core/istio-tcp-metrics.ts';
import type { Service, Workload } from '../core/model/index.ts';
import { Counter, Gauge, Registry } from '../core/prometheus.ts';

export const TRAFFIC_LABELS = ISTIO_PARTY_LABELS;

export type TrafficLabels = Record<(typeof TRAFFIC_LABELS)[number], string>;
export type Reporter = 'source' | 'destination';
export type SecurityPolicy = 'mutual_tls' | 'unknown';

export interface TrafficParties {
  reporter: Reporter;
  source?: Workload | undefined;
  /** The source identity as authenticated (TLS peer) or as we present it. */
  sourceIdentity?: string | undefined;
  destination?: Workload | undefined;
  destinationService?: Service | undefined;
  destinationIdentity?: string | undefined;
  securityPolicy: SecurityPolicy;
}

const UNKNOWN = 'unknown';

export function trafficLabels(parties: TrafficParties, responseFlags: L4ResponseFlag = '-'): TrafficLabels {
  const { source, destination, destinationService: service } = parties;
  return {
    reporter: parties.reporter,
    source_workload: source?.canonicalName ?? UNKNOWN,
    source_canonical_service: source?.canonicalName ?? UNKNOWN,
    source_canonical_revision: source?.canonicalRevision ?? UNKNOWN,
    source_workload_namespace: source?.namespace ?? UNKNOWN,
    source_principal: parties.sourceIdentity ?? UNKNOWN,
    source_app: source?.canonicalName ?? UNKNOWN,
    source_version: source?.canonicalRevision ?? UNKNOWN,
    destination_service: service?.hostname ?? UNKNOWN,
    destination_service_namespace: service?.namespace ?? UNKNOWN,
    destination_service_name: service?.name ?? UNKNOWN,
    destination_workload: destination?.canonicalName ?? UNKNOWN,
    destination_canonical_service: destination?.canonicalName ?? UNKNOWN,
    destination_canonical_revision: destination?.canonicalRevision ?? UNKNOWN,
    destination_workload_namespace: destination?.namespace ?? UNKNOWN,
    destination_principal: parties.destinationIdentity ?? destination?.identity ?? UNKNOWN,
    destination_app: destination?.canonicalName ?? UNKNOWN,
    destination_version: destination?.canonicalRevision ?? UNKNOWN,
    request_protocol: 'tcp',
    response_flags: responseFlags,
    connection_security_policy: parties.securityPolicy,
  };
}

export interface ZtunnelGaugeSources {
  /** Pooled HBONE connections and their streams. */
  pool(): { connections: number; streams: number };
  /** Live proxied connections per direction. */
  connections(): Record<string, number>;
  /** Identity -> seconds until its certificate expires. */
  certificates(): Promise<Map<string, number>>;
  /** Called at every scrape before the byte counters are read: add what live connections moved since. */
  flushBytes(): void;
}

export class ZtunnelMetrics {
  readonly registry = new Registry();
  readonly tcpOpened: Counter<(typeof TRAFFIC_LABELS)[number]>;
  readonly tcpClosed: Counter<(typeof TRAFFIC_LABELS)[number]>;
  readonly sentBytes: Counter<(typeof TRAFFIC_LABELS)[number]>;
  readonly receivedBytes: Counter<(typeof TRAFFIC_LABELS)[number]>;
  readonly hboneRefused: Counter<'reason'>;
  readonly hboneConnectionFailures: Counter<'reason'>;
  readonly connectionsRefused: Counter<'listener' | 'reason'>;
  readonly dnsRequests: Counter<'source_workload' | 'source_workload_namespace' | 'rcode' | 'answered_by'>;
  readonly dnsUpstreamRequests: Counter<never>;
  readonly dnsUpstreamFailures: Counter<never>;
  readonly dnsRefused: Counter<'transport' | 'reason'>;
  readonly snapshotUpdates: Counter<'result'>;
  #sources: ZtunnelGaugeSources | undefined;

  constructor() {
    const registers = [this.registry];
    // Both byte counters flush live connections before they are read (a second flush adds nothing).
    const flush = () => this.#sources?.flushBytes();
    const tcp = istioTcpCounters(this.registry, 'ztunnel', flush);
    this.tcpOpened = tcp.opened;
    this.tcpClosed = tcp.closed;
    this.receivedBytes = tcp.received;
    this.sentBytes = tcp.sent;
    this.hboneRefused = new Counter({
      name: 'ambit_ztunnel_hbone_refused_total',
      help: 'Connections or requests refused on the HBONE port (bad TLS, bad identity, not h2, bad CONNECT)',
      labelNames: ['reason'],
      registers,
    });
    this.hboneConnectionFailures = new Counter({
      name: 'ambit_ztunnel_hbone_connection_failures_total',
      help: 'Outbound HBONE connections that could not be established',
      labelNames: ['reason'],
      registers,
    });
    this.connectionsRefused = new Counter({
      name: 'ambit_ztunnel_connections_refused_total',
      help: 'Connections and tunnels refused before relaying: relay loops and resource limits, by listener and reason',
      labelNames: ['listener', 'reason'],
      registers,
    });
    this.dnsRequests = new Counter({
      name: 'istio_dns_requests_total',
      help: 'Total number of DNS requests',
      labelNames: ['source_workload', 'source_workload_namespace', 'rcode', 'answered_by'],
      registers,
    });
    this.dnsUpstreamRequests = new Counter({
      name: 'istio_dns_upstream_requests_total',
      help: 'Total number of DNS requests forwarded to an upstream resolver',
      registers,
    });
    this.dnsUpstreamFailures = new Counter({
      name: 'istio_dns_upstream_failures_total',
      help: 'Total number of failed forwarded DNS requests',
      registers,
    });
    this.dnsRefused = new Counter({
      name: 'ambit_ztunnel_dns_refused_total',
      help: 'DNS messages dropped unanswered (too malformed for even a FORMERR) and TCP clients closed idle',
      labelNames: ['transport', 'reason'],
      registers,
    });
    this.snapshotUpdates = new Counter({
      name: 'ambit_ztunnel_config_updates_total',
      help: 'Configuration snapshots received, by result (accepted, refused)',
      labelNames: ['result'],
      registers,
    });
    const sources = () => this.#sources;
    new Gauge({
      name: 'ambit_ztunnel_hbone_pool_connections',
      help: 'Pooled outbound HBONE connections',
      registers,
      collect() {
        this.set(sources()?.pool().connections ?? 0);
      },
    });
    new Gauge({
      name: 'ambit_ztunnel_hbone_pool_streams',
      help: 'CONNECT streams open on pooled outbound HBONE connections',
      registers,
      collect() {
        this.set(sources()?.pool().streams ?? 0);
      },
    });
    new Gauge({
      name: 'ambit_ztunnel_active_connections',
      help: 'Proxied connections open now, by direction',
      labelNames: ['direction'],
      registers,
      collect() {
        this.reset();
        for (const [direction, count] of Object.entries(sources()?.connections() ?? {}))
          this.set({ direction }, count);
      },
    });
    new Gauge({
      name: 'ambit_ztunnel_certificate_expiry_seconds',
      help: 'Seconds until the workload certificate of each identity served by this node expires',
      labelNames: ['identity'],
      registers,
      async collect() {
        this.reset();
        const certificates = await sources()?.certificates();
        for (const [identity, seconds] of certificates ?? []) this.set({ identity }, seconds);
      },
    });
  }

  /** Where the gauges read their values (the ztunnel, once built). */
  attach(sources: ZtunnelGaugeSources): void {
    this.#sources = sources;
  }

  /** The Prometheus text exposition. */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}
