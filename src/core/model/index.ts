/**
 * The data plane's view of the mesh: what the control plane pushes to ztunnels and waypoints, and what they
 * ask questions of ("who is at this IP?", "is this allowed?"). Plain data, JSON-serialisable, no behaviour.
 */

import type { GatewaySpec } from '../config/kinds/gateway.ts';
import type { RouteTable } from '../l7/types.ts';
import type { ProxyTelemetry } from '../observe/telemetry-config.ts';

export interface WaypointRef {
  name: string;
  namespace: string;
}

export interface Workload {
  /** Stable id: `<namespace>/<pod name>` in the local cluster, the pod UID on Kubernetes. */
  uid: string;
  name: string;
  namespace: string;
  node: string;
  ips: string[];
  serviceAccount: string;
  /** SPIFFE URI of the workload's identity. */
  identity: string;
  labels: Record<string, string>;
  /** `istio.io/dataplane-mode=ambient` on the pod or its namespace, not `none` on the pod. */
  enrolled: boolean;
  /** Workload/app name and version, as Istio derives them (for metrics and baggage). */
  canonicalName: string;
  canonicalRevision: string;
  /** The waypoint that traffic addressed to this workload's IPs goes through (for `workload`/`all` ones). */
  waypoint?: WaypointRef | undefined;
  /** An instance of a waypoint (its Gateway's `gateway.networking.k8s.io/gateway-name` label names it). */
  isWaypoint?: boolean | undefined;
}

export interface ServicePort {
  name?: string | undefined;
  port: number;
  targetPort: number;
  protocol: 'TCP' | 'UDP';
  /** `http`, `grpc`, `tcp`... from the port name or appProtocol, as Istio's protocol selection reads it. */
  appProtocol?: string | undefined;
}

export interface Endpoint {
  /** The pod behind the endpoint; empty for an address outside the cluster (a ServiceEntry endpoint). */
  workloadUid: string;
  ip: string;
  ready: boolean;
  /** Service port -> this endpoint's port, where it differs from the port's targetPort (ServiceEntry). */
  targetPorts?: Record<number, number> | undefined;
}

export type ServiceEntryLocation = 'MESH_EXTERNAL' | 'MESH_INTERNAL';
export type ServiceEntryResolution = 'NONE' | 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN' | 'DYNAMIC_DNS';

/** What a Service defined by a ServiceEntry adds: where it lives and how its endpoints are found. */
export interface ServiceEntryInfo {
  /** `<namespace>/<name>` of the ServiceEntry. */
  entry: string;
  location: ServiceEntryLocation;
  /** NONE: connections go to the address the client dialled (the service only names it). */
  resolution: ServiceEntryResolution;
  /** CIDR blocks of `addresses` (resolution NONE/STATIC): destinations in them belong to this service. */
  ranges: string[];
  /**
   * DNS/DNS_ROUND_ROBIN: endpoints named by hostname (or, with none listed, the host itself), which the
   * service's waypoint resolves when it dials; `endpoints` holds only addresses, which ztunnels can use.
   */
  hostnameEndpoints?: HostnameEndpoint[] | undefined;
}

export interface HostnameEndpoint {
  hostname: string;
  /** Service port -> this endpoint's port, where it differs from the port's targetPort. */
  targetPorts?: Record<number, number> | undefined;
}

/** How a ztunnel treats a destination that no workload, service or ServiceEntry knows (Istio's mesh config). */
export type OutboundTrafficPolicy = 'ALLOW_ANY' | 'REGISTRY_ONLY';

export interface Service {
  name: string;
  namespace: string;
  /** `<name>.<namespace>.svc.cluster.local` */
  hostname: string;
  vips: string[];
  ports: ServicePort[];
  endpoints: Endpoint[];
  /** The waypoint that traffic addressed to this Service goes through (for `service`/`all` ones). */
  waypoint?: WaypointRef | undefined;
  /** Set when a ServiceEntry defines the service (`hostname` is then one of its hosts). */
  serviceEntry?: ServiceEntryInfo | undefined;
}

