/**
 * `ambit dashboard`: the service graph of a local cluster in a browser, served on 127.0.0.1, read from the
 * cluster's Prometheus (`ambit local up --prometheus`) through a port forward into its pod.
 */
import { spawn } from 'node:child_process';
import { AmbitError, UsageError } from '../../core/errors.ts';
import { PrometheusApi } from '../../dashboard/prometheus.ts';
import { startDashboard } from '../../dashboard/server.ts';
import { findPod } from '../../local/pods.ts';
import { startPortForward } from '../../local/port-forward.ts';
import {
  ISTIO_SYSTEM_NAMESPACE,
  PROMETHEUS_POD,
  PROMETHEUS_PORT,
} from '../../local/prometheus/scrape-config.ts';
import { requireClusterState, selectCluster, stateRoot } from '../../local/state.ts';
import { parseCommandArgs } from '../args.ts';

/** Kiali's port. */
const DEFAULT_PORT = 20001;

const USAGE = `Usage: ambit dashboard [--name CLUSTER] [--port ${DEFAULT_PORT}] [--open]

Serves a live service graph of the local cluster on http://127.0.0.1:PORT/ (0 picks a free port): workloads,
services and waypoints, edges with request rate, error rate and p99 (HTTP) or bytes (TCP), a lock where all
traffic is mutual TLS, Kiali's health colours. It reads the cluster's Prometheus (\`ambit local up
--prometheus\`). --open starts a browser (xdg-open). Runs until interrupted.
`;

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
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const port = values.port === undefined ? DEFAULT_PORT : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port takes 0-65535');
  const root = stateRoot();
  const cluster = requireClusterState(root, selectCluster(root, values.name));
  let pod: ReturnType<typeof findPod>;
  try {
    pod = findPod(cluster, PROMETHEUS_POD, ISTIO_SYSTEM_NAMESPACE);
  } catch {
    throw new AmbitError(
      'NOT_FOUND',
      `cluster ${cluster.name} runs no Prometheus: bring it up with \`ambit local up --prometheus\` (or spec.prometheus: true)`,
    );
  }
  const forward = await startPortForward({
    netnsPath: pod.netnsPath,
    mapping: { hostPort: 0, podPort: PROMETHEUS_PORT },
  });
  const dashboard = await startDashboard({
    prometheus: new PrometheusApi(`http://${forward.address}`),
    cluster: cluster.name,
    port,
  });
  process.stdout.write(`dashboard of cluster ${cluster.name}: ${dashboard.url}\n`);
  if (values.open)
    spawn('xdg-open', [dashboard.url], { stdio: 'ignore', detached: true })
      .on('error', () => {})
      .unref();
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await dashboard.close();
  await forward.close();
  return 0;
}
