/**
 * What the local cluster's Prometheus scrapes, as pure functions of the cluster record: one job per kind of
 * mesh component (every node's ztunnel, the control plane, every waypoint, every ingress gateway), each
 * target with the labels that Istio's own Prometheus (its `kubernetes-pods` job) would add (`namespace`,
 * `pod`, `app`, plus the pod's node), so that Istio's Grafana dashboards and Kiali's queries run unchanged.
 *
 * The configuration names one file of targets per job (`file_sd_configs`): Prometheus re-reads those files
 * when they change, so a waypoint deployed while the cluster runs is scraped without a restart.
 */
import { join } from 'node:path';
import { stringify } from 'yaml';
import { GATEWAY_NAME_LABEL } from '../../core/labels.ts';
import { CONTROL_PLANE_PORTS, WAYPOINT_PORTS, ZTUNNEL_PORTS } from '../../core/ports.ts';
import type { ClusterState } from '../types.ts';

/** The namespace Istio's components live in; the Prometheus pod joins them there, as Istio's addon does. */
export const ISTIO_SYSTEM_NAMESPACE = 'istio-system';
export const PROMETHEUS_POD = 'prometheus';
export const PROMETHEUS_PORT = 9090;
/** Short enough that rates over `[1m]` (what Istio's dashboards use) hold many samples. */
export const SCRAPE_INTERVAL_SECONDS = 5;

export const SCRAPE_JOBS = ['ztunnel', 'istiod', 'waypoint', 'gateway'] as const;
/** How istiod marks the pods it deploys for a Gateway: a waypoint's, or an ingress gateway's. */
const MANAGED_LABEL = 'gateway.istio.io/managed';
const INGRESS_MANAGER = 'istio.io-gateway-controller';
export type ScrapeJob = (typeof SCRAPE_JOBS)[number];

/** One entry of a `file_sd_configs` file. */
export interface TargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

/** The ztunnel of each node, named as Istio's DaemonSet pods are looked up by its dashboards (`ztunnel-.*`). */
export function ztunnelPodName(node: string): string {
  return `ztunnel-${node}`;
}

/** The targets of every job, from the cluster as recorded (waypoint pods come and go while it runs). */
export function scrapeTargets(
  cluster: Pick<ClusterState, 'nodes' | 'pods'>,
): Record<ScrapeJob, TargetGroup[]> {
  const controlNode = cluster.nodes[0];
  return {
    ztunnel: cluster.nodes.map((node) => ({
      targets: [`${node.underlayIP}:${ZTUNNEL_PORTS.metrics}`],
      labels: {
        namespace: ISTIO_SYSTEM_NAMESPACE,
        pod: ztunnelPodName(node.name),
        app: 'ztunnel',
        node: node.name,
      },
    })),
    istiod: controlNode
      ? [
          {
            targets: [`${controlNode.underlayIP}:${CONTROL_PLANE_PORTS.metrics}`],
            labels: {
              namespace: ISTIO_SYSTEM_NAMESPACE,
              pod: 'istiod',
              app: 'istiod',
              node: controlNode.name,
            },
          },
        ]
      : [],
    waypoint: gatewayPods(cluster, false),
    gateway: gatewayPods(cluster, true),
  };
}

/** The pods deployed for Gateways (waypoints, or ingress gateways): the same proxy, metrics on 15020. */
function gatewayPods(cluster: Pick<ClusterState, 'pods'>, ingress: boolean): TargetGroup[] {
  return cluster.pods
    .filter(
      (pod) =>
        pod.owner?.kind === 'Gateway' &&
        pod.ips[0] !== undefined &&
        (pod.labels[MANAGED_LABEL] === INGRESS_MANAGER) === ingress,
    )
    .map((pod) => ({
      targets: [`${pod.ips[0]}:${WAYPOINT_PORTS.metrics}`],
      labels: {
        namespace: pod.namespace,
        pod: pod.name,
        app: pod.labels[GATEWAY_NAME_LABEL] ?? pod.owner!.name,
        node: pod.node,
      },
    }));
}

/** The targets file of `job` in the Prometheus directory. */
export function targetsFile(dir: string, job: ScrapeJob): string {
  return join(dir, `targets-${job}.json`);
}

/** `prometheus.yml`: one job per component, each reading its targets file. */
export function prometheusConfig(dir: string): string {
  return stringify({
    global: {
      scrape_interval: `${SCRAPE_INTERVAL_SECONDS}s`,
      scrape_timeout: `${SCRAPE_INTERVAL_SECONDS - 1}s`,
      evaluation_interval: `${SCRAPE_INTERVAL_SECONDS}s`,
    },
    scrape_configs: SCRAPE_JOBS.map((job) => ({
      job_name: job,
      metrics_path: '/metrics',
      file_sd_configs: [{ files: [targetsFile(dir, job)], refresh_interval: '30s' }],
    })),
  });
}
