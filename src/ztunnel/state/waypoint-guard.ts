/**
 * Which waypoints must see the traffic that reaches a workload on a port (Ambit fails closed where Istio
 * fails open): the workload's own waypoint for any port (it is bound for workload traffic), and the waypoint
 * of every Service it backs whose target port this is (bound for service traffic). Traffic to such a port
 * is accepted only from an instance of one of them; anything else would let a client skip the L7 policy by
 * dialling the pod IP. Pure: the store supplies the workload's Services.
 */
import type { Service, WaypointRef, Workload } from '../../core/model/index.ts';

export function guardingWaypoints(
  destination: Pick<Workload, 'waypoint'>,
  services: readonly Pick<Service, 'waypoint' | 'ports'>[],
  targetPort: number,
): WaypointRef[] {
  const refs: WaypointRef[] = [];
  if (destination.waypoint) refs.push(destination.waypoint);
  for (const service of services) {
    if (!service.waypoint) continue;
    if (!service.ports.some((port) => (port.targetPort || port.port) === targetPort)) continue;
    if (
      !refs.some(
        (ref) => ref.name === service.waypoint!.name && ref.namespace === service.waypoint!.namespace,
      )
    )
      refs.push(service.waypoint);
  }
  return refs;
}
