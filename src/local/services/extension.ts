/**
 * What makes the local cluster's network behave like Kubernetes', as a cluster extension: in each node's
 * namespace a cluster DNS on the DNS VIP (`ambit cluster-dns`) and a kube-proxy (`ambit kube-proxy`) for
 * Service VIPs and NodePorts. Both read the cluster's state directory and follow changes of readiness.
 */
import { CLUSTER_DNS_METRICS_PORT } from '../dns/server.ts';
import type { ClusterExtension } from '../extensions.ts';
import { KUBE_PROXY_HEALTH_PORT } from '../kube-proxy/proxy.ts';
import { systemProcess } from '../processes.ts';

export const extension: ClusterExtension = {
  name: 'cluster-network',
  systemProcesses({ cluster, paths }) {
    return cluster.nodes.flatMap((node) => [
      systemProcess(paths, {
        id: `cluster-dns/${node.name}`,
        node,
        argv: ['ambit', 'cluster-dns', '--state-dir', cluster.stateDir],
        readyPorts: [53, CLUSTER_DNS_METRICS_PORT],
      }),
      systemProcess(paths, {
        id: `kube-proxy/${node.name}`,
        node,
        argv: ['ambit', 'kube-proxy', '--state-dir', cluster.stateDir, '--node', node.name],
        readyPorts: [KUBE_PROXY_HEALTH_PORT],
      }),
    ]);
  },
};
