/**
 * What `ambit explain` and the dashboard answer from: the snapshots the data plane holds. Types only, shared
 * by the CLI's trace and the dashboard's views.
 */
import type { NodeSnapshot, WaypointSnapshot } from '../model/index.ts';

/** What the mesh holds: each node's ztunnel snapshot, each waypoint's (by `<namespace>/<name>`). */
export interface MeshSnapshots {
  nodes: ReadonlyMap<string, NodeSnapshot>;
  waypoints: ReadonlyMap<string, WaypointSnapshot>;
}
