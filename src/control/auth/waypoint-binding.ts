/**
 * What a caller may subscribe as, besides its own node's ztunnel. A node agent: a waypoint whose instance (a
 * pod labelled with the Gateway's name, reported by the runtime before it starts) runs on that node. Without
 * this, any node token could take any waypoint's L7 config, even of a Gateway that does not exist. The rule
 * mirrors the CA's (a node obtains only the identities of its own pods). A waypoint that authenticated with
 * its own pod's token: that one waypoint and nothing else.
 */
import { GATEWAY_NAME_LABEL } from '../../core/labels.ts';
import type { WaypointRef } from '../../core/model/index.ts';
import type { PodSource } from '../pods/pod-source.ts';
import type { Caller } from './node-authenticator.ts';
import { nodeRunsPod } from './node-pods.ts';

export function nodeMayServeWaypoint(pods: PodSource, node: string, waypoint: WaypointRef): boolean {
  return nodeRunsPod(
    pods,
    node,
    (pod) => pod.namespace === waypoint.namespace && pod.labels[GATEWAY_NAME_LABEL] === waypoint.name,
  );
}

export function callerMayServeWaypoint(pods: PodSource, caller: Caller, waypoint: WaypointRef): boolean {
  if (caller.waypoint !== undefined) {
    return caller.waypoint.namespace === waypoint.namespace && caller.waypoint.name === waypoint.name;
  }
  return nodeMayServeWaypoint(pods, caller.node, waypoint);
}
