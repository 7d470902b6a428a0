/**
 * A real Prometheus (Debian's `prometheus` binary) in the local cluster, as a ClusterExtension that `ambit
 * local up --prometheus` (or the Cluster's `spec.prometheus: true`) adds: like Istio's Prometheus addon, a
 * pod `prometheus` in `istio-system`, in its own network namespace, unprivileged, outside the mesh, that
 * scrapes every node's ztunnel, the control plane and every waypoint (see scrape-config.ts). Nothing routes
 * the cluster's ranges from the host: its UI and API are reached with `ambit local port-forward prometheus
 * 9090`, which connects inside the pod's namespace.
 *
 * Its files live in `<state>/prometheus/`: the configuration, one targets file per job (rewritten when a
 * waypoint comes or goes; Prometheus re-reads them by itself) and the TSDB, owned by the pod's user.
 */
import { chownSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../../core/errors.ts';
import { writeFileAtomic } from '../../core/files.ts';
import { DATAPLANE_MODE_LABEL, DATAPLANE_MODE_NONE } from '../../core/labels.ts';
import { createLogger } from '../../core/log.ts';
import { type ClusterExtension, type ExtensionContext, perContext } from '../extensions.ts';
import { DEFAULT_POD_USER } from '../plan.ts';
import { loopbackHttpReadiness, type PodTemplate } from '../pod-runtime.ts';
import type { ClusterState } from '../types.ts';
import {
  ISTIO_SYSTEM_NAMESPACE,
  PROMETHEUS_POD,
  PROMETHEUS_PORT,
  prometheusConfig,
  SCRAPE_JOBS,
  scrapeTargets,
  targetsFile,
} from './scrape-config.ts';

/** Debian's package puts it here; `.ci/run` installs it. */
export const PROMETHEUS_BINARY = '/usr/bin/prometheus';
/** Enough for a test run or an afternoon with the dashboard; the TSDB goes with the cluster anyway. */
const RETENTION = '6h';

const log = createLogger('local.prometheus');

export function prometheusDir(cluster: Pick<ClusterState, 'stateDir'>): string {
  return join(cluster.stateDir, 'prometheus');
}

/** The Prometheus pod: its own netns, user nobody, not enrolled, ready once Prometheus says it is. */
export function prometheusPod(cluster: Pick<ClusterState, 'stateDir'>): PodTemplate {
  const dir = prometheusDir(cluster);
  return {
    name: PROMETHEUS_POD,
    namespace: ISTIO_SYSTEM_NAMESPACE,
    serviceAccount: PROMETHEUS_POD,
    labels: { app: PROMETHEUS_POD, [DATAPLANE_MODE_LABEL]: DATAPLANE_MODE_NONE },
    // Owned by the cluster's addon, not by the config: the live objects' reconciler leaves it alone.
    owner: { kind: 'Addon', name: PROMETHEUS_POD },
    runAsUser: DEFAULT_POD_USER,
    runAsGroup: DEFAULT_POD_USER,
    container: {
      name: PROMETHEUS_POD,
      argv: [
        PROMETHEUS_BINARY,
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--storage.tsdb.retention.time=${RETENTION}`,
        `--web.listen-address=0.0.0.0:${PROMETHEUS_PORT}`,
        '--log.level=warn',
      ],
      env: {},
      workingDir: dir,
      ports: [{ name: 'http', containerPort: PROMETHEUS_PORT, protocol: 'TCP' }],
      probes: { readiness: loopbackHttpReadiness('/-/ready', PROMETHEUS_PORT) },
    },
    restartPolicy: 'Always',
  };
}

/** Writes a file only when its content changed (Prometheus reloads a targets file on every write). */
function writeIfChanged(path: string, content: string): void {
  if (existsSync(path) && readFileSync(path, 'utf8') === content) return;
  writeFileAtomic(path, content, 0o644);
}

/** Writes the targets of every job from the cluster as it is now. */
export function writeTargets(cluster: ClusterState): void {
  const targets = scrapeTargets(cluster);
  for (const job of SCRAPE_JOBS) {
    writeIfChanged(targetsFile(prometheusDir(cluster), job), `${JSON.stringify(targets[job], null, 2)}\n`);
  }
}

/** The configuration, the targets and a TSDB directory the pod's user owns. */
export function writePrometheusFiles(cluster: ClusterState): void {
  const dir = prometheusDir(cluster);
  mkdirSync(join(dir, 'data'), { recursive: true, mode: 0o755 });
  chownSync(join(dir, 'data'), DEFAULT_POD_USER, DEFAULT_POD_USER);
  writeIfChanged(join(dir, 'prometheus.yml'), prometheusConfig(dir));
  writeTargets(cluster);
}

/** The supervisor's side: deploys the pod once, then keeps the targets in step with the cluster. */
class PrometheusDeployment {
  readonly #context: ExtensionContext;
  #started = false;

  constructor(context: ExtensionContext) {
    this.#context = context;
  }

  processChanged(): void {
    const { cluster, pods } = this.#context;
    try {
      writeTargets(cluster);
    } catch (error) {
      log.warn('cannot write the scrape targets', { error: errorMessage(error) });
    }
    if (this.#started || !pods) return;
    this.#started = true;
    const uid = `${ISTIO_SYSTEM_NAMESPACE}/${PROMETHEUS_POD}`;
    if (cluster.pods.some((pod) => pod.uid === uid)) return;
    pods.add(prometheusPod(cluster)).then(
      (pod) => log.info('prometheus deployed', { pod: pod.uid, node: pod.node, ip: pod.ips[0] }),
      (error: unknown) => log.warn('cannot deploy prometheus', { error: errorMessage(error) }),
    );
  }
}

const perCluster = perContext((context) => new PrometheusDeployment(context));

export const extension: ClusterExtension = {
  name: 'prometheus',

  async prepare({ cluster }) {
    writePrometheusFiles(cluster);
  },

  async processChanged(_process, context) {
    perCluster.get(context).processChanged();
  },

  async stop(context) {
    perCluster.drop(context);
  },
};
