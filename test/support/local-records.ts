/** Records of a small local cluster (`c`, nodes n1 and n2) for unit tests of what reads them. */
import type { ClusterState, NodeRecord, PodRecord } from '../../src/local/types.ts';

export function nodeRecord(name: string, index: number): NodeRecord {
  return {
    name,
    index,
    netns: `ambit.c.node.${name}`,
    netnsPath: `/run/netns/ambit.c.node.${name}`,
    underlayIP: `10.250.0.${index + 1}`,
    underlayPrefix: 24,
    uplink: 'eth0',
    fabricPort: `node${index}`,
    podCIDR: `10.244.${index}.0/24`,
    gatewayIP: `10.244.${index}.1`,
    podBridge: 'cbr0',
  };
}

/** Two nodes, n1 and n2, of cluster `c`. */
export const NODES = [nodeRecord('n1', 0), nodeRecord('n2', 1)];

/** A pod of namespace `apps` in cluster `c`. */
export function podRecord(name: string, nodeName: string, ip: string, owner?: PodRecord['owner']): PodRecord {
  return {
    uid: `apps/${name}`,
    name,
    namespace: 'apps',
    node: nodeName,
    ips: [ip],
    serviceAccount: 'default',
    labels: {},
    annotations: {},
    owner,
    netns: `ambit.c.pod.apps.${name}`,
    netnsPath: `/run/netns/ambit.c.pod.apps.${name}`,
    hostVeth: 'veth0',
    gatewayIP: '10.244.0.1',
    runAsUser: 65534,
    runAsGroup: 65534,
    container: { name: 'main', argv: ['sleep', 'infinity'], env: {}, workingDir: '/', ports: [], probes: {} },
    restartPolicy: 'Always',
    terminationGracePeriodSeconds: 30,
    mounts: [],
  };
}

/** Cluster `c`'s record with these pods on NODES, no Services. */
export const clusterRecord = (pods: PodRecord[]): ClusterState =>
  ({
    version: 1,
    name: 'c',
    createdAt: '',
    stateDir: '/run/ambit/c',
    addresses: {
      podCIDR: '10.244.0.0/16',
      serviceCIDR: '10.96.0.0/16',
      underlayCIDR: '10.250.0.0/24',
      dnsVIP: '10.96.0.10',
    },
    routeMetric: 1,
    fabric: { netns: 'ambit.c.fabric', netnsPath: '/run/netns/ambit.c.fabric', bridge: 'fabric0' },
    nodes: NODES,
    namespaces: [],
    pods,
    services: [],
    extensions: [],
  }) satisfies ClusterState;
