/**
 * Istio's four TCP metrics, declared once for every proxy that reports them (the ztunnel for all captured
 * connections, the waypoint for ports it proxies as bytes), so that names, labels and directions cannot drift
 * apart between the two: a Kiali or Grafana query sums both.
 */

import { ISTIO_PARTY_LABELS } from './istio-labels.ts';
import { Counter, type Registry } from './prometheus.ts';

export type IstioPartyLabel = (typeof ISTIO_PARTY_LABELS)[number];

export interface IstioTcpCounters {
  opened: Counter<IstioPartyLabel>;
  closed: Counter<IstioPartyLabel>;
  /** Bytes from the client towards the server (Istio's "received": the request direction). */
  received: Counter<IstioPartyLabel>;
  /** Bytes from the server back to the client. */
  sent: Counter<IstioPartyLabel>;
}

/**
 * Registers the four counters in `registry`. `proxy` names the reporter in the help text; `beforeBytesRead`
 * runs at each scrape before the byte counters are read (a proxy that counts bytes outside prom-client adds
 * them there, so the data path never touches prom-client per chunk).
 */
export function istioTcpCounters(
  registry: Registry,
  proxy: string,
  beforeBytesRead?: () => void,
): IstioTcpCounters {
  const counter = (name: string, help: string, collect?: () => void) =>
    new Counter({
      name,
      help: `${help}, reported by the ${proxy}`,
      labelNames: ISTIO_PARTY_LABELS,
      registers: [registry],
      ...(collect ? { collect } : {}),
    });
  return {
    opened: counter('istio_tcp_connections_opened_total', 'TCP connections opened'),
    closed: counter('istio_tcp_connections_closed_total', 'TCP connections closed'),
    received: counter(
      'istio_tcp_received_bytes_total',
      'Bytes received from the client on TCP connections',
      beforeBytesRead,
    ),
    sent: counter(
      'istio_tcp_sent_bytes_total',
      'Bytes sent to the client on TCP connections',
      beforeBytesRead,
    ),
  };
}
