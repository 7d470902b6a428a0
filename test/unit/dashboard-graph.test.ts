/**
 * The dashboard's service graph, by tables: Kiali's health thresholds, and the graph built from Prometheus
 * vectors (HTTP paths through a waypoint, TCP edges where no HTTP path joins the workloads, the mTLS lock,
 * errors from response codes and TCP response flags, p99 per edge).
 */
import { describe, expect, it } from 'vitest';
import { buildGraph, edgeHealth, type GraphInputs } from '../../src/dashboard/graph.ts';
import type { PromSample } from '../../src/dashboard/prometheus.ts';
import { GRAPH_QUERIES } from '../../src/dashboard/queries.ts';

const sample = (metric: Record<string, string>, value: number): PromSample => ({
  metric,
  value: [0, String(value)],
});
const NONE: GraphInputs = {
  requests: [],
  durationsP99: [],
  tcpSent: [],
  tcpReceived: [],
  tcpOpened: [],
  tcpFailed: [],
};

const viaWaypoint = {
  reporter: 'waypoint',
  namespace: 'web',
  app: 'waypoint',
  source_workload: 'client',
  source_workload_namespace: 'apps',
  destination_service_name: 'echo',
  destination_service_namespace: 'web',
  destination_workload: 'echo',
  destination_workload_namespace: 'web',
  connection_security_policy: 'mutual_tls',
};
const tcp = (source: string, destination: string, policy = 'mutual_tls') => ({
  source_workload: source,
  source_workload_namespace: 'apps',
  destination_workload: destination,
  destination_workload_namespace: 'apps',
  connection_security_policy: policy,
});

describe('edge health (Kiali defaults)', () => {
  it.each([
    [0, 0, 0, 'idle'],
    [1, 0, 0, 'healthy'],
    [1, 0.09, 0.09, 'healthy'],
    [1, 0, 0.1, 'degraded'],
    [1, 0, 0.19, 'degraded'],
    [1, 0, 0.2, 'failure'],
    [1, 0.1, 0, 'failure'],
    [1, 0.5, 0.5, 'failure'],
  ] as const)('rate %d, 5xx %d, 4xx %d: %s', (rate, e5, e4, health) => {
    expect(edgeHealth(rate, e5, e4)).toBe(health);
  });
});

describe('the graph', () => {
  it('draws an HTTP request along source -> waypoint -> service -> workload, with its errors and p99', () => {
    const graph = buildGraph({
      ...NONE,
      requests: [
        sample({ ...viaWaypoint, response_code: '200' }, 3),
        sample({ ...viaWaypoint, response_code: '403', destination_workload: 'unknown' }, 1),
      ],
      durationsP99: [sample(viaWaypoint, 12.5)],
    });
    expect(graph.nodes.map((n) => `${n.kind} ${n.id}`)).toEqual([
      'service service:web/echo',
      'waypoint waypoint:web/waypoint',
      'workload workload:apps/client',
      'workload workload:web/echo',
    ]);
    const byId = new Map(graph.edges.map((e) => [e.id, e]));
    expect(byId.get('http:workload:apps/client->waypoint:web/waypoint')).toMatchObject({
      rate: 4,
      errorRate4xx: 0.25,
      health: 'failure',
      mtls: true,
      p99Ms: 12.5,
    });
    // The denied request reached no workload: only the allowed ones continue past the service.
    expect(byId.get('http:service:web/echo->workload:web/echo')).toMatchObject({
      rate: 3,
      health: 'healthy',
    });
  });

  it.each([
    ['all mutual TLS: a lock', [tcp('client', 'db')], true],
    ['one plaintext series: no lock', [tcp('client', 'db'), tcp('client', 'db', 'unknown')], false],
  ])('TCP edges: %s', (_what, series, mtls) => {
    const graph = buildGraph({
      ...NONE,
      tcpOpened: series.map((m) => sample(m, 2)),
      tcpSent: [sample(tcp('client', 'db'), 100)],
      tcpReceived: [sample(tcp('client', 'db'), 50)],
    });
    expect(graph.edges).toHaveLength(1);
    expect(graph.edges[0]).toMatchObject({
      id: 'tcp:workload:apps/client->workload:apps/db',
      mtls,
      bytesRate: 150,
    });
  });

  it('counts TCP connections closed with a response flag (denied, failed) as errors', () => {
    const graph = buildGraph({
      ...NONE,
      tcpOpened: [sample(tcp('client', 'db'), 2)],
      tcpFailed: [sample(tcp('client', 'db'), 1)],
    });
    expect(graph.edges[0]).toMatchObject({ errorRate5xx: 0.5, health: 'failure' });
  });

  it('draws no TCP edge between workloads an HTTP path already joins, and none to unknown parties', () => {
    const graph = buildGraph({
      ...NONE,
      requests: [sample({ ...viaWaypoint, response_code: '200' }, 1)],
      tcpOpened: [
        sample({ ...tcp('client', 'echo'), destination_workload_namespace: 'web' }, 1),
        sample(tcp('unknown', 'db'), 1),
      ],
    });
    expect(graph.edges.every((e) => e.protocol === 'http')).toBe(true);
  });

  it('colours nodes by health: a denied path fails the waypoint and the service, not the workload', () => {
    const graph = buildGraph({
      ...NONE,
      requests: [
        sample({ ...viaWaypoint, response_code: '403', destination_workload: 'unknown' }, 1),
        sample({ ...viaWaypoint, response_code: '200' }, 1),
      ],
    });
    expect(Object.fromEntries(graph.nodes.map((n) => [n.id, n.health]))).toEqual({
      'workload:apps/client': 'failure',
      'waypoint:web/waypoint': 'failure',
      'service:web/echo': 'failure',
      'workload:web/echo': 'healthy',
    });
  });

  it('asks Prometheus one query per input', () => {
    expect(Object.keys(GRAPH_QUERIES).sort()).toEqual(Object.keys(NONE).sort());
  });
});
