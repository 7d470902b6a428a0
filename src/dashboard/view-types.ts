/**
 * What each table's `/api/<view>` answers: the types the server builds (views.ts, mesh-reader.ts) and the
 * page reads (ui/tables.ts). Types only, importing nothing that runs, so the page can use them.
 */
import type { RouteInfo } from '../core/explain/route-info.ts';
import type { ConnectionListing } from '../core/observe/connection-listing.ts';

export interface WorkloadView {
  namespace: string;
  name: string;
  node: string;
  ips: string[];
  identity: string;
  /** In the mesh (HBONE), or not. */
  enrolled: boolean;
  /** The pod's own node's ztunnel serves it (its capture is in place). */
  captured: boolean;
  waypoint?: string | undefined;
  /** The leaf certificate the pod's node's ztunnel holds for its identity (the latest, when renewed). */
  certificate?: { serial: string; notAfter: string; expiresInSeconds: number } | undefined;
}

export interface ServiceView {
  namespace: string;
  name: string;
  hostname: string;
  vips: string[];
  ports: number[];
  endpoints: { workload: string; ip: string; ready: boolean }[];
  waypoint?: string | undefined;
  /** Per port, the routes of the waypoint that serves it, in the order they are tried. */
  routes: { port: number; protocol: string; waypoint: string; routes: RouteInfo[] }[];
}

export interface PolicyView {
  kind: 'AuthorizationPolicy' | 'PeerAuthentication' | 'RequestAuthentication';
  namespace: string;
  name: string;
  /** Who enforces it: `ztunnel` (L4), or `waypoint <ns>/<name>` (L7). */
  enforcedBy: string;
  /** ALLOW/DENY/AUDIT (with the rule count), the mTLS mode, or the JWT issuers. */
  detail: string;
  /** What it selects: workloads (`ns/name`), or for L7 policies the services or all traffic of the waypoint. */
  selects: string[];
}

export interface ConnectionsOfNode {
  node: string;
  /** Every node, for the page's chooser. */
  nodes: string[];
  /** As the node's ztunnel lists them (its admin `/connections`). */
  connections: ConnectionListing[];
}
