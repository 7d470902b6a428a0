/**
 * The snapshots a running local cluster's data plane holds, read where it holds them: each node's ztunnel
 * (`/config_dump` on its admin socket) and each waypoint (its own admin socket), over unix sockets in the
 * cluster's state directory, as `ambit ztunnel-config` reads them. What `ambit explain` and the dashboard
 * answer from.
 */
import { join } from 'node:path';
import type { MeshSnapshots } from '../../core/explain/mesh-snapshots.ts';
import type { NodeSnapshot, WaypointSnapshot } from '../../core/model/index.ts';
import { adminGet, adminSocketPath } from '../../ztunnel/index.ts';
import type { ClusterState } from '../types.ts';
import { waypointDir } from './waypoints.ts';

/** Told of a waypoint whose snapshot could not be read (the CLI prints it, the dashboard logs it). */
export type UnreachableWaypoint = (gateway: { name: string; namespace: string }, error: unknown) => void;

/** Every node's and every waypoint's snapshot of a running local cluster. */
export async function readMeshSnapshots(
  cluster: ClusterState,
  onUnreachable: UnreachableWaypoint,
): Promise<MeshSnapshots> {
  const nodes = new Map<string, NodeSnapshot>();
  for (const node of cluster.nodes) {
    const dump = (await adminGet(adminSocketPath(cluster.stateDir, node.name), '/config_dump')) as {
      snapshot: NodeSnapshot;
    };
    nodes.set(node.name, dump.snapshot);
  }
  const waypoints = new Map<string, WaypointSnapshot>();
  for (const pod of cluster.pods) {
    if (pod.owner?.kind !== 'Gateway') continue;
    const gateway = { name: pod.owner.name, namespace: pod.namespace };
    try {
      const dump = (await adminGet(join(waypointDir(cluster, gateway), 'admin.sock'), '/config_dump')) as {
        snapshot?: WaypointSnapshot;
      };
      if (dump.snapshot) waypoints.set(`${gateway.namespace}/${gateway.name}`, dump.snapshot);
    } catch (error) {
      // A waypoint not up yet: the explanation says its L7 part could not be evaluated.
      onUnreachable(gateway, error);
    }
  }
  return { nodes, waypoints };
}
