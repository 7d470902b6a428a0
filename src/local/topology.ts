/**
 * Builds a cluster's network out of namespaces:
 *
 *   fabric netns: bridge fabric0 --- node<i> <=veth=> eth0 (underlay IP) in node i's netns
 *   node netns:   router (ip_forward); bridge cbr0 holds the pods' gateway (.1 of the node's /24);
 *                 veth<hash> <=veth=> eth0 in each pod's netns; a route to every other node's pod /24
 *                 via that node's underlay IP
 *   pod netns:    lo up, eth0 with the pod IP, default route via the node; /etc/netns/<ns>/resolv.conf
 *
 * Interfaces are created directly in the namespaces they belong to (never in the root namespace). Every
 * object outside the namespaces is recorded in the journal before it is created; everything inside goes
 * with its namespace.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLUSTER_DOMAIN } from '../core/labels.ts';
import { macForIPv4 } from './addresses.ts';
import { addGuardRoutes, guardedRanges } from './guard-routes.ts';
import { IFACE, netnsEtcDir } from './names.ts';
import { ipBatch, run } from './run.ts';
import { isLocalNode, localNodes } from './span/span.ts';
import { recordInJournal, type StatePaths } from './state.ts';
import type { ClusterState, NodeRecord, PodRecord } from './types.ts';

export interface TopologyStep {
  label: string;
  run: () => Promise<void>;
}

/** The steps that build the topology, in order; each is safe to interrupt (see `down`). */
export function topologySteps(cluster: ClusterState, paths: StatePaths): TopologyStep[] {
  // Of a cluster across hosts, this host builds its own nodes and their pods (all of them on one host).
  const nodes = localNodes(cluster);
  const pods = cluster.pods.filter((pod) => isLocalNode(cluster, pod.node));
  const allNetns = [
    cluster.fabric.netns,
    ...nodes.map((node) => node.netns),
    ...pods.map((pod) => pod.netns),
  ];
  return [
    {
      label: `guarding ${guardedRanges(cluster.addresses).join(', ')} in the root namespace`,
      run: async () => {
        const ranges = guardedRanges(cluster.addresses);
        recordInJournal(
          paths,
          ranges.map((dst) => ({ type: 'route', dst, metric: cluster.routeMetric })),
        );
        await addGuardRoutes(ranges, cluster.routeMetric);
      },
    },
    {
      label: `creating ${allNetns.length} network namespaces`,
      run: async () => {
        recordInJournal(
          paths,
          allNetns.map((name) => ({ type: 'netns', name })),
        );
        await ipBatch(allNetns.map((name) => `netns add ${name}`));
      },
    },
    {
      label: 'writing pod resolv.conf and hosts files',
      run: async () => {
        recordInJournal(
          paths,
          pods.map((pod) => ({ type: 'netns-etc', dir: netnsEtcDir(pod.netns) })),
        );
        for (const pod of pods) writePodEtc(pod, cluster);
      },
    },
    {
      label: `wiring ${nodes.length} nodes to the fabric${cluster.span ? ` and ${cluster.span.underlayDevice}` : ''}`,
      run: async () => {
        // The host's device joins the fabric bridge: the other hosts' nodes are on its far side. It goes back
        // to the root namespace by itself when `down` deletes the fabric namespace.
        if (cluster.span)
          await run(['ip', 'link', 'set', cluster.span.underlayDevice, 'netns', cluster.fabric.netns]);
        await ipBatch(fabricCommands(cluster, nodes), cluster.fabric.netns);
        await Promise.all(nodes.map((node) => configureNode(node, cluster)));
      },
    },
    {
      label: `wiring ${pods.length} pods to their nodes`,
      run: () => {
        const byName = new Map(nodes.map((node) => [node.name, node]));
        return forEachLimited(pods, 8, (pod) => ipBatch(podCommands(pod, byName.get(pod.node)!), pod.netns));
      },
    },
  ];
}