export type PolicyAction = 'ALLOW' | 'DENY';
export type PolicyScope = 'mesh' | 'namespace' | 'workload';

/**
 * One AuthorizationPolicy as ztunnel enforces it: L4 attributes only (the control plane strips L7). Which
 * workloads it applies to: `mesh` scope, every workload; `namespace` scope, the workloads of `namespace`;
 * `workload` scope, the workloads of `namespace` whose labels include `selector`, and when `namespace` is the
 * root namespace (`istio-system`), such workloads in every namespace (Istio's rule).
 */
export interface L4Policy {
  name: string;
  namespace: string;
  /** `mesh` for the root namespace without selector, `namespace` without selector, `workload` with one. */
  scope: PolicyScope;
  selector?: Record<string, string> | undefined;
  action: PolicyAction;
  /** Any rule matching means the policy matches; an empty list matches nothing (`spec: {}` allows nothing). */
  rules: L4Rule[];
}

/** A rule matches when some `from` entry, some `to` entry and every `when` condition match (empty = any). */
export interface L4Rule {
  from: L4Source[];
  to: L4Target[];
  when: L4Condition[];
}

/**
 * Every field that is set must match; `serviceAccounts` are folded into principals by the control plane.
 * Principals and namespaces match as Istio's do: exact, `*` (any, but present), `prefix*` or `*suffix`.
 */
export interface L4Source {
  principals: string[];
  notPrincipals: string[];
  namespaces: string[];
  notNamespaces: string[];
  ipBlocks: string[];
  notIpBlocks: string[];
}

export interface L4Target {
  ports: number[];
  notPorts: number[];
}

export type L4ConditionKey =
  | 'source.ip'
  | 'source.namespace'
  | 'source.principal'
  | 'destination.ip'
  | 'destination.port';

export interface L4Condition {
  key: L4ConditionKey;
  values: string[];
  notValues: string[];
}

export type MtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE' | 'UNSET';

/** PeerAuthentication; at most one per scope reaches the data plane (mesh, each namespace, each workload). */
export interface PeerAuthPolicy {
  name: string;
  namespace: string;
  scope: PolicyScope;
  selector?: Record<string, string> | undefined;
  mode: MtlsMode;
  portLevelMtls: Record<number, MtlsMode>;
}

/** Everything one ztunnel needs; versioned so that the client can ACK or NACK it. */
export interface NodeSnapshot {
  version: string;
  workloads: Workload[];
  services: Service[];
  policies: L4Policy[];
  peerAuthentications: PeerAuthPolicy[];
  /** PEM roots that workload certificates chain to (several during a rotation). */
  trustBundle: string[];
  /** Unset means ALLOW_ANY, Istio's default. */
  outboundTrafficPolicy?: OutboundTrafficPolicy | undefined;
}

/** A config object with its identity and its validated spec. */
export interface NamedConfig<Spec> {
  name: string;
  namespace: string;
  spec: Spec;
}

/**
 * Everything one waypoint needs: the mesh's workloads and services (for telemetry labels and peer identities),
 * and its compiled route table (`core/l7/types.ts`): the services bound to it with their ordered routes, the
 * clusters those routes name (endpoints and merged DestinationRule policy), and the L7 AuthorizationPolicies
 * attached to it or to a service it serves. The control plane compiles; the waypoint only evaluates.
 */
export interface WaypointSnapshot extends RouteTable {
  version: string;
  waypoint: WaypointRef;
  /** The waypoint's own Gateway (listeners), if it is defined. */
  gateway?: NamedConfig<GatewaySpec> | undefined;
  workloads: Workload[];
  services: Service[];
  /** Tracing, access logs and metric overrides (absent from control planes that predate them). */
  telemetry?: ProxyTelemetry | undefined;
  trustBundle: string[];
}
