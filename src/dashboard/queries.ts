/**
 * The PromQL behind the graph, written after Kiali's graph queries: rates over one minute of Istio's
 * standard metrics, by the parties' labels, for the reporters that see each kind of traffic here (the
 * waypoint for HTTP, the destination ztunnel for TCP). `namespace` and `app` are the reporting pod's target
 * labels (the local Prometheus adds them as Istio's does): for a waypoint they name it.
 */
import type { GraphInputs } from './graph.ts';

const PARTIES =
  'source_workload, source_workload_namespace, destination_workload, destination_workload_namespace';
const HTTP_BY = `${PARTIES}, destination_service_name, destination_service_namespace, reporter, namespace, app`;
const RANGE = '1m';

export const GRAPH_QUERIES: Record<keyof GraphInputs, string> = {
  requests: `sum(rate(istio_requests_total{reporter=~"waypoint|destination"}[${RANGE}])) by (${HTTP_BY}, response_code, connection_security_policy)`,
  durationsP99: `histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{reporter=~"waypoint|destination"}[${RANGE}])) by (le, ${HTTP_BY}))`,
  tcpSent: `sum(rate(istio_tcp_sent_bytes_total{reporter="destination"}[${RANGE}])) by (${PARTIES}, connection_security_policy)`,
  tcpReceived: `sum(rate(istio_tcp_received_bytes_total{reporter="destination"}[${RANGE}])) by (${PARTIES}, connection_security_policy)`,
  tcpOpened: `sum(rate(istio_tcp_connections_opened_total{reporter="destination"}[${RANGE}])) by (${PARTIES}, connection_security_policy)`,
  tcpFailed: `sum(rate(istio_tcp_connections_closed_total{reporter="destination", response_flags!="-"}[${RANGE}])) by (${PARTIES})`,
};
