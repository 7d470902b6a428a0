/**
 * The series behind the graph, written after Kiali's graph queries: rates over one minute of Istio's
 * standard metrics, by the parties' labels, for the reporters that see each kind of traffic here (the
 * waypoint for HTTP, the destination ztunnel for TCP). `namespace` and `app` are the reporting pod's target
 * labels (the local Prometheus adds them as Istio's does, and so does the dashboard's own scraper): for a
 * waypoint they name it.
 *
 * Each query is data, so that one definition serves both sources: rendered as PromQL for Prometheus
 * (`promql`), or evaluated by the dashboard over its own scrapes of the mesh (evaluate.ts).
 */
import type { GraphInputs } from './graph.ts';

export interface LabelMatcher {
  label: string;
  op: '=' | '!=' | '=~';
  value: string;
}

/** `sum(rate(<metric>{matchers}[RANGE])) by (by)`, or with `quantile`, `histogram_quantile` of its buckets. */
export interface SeriesQuery {
  /** A counter, or with `quantile` a histogram's base name (its `_bucket` series are read). */
  metric: string;
  matchers: readonly LabelMatcher[];
  by: readonly string[];
  quantile?: number | undefined;
}

/** Prometheus' window for rates; the dashboard's scraper keeps as much history. */
export const RATE_WINDOW_SECONDS = 60;

const PARTIES = [
  'source_workload',
  'source_workload_namespace',
  'destination_workload',
  'destination_workload_namespace',
];
const HTTP_BY = [
  ...PARTIES,
  'destination_service_name',
  'destination_service_namespace',
  'reporter',
  'namespace',
  'app',
];
const HTTP_REPORTERS: LabelMatcher = { label: 'reporter', op: '=~', value: 'waypoint|destination' };
const DESTINATION: LabelMatcher = { label: 'reporter', op: '=', value: 'destination' };

export const GRAPH_SERIES: Record<keyof GraphInputs, SeriesQuery> = {
  requests: {
    metric: 'istio_requests_total',
    matchers: [HTTP_REPORTERS],
    by: [...HTTP_BY, 'response_code', 'connection_security_policy'],
  },
  durationsP99: {
    metric: 'istio_request_duration_milliseconds',
    matchers: [HTTP_REPORTERS],
    by: HTTP_BY,
    quantile: 0.99,
  },
  tcpSent: {
    metric: 'istio_tcp_sent_bytes_total',
    matchers: [DESTINATION],
    by: [...PARTIES, 'connection_security_policy'],
  },
  tcpReceived: {
    metric: 'istio_tcp_received_bytes_total',
    matchers: [DESTINATION],
    by: [...PARTIES, 'connection_security_policy'],
  },
  tcpOpened: {
    metric: 'istio_tcp_connections_opened_total',
    matchers: [DESTINATION],
    by: [...PARTIES, 'connection_security_policy'],
  },
  tcpFailed: {
    metric: 'istio_tcp_connections_closed_total',
    matchers: [DESTINATION, { label: 'response_flags', op: '!=', value: '-' }],
    by: PARTIES,
  },
};

/** The PromQL of a query, as Prometheus is asked it. */
export function promql(query: SeriesQuery): string {
  const selector = query.matchers.map((m) => `${m.label}${m.op}${JSON.stringify(m.value)}`).join(', ');
  const name = query.quantile === undefined ? query.metric : `${query.metric}_bucket`;
  const by = query.quantile === undefined ? query.by : ['le', ...query.by];
  const sum = `sum(rate(${name}{${selector}}[${RATE_WINDOW_SECONDS}s])) by (${by.join(', ')})`;
  return query.quantile === undefined ? sum : `histogram_quantile(${query.quantile}, ${sum})`;
}

export const GRAPH_QUERIES = Object.fromEntries(
  Object.entries(GRAPH_SERIES).map(([name, query]) => [name, promql(query)]),
) as Record<keyof GraphInputs, string>;
