/**
 * What the tables read from a running local cluster: every ztunnel's admin API over its unix socket in the
 * cluster's state directory (as `ambit ztunnel-config` reads it), and the ztunnels' and waypoints' snapshots
 * as `ambit explain` reads them. Each view asks afresh, so the tables follow the mesh as it changes.
 */
import { errorMessage, UsageError } from '../core/errors.ts';
import { createLogger } from '../core/log.ts';
import { LogLimiter } from '../core/log-limit.ts';
import { readMeshSnapshots, type UnreachableWaypoint } from '../local/mesh/snapshots.ts';
import type { ClusterState } from '../local/types.ts';
import {
  adminGet,
  adminSocketPath,
  type CertificateRow,
  type ConnectionsView,
  type WorkloadRow,
} from '../ztunnel/index.ts';
import type { ConnectionsOfNode, PolicyView, ServiceView, WorkloadView } from './view-types.ts';
import { policiesView, servicesView, workloadsView } from './views.ts';

/**
 * The tables refresh every few seconds: a waypoint that is down is logged once per waypoint and 10 s (with
 * the count of repeats), not on every refresh.
 */
const unreachableLog = new LogLimiter(createLogger('dashboard'));
const logUnreachable: UnreachableWaypoint = (gateway, error) =>
  unreachableLog.warn(`waypoint ${gateway.namespace}/${gateway.name}`, 'waypoint snapshot unreadable', {
    waypoint: `${gateway.namespace}/${gateway.name}`,
    error: errorMessage(error),
  });

export async function readWorkloads(cluster: ClusterState): Promise<WorkloadView[]> {
  const nodes = await Promise.all(
    cluster.nodes.map(async (node) => {
      const socket = adminSocketPath(cluster.stateDir, node.name);
      const [workloads, certificates] = await Promise.all([
        adminGet(socket, '/workloads') as Promise<WorkloadRow[]>,
        adminGet(socket, '/certs') as Promise<CertificateRow[]>,
      ]);
      return { node: node.name, workloads, certificates };
    }),
  );
  return workloadsView(nodes);
}

export async function readServices(cluster: ClusterState): Promise<ServiceView[]> {
  return servicesView(await readMeshSnapshots(cluster, logUnreachable));
}

export async function readPolicies(cluster: ClusterState): Promise<PolicyView[]> {
  return policiesView(await readMeshSnapshots(cluster, logUnreachable));
}

/** The live connections of one node's ztunnel (the first node's without `node`). */
export async function readConnections(
  cluster: ClusterState,
  node: string | null,
): Promise<ConnectionsOfNode> {
  const nodes = cluster.nodes.map((n) => n.name);
  const chosen = node ?? nodes[0];
  if (chosen === undefined || !nodes.includes(chosen))
    throw new UsageError(
      `no node ${JSON.stringify(chosen)} in cluster ${cluster.name} (${nodes.join(', ')})`,
    );
  const view = (await adminGet(adminSocketPath(cluster.stateDir, chosen), '/connections')) as ConnectionsView;
  return { node: chosen, nodes, connections: view.connections };
}
