/** The Gateway API document that declares a waypoint, shared by `ambit waypoint apply` and the demo. */
import { WAYPOINT_FOR_LABEL, WAYPOINT_GATEWAY_CLASS, type WaypointFor } from '../labels.ts';
import { ZTUNNEL_PORTS } from '../ports.ts';

/** The Gateway that declares a waypoint, in Istio's form (listener `mesh` on 15008, protocol HBONE). */
export function waypointGateway(
  name: string,
  namespace: string,
  scope: WaypointFor,
): Record<string, unknown> {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name, namespace, labels: { [WAYPOINT_FOR_LABEL]: scope } },
    spec: {
      gatewayClassName: WAYPOINT_GATEWAY_CLASS,
      listeners: [{ name: 'mesh', port: ZTUNNEL_PORTS.hbone, protocol: 'HBONE' }],
    },
  };
}
