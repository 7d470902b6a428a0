/**
 * The mesh's well-known ports, one table for every part: the same numbers as Istio ambient, so that tools
 * and habits carry over.
 */

/** The ztunnel's listeners: in each pod (outbound, inbound plaintext, HBONE, DNS) and in the node's namespace. */
export const ZTUNNEL_PORTS = {
  outbound: 15001,
  inboundPlaintext: 15006,
  hbone: 15008,
  dns: 15053,
  admin: 15000,
  metrics: 15020,
  readiness: 15021,
} as const;

/** A waypoint's listeners, in its own pod's network namespace: the same numbers as Istio's waypoint. */
export const WAYPOINT_PORTS = {
  hbone: 15008,
  admin: 15000,
  metrics: 15020,
  readiness: 15021,
} as const;

/** The control plane's listeners: gRPC (discovery and CA) as istiod's 15012, metrics as its monitoring 15014. */
export const CONTROL_PLANE_PORTS = { grpc: 15012, metrics: 15014 } as const;
