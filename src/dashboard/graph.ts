/**
 * The service graph, as a pure function of what Prometheus answers to Kiali's queries (see queries.ts):
 * workloads, services and waypoints as nodes; HTTP edges (request rate, error rates, p99) along the path
 * a request takes through a waypoint (source -> waypoint -> service -> workload), and TCP edges (bytes and
 * connections per second) between workloads that no HTTP path already joins. An edge carries a lock when
 * all its traffic is mutual TLS, and a health from Kiali's default thresholds.
 */
import type { PromSample } from './prometheus.ts';

export type NodeKind = 'workload' | 'service' | 'waypoint';
export type Health = 'healthy' | 'degraded' | 'failure' | 'idle';

export interface GraphNode {
  id: string;
  kind: NodeKind;
  namespace: string;
  name: string;
  /** From the traffic it receives, or for a node that only sends, the traffic it sends (nodeHealth). */
  health: Health;
}

export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  protocol: 'http' | 'tcp';
  /** HTTP: requests per second; TCP: connections opened per second. */
  rate: number;
  /** Share of requests answered 5xx (HTTP), or of connections refused or failed (TCP, response flags). */
  errorRate5xx: number;
  errorRate4xx: number;
  p99Ms?: number | undefined;
  /** TCP: bytes per second, both directions. */
  bytesRate?: number | undefined;
  /** Every series of the edge is `connection_security_policy="mutual_tls"`. */
  mtls: boolean;
  health: Health;
}