function fabricCommands(cluster: ClusterState, nodes: readonly NodeRecord[]): string[] {
  const bridge = cluster.fabric.bridge;
  return [
    'link set lo up',
    `link add ${bridge} type bridge`,
    `link set ${bridge} up`,
    ...(cluster.span ? [`link set ${cluster.span.underlayDevice} master ${bridge} up`] : []),
    ...nodes.flatMap((node) => [
      `link add ${node.fabricPort} type veth peer name ${node.uplink} netns ${node.netns}`,
      `link set ${node.fabricPort} master ${bridge} up`,
    ]),
  ];
}

async function configureNode(node: NodeRecord, cluster: ClusterState): Promise<void> {
  const pods = cluster.pods.filter((pod) => pod.node === node.name);
  await ipBatch(
    [
      'link set lo up',
      // Every node serves the cluster DNS VIP itself (pods reach it through their default route).
      `addr add ${cluster.addresses.dnsVIP}/32 dev lo`,
      `addr add ${node.underlayIP}/${node.underlayPrefix} dev ${node.uplink}`,
      `link set ${node.uplink} up`,
      ...podBridgeCommands(node),
      ...pods.flatMap((pod) => podLinkCommands(pod, node)),
      ...cluster.nodes
        .filter((other) => other !== node)
        .map((other) => `route add ${other.podCIDR} via ${other.underlayIP} dev ${node.uplink}`),
    ],
    node.netns,
  );
  // Nodes route between their pods and the fabric.
  await run(['ip', 'netns', 'exec', node.netns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
}

/**
 * In the node's namespace: the bridge of its pods, holding their gateway address, with a MAC of its own
 * (see `macForIPv4`): pods come and go on a running cluster, and the gateway must not change under them.
 */
export function podBridgeCommands(node: Pick<NodeRecord, 'podBridge' | 'gatewayIP' | 'podCIDR'>): string[] {
  return [
    `link add ${node.podBridge} address ${macForIPv4(node.gatewayIP)} type bridge`,
    `addr add ${node.gatewayIP}/${node.podCIDR.split('/')[1]} dev ${node.podBridge}`,
    `link set ${node.podBridge} up`,
  ];
}

/**
 * In the node's namespace: the pod's veth pair, its node end on the pod bridge; the pod's end has the MAC of
 * its address, so that a reused address never meets a neighbour cache holding the previous pod's.
 */
export function podLinkCommands(
  pod: Pick<PodRecord, 'hostVeth' | 'netns' | 'ips'>,
  node: Pick<NodeRecord, 'podBridge'>,
): string[] {
  return [
    `link add ${pod.hostVeth} type veth peer name ${IFACE.uplink} address ${macForIPv4(pod.ips[0]!)} netns ${pod.netns}`,
    `link set ${pod.hostVeth} master ${node.podBridge} up`,
  ];
}

/** In the pod's namespace: loopback, its address on eth0, the default route via its node. */
export function podCommands(pod: PodRecord, node: NodeRecord): string[] {
  return [
    'link set lo up',
    `addr add ${pod.ips[0]}/${node.podCIDR.split('/')[1]} dev ${IFACE.uplink}`,
    `link set ${IFACE.uplink} up`,
    `route add default via ${pod.gatewayIP} dev ${IFACE.uplink}`,
  ];
}

export function writePodEtc(pod: PodRecord, cluster: ClusterState): void {
  const dir = netnsEtcDir(pod.netns);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const search = [`${pod.namespace}.svc.${CLUSTER_DOMAIN}`, `svc.${CLUSTER_DOMAIN}`, CLUSTER_DOMAIN];
  writeFileSync(
    join(dir, 'resolv.conf'),
    `# written by ambit local for pod ${pod.uid}\nsearch ${search.join(' ')}\nnameserver ${cluster.addresses.dnsVIP}\noptions ndots:5\n`,
    { mode: 0o644 },
  );
  writeFileSync(
    join(dir, 'hosts'),
    `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${pod.ips[0]}\t${pod.name}\n`,
    { mode: 0o644 },
  );
}

async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]!);
  });
  await Promise.all(workers);
}
