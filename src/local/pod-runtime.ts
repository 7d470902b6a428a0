/**
 * Pods added to and removed from a running cluster (a waypoint for a Gateway applied later, and any runtime
 * that makes pods after `up`): placing one (node, address, names: a pure function of the cluster record),
 * then creating its network as `up` does for the pods of the cluster file (recorded in the journal first,
 * so `down` removes it whatever happens), and removing that network again. The supervisor runs these
 * steps (see supervisor/pods.ts); this module knows nothing of processes.
 */
import { rmSync } from 'node:fs';
import { AmbitError } from '../core/errors.ts';
import { formatIPv4, hostAddress, hostCount, parseCidr } from './addresses.ts';
import { netnsEtcDir, netnsPath, podNetns, podVethName } from './names.ts';
import { deleteNetns } from './netns.ts';
import { ipBatch } from './run.ts';
import { recordInJournal, type StatePaths } from './state.ts';
import { podCommands, podLinkCommands, writePodEtc } from './topology.ts';
import type { ClusterState, ContainerRecord, NodeRecord, PodRecord, ProbeRecord } from './types.ts';

/** What a runtime asks for: a pod without the parts the cluster assigns (address, names, veth). */
export interface PodTemplate {
  name: string;
  namespace: string;
  /** The node to run on; the one with the fewest pods when not given. */
  node?: string | undefined;
  serviceAccount: string;
  labels: Record<string, string>;
  annotations?: Record<string, string> | undefined;
  owner?: PodRecord['owner'];
  runAsUser: number;
  runAsGroup: number;
  /** POD_NAME, POD_NAMESPACE, POD_IP and NODE_NAME are added to its env, as for the cluster file's pods. */
  container: ContainerRecord;
  restartPolicy: PodRecord['restartPolicy'];
  /** Seconds between SIGTERM and SIGKILL at stop (Kubernetes' default: 30). */
  terminationGracePeriodSeconds?: number | undefined;
}

/** A readiness probe for a runtime pod's own HTTP endpoint on its loopback, every second. */
export function loopbackHttpReadiness(path: string, port: number): ProbeRecord {
  return {
    handler: { type: 'httpGet', path, port, host: '127.0.0.1', scheme: 'HTTP', headers: [] },
    initialDelaySeconds: 0,
    periodSeconds: 1,
    timeoutSeconds: 1,
    successThreshold: 1,
    failureThreshold: 3,
  };
}

/** The node with the fewest pods (the first such, in node order), as the plan's scheduler places pods. */
export function leastLoadedNode(cluster: Pick<ClusterState, 'nodes' | 'pods'>): NodeRecord {
  const load = (node: NodeRecord) => cluster.pods.filter((pod) => pod.node === node.name).length;
  let best = cluster.nodes[0];
  for (const node of cluster.nodes) if (best === undefined || load(node) < load(best)) best = node;
  if (best === undefined) throw new AmbitError('NOT_FOUND', 'the cluster has no node');
  return best;
}

/**
 * The lowest address of the node's /24 that no pod holds (.1 is the node's gateway), preferring those not in
 * `avoid` (addresses just released: other nodes may still have connections to them, as host-local IPAM
 * avoids handing an address straight back).
 */
export function freePodAddress(
  cluster: Pick<ClusterState, 'pods'>,
  node: NodeRecord,
  avoid: ReadonlySet<string> = new Set(),
): string {
  const parsed = parseCidr(node.podCIDR);
  if ('error' in parsed) throw new AmbitError('STATE_CORRUPT', parsed.error);
  const taken = new Set(cluster.pods.flatMap((pod) => pod.ips));
  let fallback: string | undefined;
  for (let offset = 2; offset <= hostCount(parsed.cidr); offset++) {
    const candidate = formatIPv4(hostAddress(parsed.cidr, offset));
    if (taken.has(candidate)) continue;
    if (!avoid.has(candidate)) return candidate;
    fallback ??= candidate;
  }
  if (fallback !== undefined) return fallback;
  throw new AmbitError('CONFLICT', `node ${node.name} has no free pod address in ${node.podCIDR}`);
}

/**
 * The full record of a new pod: on its node, at the lowest address of the node's /24 that no pod holds
 * (.1 is the node's gateway), with the names `up` would give it. Refuses a name already taken.
 */
export function placePod(
  cluster: Pick<ClusterState, 'name' | 'nodes' | 'pods'>,
  template: PodTemplate,
): PodRecord {
  const uid = `${template.namespace}/${template.name}`;
  if (cluster.pods.some((pod) => pod.uid === uid)) {
    throw new AmbitError('CONFLICT', `pod ${uid} already exists in cluster ${cluster.name}`);
  }
  const node =
    template.node === undefined
      ? leastLoadedNode(cluster)
      : cluster.nodes.find((candidate) => candidate.name === template.node);
  if (!node) throw new AmbitError('NOT_FOUND', `node ${template.node} does not exist`);
  const ip = freePodAddress(cluster, node);
  const netns = podNetns(cluster.name, template.namespace, template.name);
  return {
    uid,
    name: template.name,
    namespace: template.namespace,
    node: node.name,
    ips: [ip],
    serviceAccount: template.serviceAccount,
    labels: template.labels,
    annotations: template.annotations ?? {},
    owner: template.owner,
    netns,
    netnsPath: netnsPath(netns),
    hostVeth: podVethName(uid),
    gatewayIP: node.gatewayIP,
    runAsUser: template.runAsUser,
    runAsGroup: template.runAsGroup,
    container: {
      ...template.container,
      env: {
        ...template.container.env,
        POD_NAME: template.name,
        POD_NAMESPACE: template.namespace,
        POD_IP: ip,
        NODE_NAME: node.name,
      },
    },
    restartPolicy: template.restartPolicy,
    terminationGracePeriodSeconds: template.terminationGracePeriodSeconds ?? 30,
    // Runtime pods mount no volumes: the cluster file's volumes are prepared by `up`.
    mounts: [],
  };
}

/** The pod's namespace, /etc/netns files and veth to its node, as `up` makes them; journaled first. */
export async function createPodNetwork(
  cluster: ClusterState,
  paths: StatePaths,
  pod: PodRecord,
): Promise<void> {
  const node = cluster.nodes.find((candidate) => candidate.name === pod.node);
  if (!node) throw new AmbitError('NOT_FOUND', `node ${pod.node} does not exist`);
  recordInJournal(paths, [
    { type: 'netns', name: pod.netns },
    { type: 'netns-etc', dir: netnsEtcDir(pod.netns) },
  ]);
  try {
    await ipBatch([`netns add ${pod.netns}`]);
    writePodEtc(pod, cluster);
    await ipBatch(podLinkCommands(pod, node), node.netns);
    await ipBatch(podCommands(pod, node), pod.netns);
  } catch (error) {
    await deletePodNetwork(pod);
    throw error;
  }
}

/** Deletes the pod's namespace (its veth goes with it) and its /etc/netns files; missing parts are fine. */
export async function deletePodNetwork(pod: PodRecord): Promise<void> {
  await deleteNetns([pod.netns]);
  rmSync(netnsEtcDir(pod.netns), { recursive: true, force: true });
}