export interface ServiceGraph {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/** Which source answered the graph's queries (source.ts). */
export type GraphSourceKind = 'prometheus' | 'mesh';

/** What `/api/graph` answers: the graph, and where it was read. */
export interface GraphView extends ServiceGraph {
  source: { kind: GraphSourceKind; description: string };
}

/** What the graph is built from: one vector per query (queries.ts names them). */
export interface GraphInputs {
  requests: readonly PromSample[];
  durationsP99: readonly PromSample[];
  tcpSent: readonly PromSample[];
  tcpReceived: readonly PromSample[];
  tcpOpened: readonly PromSample[];
  tcpFailed: readonly PromSample[];
}

const UNKNOWN = 'unknown';

/**
 * Kiali's default thresholds: 5xx at 10% or more is a failure; 4xx at 10% degraded, at 20% a failure
 * (its `requests` tolerance for 4XX and 5XX); no traffic is idle.
 */
export function edgeHealth(rate: number, errorRate5xx: number, errorRate4xx: number): Health {
  if (rate <= 0) return 'idle';
  if (errorRate5xx >= 0.1 || errorRate4xx >= 0.2) return 'failure';
  if (errorRate4xx >= 0.1) return 'degraded';
  return 'healthy';
}

/** What a node's health is computed from: the sums of its edges' rates on one side. */
export interface TrafficTotals {
  rate: number;
  rate5xx: number;
  rate4xx: number;
}

/**
 * A node's health, as Kiali gives one to a workload or service: the thresholds of edgeHealth over all the
 * requests (or connections) it receives; a node that receives nothing (a client) is judged by what it
 * sends, and one with no traffic at all is idle.
 */
export function nodeHealth(inbound: TrafficTotals, outbound: TrafficTotals): Health {
  const totals = inbound.rate > 0 ? inbound : outbound;
  if (totals.rate <= 0) return 'idle';
  return edgeHealth(totals.rate, totals.rate5xx / totals.rate, totals.rate4xx / totals.rate);
}

const workloadId = (namespace: string, name: string) => `workload:${namespace}/${name}`;
const serviceId = (namespace: string, name: string) => `service:${namespace}/${name}`;
const waypointId = (namespace: string, name: string) => `waypoint:${namespace}/${name}`;

interface EdgeTotals {
  source: string;
  target: string;
  protocol: 'http' | 'tcp';
  rate: number;
  rate5xx: number;
  rate4xx: number;
  bytesRate: number;
  allMtls: boolean;
  p99Ms?: number | undefined;
}

const sampleValue = (sample: PromSample) => {
  const value = Number(sample.value[1]);
  return Number.isFinite(value) ? value : 0;
};

export function buildGraph(inputs: GraphInputs): ServiceGraph {
  const nodes = new Map<string, GraphNode>();
  const edges = new Map<string, EdgeTotals>();
  const node = (id: string, kind: NodeKind, namespace: string, name: string) => {
    if (!nodes.has(id)) nodes.set(id, { id, kind, namespace, name, health: 'idle' });
    return id;
  };
  const edge = (source: string, target: string, protocol: 'http' | 'tcp') => {
    const id = `${protocol}:${source}->${target}`;
    let found = edges.get(id);
    if (!found) {
      found = { source, target, protocol, rate: 0, rate5xx: 0, rate4xx: 0, bytesRate: 0, allMtls: true };
      edges.set(id, found);
    }
    return found;
  };
  const known = (value: string | undefined): value is string => value !== undefined && value !== UNKNOWN;

  /** The HTTP path of a series: source -> waypoint (when one reported it) -> service -> workload. */
  const httpPath = (m: Record<string, string>): string[] => {
    const path: string[] = [];
    if (known(m.source_workload)) {
      path.push(
        node(
          workloadId(m.source_workload_namespace ?? UNKNOWN, m.source_workload),
          'workload',
          m.source_workload_namespace ?? UNKNOWN,
          m.source_workload,
        ),
      );
    }
    if (m.reporter === 'waypoint' && known(m.app) && known(m.namespace)) {
      path.push(node(waypointId(m.namespace, m.app), 'waypoint', m.namespace, m.app));
    }
    if (known(m.destination_service_name)) {
      const namespace = m.destination_service_namespace ?? UNKNOWN;
      path.push(
        node(
          serviceId(namespace, m.destination_service_name),
          'service',
          namespace,
          m.destination_service_name,
        ),
      );
    }
    if (known(m.destination_workload)) {
      const namespace = m.destination_workload_namespace ?? UNKNOWN;
      path.push(
        node(workloadId(namespace, m.destination_workload), 'workload', namespace, m.destination_workload),
      );
    }
    return path;
  };
  const pathEdges = (path: readonly string[]) =>
    path.slice(1).map((target, index) => edge(path[index]!, target, 'http'));

  const httpPairs = new Set<string>();
  for (const sample of inputs.requests) {
    const m = sample.metric;
    const rate = sampleValue(sample);
    const path = httpPath(m);
    if (path.length >= 2) httpPairs.add(`${path[0]}->${path.at(-1)}`);
    for (const totals of pathEdges(path)) {
      totals.rate += rate;
      if (m.response_code?.startsWith('5')) totals.rate5xx += rate;
      if (m.response_code?.startsWith('4')) totals.rate4xx += rate;
      if (m.connection_security_policy !== 'mutual_tls') totals.allMtls = false;
    }
  }
  for (const sample of inputs.durationsP99) {
    const value = sampleValue(sample);
    for (const totals of pathEdges(httpPath(sample.metric))) {
      totals.p99Ms = Math.max(totals.p99Ms ?? 0, value);
    }
  }

  /** A TCP series' workload pair, unless an HTTP path already joins the two. */
  const tcpEdge = (m: Record<string, string>) => {
    if (!known(m.source_workload) || !known(m.destination_workload)) return undefined;
    const sourceNamespace = m.source_workload_namespace ?? UNKNOWN;
    const destinationNamespace = m.destination_workload_namespace ?? UNKNOWN;
    const source = workloadId(sourceNamespace, m.source_workload);
    const target = workloadId(destinationNamespace, m.destination_workload);
    if (httpPairs.has(`${source}->${target}`)) return undefined;
    node(source, 'workload', sourceNamespace, m.source_workload);
    node(target, 'workload', destinationNamespace, m.destination_workload);
    return edge(source, target, 'tcp');
  };
  for (const sample of inputs.tcpOpened) {
    const totals = tcpEdge(sample.metric);
    if (!totals) continue;
    totals.rate += sampleValue(sample);
    if (sample.metric.connection_security_policy !== 'mutual_tls') totals.allMtls = false;
  }
  for (const sample of [...inputs.tcpSent, ...inputs.tcpReceived]) {
    const totals = tcpEdge(sample.metric);
    if (!totals) continue;
    totals.bytesRate += sampleValue(sample);
    if (sample.metric.connection_security_policy !== 'mutual_tls') totals.allMtls = false;
  }
  for (const sample of inputs.tcpFailed) {
    const totals = tcpEdge(sample.metric);
    if (totals) totals.rate5xx += sampleValue(sample);
  }

  const none = (): TrafficTotals => ({ rate: 0, rate5xx: 0, rate4xx: 0 });
  const inbound = new Map<string, TrafficTotals>();
  const outbound = new Map<string, TrafficTotals>();
  const add = (side: Map<string, TrafficTotals>, id: string, totals: EdgeTotals) => {
    const sum = side.get(id) ?? none();
    sum.rate += totals.rate;
    sum.rate5xx += totals.rate5xx;
    sum.rate4xx += totals.rate4xx;
    side.set(id, sum);
  };
  for (const totals of edges.values()) {
    add(inbound, totals.target, totals);
    add(outbound, totals.source, totals);
  }
  for (const graphNode of nodes.values()) {
    graphNode.health = nodeHealth(inbound.get(graphNode.id) ?? none(), outbound.get(graphNode.id) ?? none());
  }

  return {
    nodes: [...nodes.values()].sort((a, b) => a.id.localeCompare(b.id)),
    edges: [...edges.entries()]
      .map(([id, totals]) => {
        const errorRate5xx = totals.rate > 0 ? Math.min(1, totals.rate5xx / totals.rate) : 0;
        const errorRate4xx = totals.rate > 0 ? Math.min(1, totals.rate4xx / totals.rate) : 0;
        const active = totals.rate > 0 || totals.bytesRate > 0;
        return {
          id,
          source: totals.source,
          target: totals.target,
          protocol: totals.protocol,
          rate: totals.rate,
          errorRate5xx,
          errorRate4xx,
          p99Ms: totals.p99Ms,
          bytesRate: totals.protocol === 'tcp' ? totals.bytesRate : undefined,
          mtls: totals.allMtls,
          health: edgeHealth(active ? Math.max(totals.rate, 1e-9) : 0, errorRate5xx, errorRate4xx),
        };
      })
      .sort((a, b) => a.id.localeCompare(b.id)),
  };
}
