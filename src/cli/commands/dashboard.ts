/**
 * `ambit dashboard`: the service graph of a local cluster in a browser, served on 127.0.0.1, read from the
 * cluster's Prometheus (`ambit local up --prometheus`) through a port forward into its pod, or, on a
 * cluster without one, from the mesh's own metrics endpoints, which the dashboard then scrapes itself.
 */
import { spawn } from 'node:child_process';
import { stopSignal } from '../../core/stop-signal.ts';
import { readConnections, readPolicies, readServices, readWorkloads } from '../../dashboard/mesh-reader.ts';
import { MeshScraper } from '../../dashboard/mesh-scraper.ts';
import { PrometheusApi } from '../../dashboard/prometheus.ts';
import { startDashboard } from '../../dashboard/server.ts';
import { type GraphSource, graphView, meshSource, prometheusSource } from '../../dashboard/source.ts';
import { startPortForward } from '../../local/port-forward.ts';
import {
  ISTIO_SYSTEM_NAMESPACE,
  PROMETHEUS_POD,
  PROMETHEUS_PORT,
} from '../../local/prometheus/scrape-config.ts';
import { requireClusterState, selectCluster, stateRoot } from '../../local/state.ts';
import type { ClusterState } from '../../local/types.ts';
import { parseCommandArgs, printedHelp } from '../args.ts';
import { portFlag } from '../flags.ts';

/** Kiali's port. */
const DEFAULT_PORT = 20001;

const USAGE = `Usage: ambit dashboard [--name CLUSTER] [--port ${DEFAULT_PORT}] [--open]

Serves a live service graph of the local cluster on http://127.0.0.1:PORT/ (0 picks a free port): workloads,
services and waypoints, edges with request rate, error rate and p99 (HTTP) or bytes (TCP), a lock where all
traffic is mutual TLS, Kiali's health colours; and tables of the workloads (identity, node, capture,
certificate expiry), services (endpoints, waypoint, routes), policies (what they select) and a ztunnel's
live connections. It reads the cluster's Prometheus (\`ambit local up
--prometheus\`) if it runs one, else scrapes the ztunnels' and waypoints' metrics endpoints itself.
--open starts a browser (xdg-open). Runs until interrupted.
`;

interface OpenSource {
  source: GraphSource;
  close(): Promise<void>;
}

/** The cluster's Prometheus through a port forward, or the dashboard's own scraper of the mesh. */
async function openGraphSource(root: string, cluster: ClusterState): Promise<OpenSource> {
  const prometheus = cluster.pods.find(
    (pod) => pod.name === PROMETHEUS_POD && pod.namespace === ISTIO_SYSTEM_NAMESPACE,
  );
  if (prometheus) {
    const forward = await startPortForward({
      netnsPath: prometheus.netnsPath,
      mapping: { hostPort: 0, podPort: PROMETHEUS_PORT },
    });
    const api = new PrometheusApi(`http://${forward.address}`);
    return {
      source: prometheusSource(api, `${ISTIO_SYSTEM_NAMESPACE}/${PROMETHEUS_POD}`),
      close: () => forward.close(),
    };
  }
  const scraper = new MeshScraper(() => requireClusterState(root, cluster.name));
  scraper.start();
  return { source: meshSource(scraper), close: async () => scraper.close() };
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(
    {
      args: argv,
      options: {
        name: { type: 'string' },
        port: { type: 'string' },
        open: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    },
    USAGE,
  );
  if (printedHelp(values, USAGE)) return 0;
  const port = portFlag(values.port, 'port', DEFAULT_PORT, { allowPortZero: true });
  const root = stateRoot();
  const cluster = requireClusterState(root, selectCluster(root, values.name));
  const graph = await openGraphSource(root, cluster);
  // The cluster record is read again for every view: pods and waypoints come and go while it runs.
  const live = () => requireClusterState(root, cluster.name);
  const dashboard = await startDashboard({
    views: {
      graph: () => graphView(graph.source),
      workloads: () => readWorkloads(live()),
      services: () => readServices(live()),
      policies: () => readPolicies(live()),
      connections: (query) => readConnections(live(), query.get('node')),
    },
    cluster: cluster.name,
    port,
  });
  process.stdout.write(
    `dashboard of cluster ${cluster.name}: ${dashboard.url} (graph from ${graph.source.describe()})\n`,
  );
  if (values.open)
    spawn('xdg-open', [dashboard.url], { stdio: 'ignore', detached: true })
      .on('error', () => {})
      .unref();
  await stopSignal();
  await dashboard.close();
  await graph.close();
  return 0;
}
