/**
 * The whole mesh as the data plane sees it, built from the config store and the pod source in one pure
 * function: every workload, service and L4 policy, and the L7 config that waypoints receive. Per-subscriber
 * views (`views.ts`) select from it. Given the memo of the previous build, workloads and services whose inputs
 * did not change are that build's very objects (`memo.ts`), so a change costs what it touches downstream.
 */
import type { ConfigMapSpec, SecretSpec } from '../../core/config/kinds/config-objects.ts';
import type { GatewaySpec, GRPCRouteSpec, HTTPRouteSpec } from '../../core/config/kinds/gateway.ts';
import type { L4RouteSpec, ReferenceGrantSpec } from '../../core/config/kinds/gateway-l4.ts';
import { ISTIO_GATEWAY_KIND, type IstioGatewaySpec } from '../../core/config/kinds/istio-gateway.ts';
import type { DestinationRuleSpec, VirtualServiceSpec } from '../../core/config/kinds/istio-networking.ts';
import type {
  AuthorizationPolicySpec,
  PeerAuthenticationSpec,
} from '../../core/config/kinds/istio-security.ts';
import type { ServiceEntrySpec } from '../../core/config/kinds/istio-service-entry.ts';
import type { HTTPLocalRateLimitPolicySpec } from '../../core/config/kinds/linkerd-policy.ts';
import {
  DEFAULT_MESH_CONFIG,
  isMeshConfigMap,
  type MeshConfig,
} from '../../core/config/kinds/mesh-config.ts';
import type { RequestAuthenticationSpec } from '../../core/config/kinds/request-authentication.ts';
import type { TelemetrySpec } from '../../core/config/kinds/telemetry.ts';
import type { Resource } from '../../core/config/resource.ts';
import { INGRESS_USE_WAYPOINT_LABEL } from '../../core/labels.ts';
import type { L4Policy, NamedConfig, PeerAuthPolicy, Service, Workload } from '../../core/model/index.ts';
import type { PodRecord } from '../pods/pod-source.ts';
import type { SliceEndpointsByService } from '../pods/slice-endpoints.ts';
import { toL4Policy } from './authorization.ts';
import { namespaceLabels, type ServiceView, serviceViews } from './core-view.ts';
import { ingressGatewayService, isIngressGateway } from './ingress/gateways.ts';
import { Memo } from './memo.ts';
import { toPeerAuthPolicies } from './peer-authentication.ts';
import { PodIndex } from './pod-index.ts';
import { serviceEntryServices } from './service-entries.ts';
import { buildService, serviceHostname } from './services.ts';
import { type WaypointDeclaration, waypointDeclarations, waypointService } from './waypoints.ts';
import { buildWorkload } from './workloads.ts';

export interface Mesh {
  workloads: Workload[];
  services: Service[];
  /** L4 policies for ztunnels (AuthorizationPolicies without targetRefs). */
  policies: L4Policy[];
  peerAuthentications: PeerAuthPolicy[];
  gateways: NamedConfig<GatewaySpec>[];
  /** Istio's classic Gateways (`networking.istio.io`): served by the gateway deployments they select. */
  istioGateways: NamedConfig<IstioGatewaySpec>[];
  virtualServices: NamedConfig<VirtualServiceSpec>[];
  destinationRules: NamedConfig<DestinationRuleSpec>[];
  httpRoutes: NamedConfig<HTTPRouteSpec>[];
  grpcRoutes: NamedConfig<GRPCRouteSpec>[];
  tcpRoutes: NamedConfig<L4RouteSpec>[];
  tlsRoutes: NamedConfig<L4RouteSpec>[];
  referenceGrants: NamedConfig<ReferenceGrantSpec>[];
  /**
   * `kubernetes.io/tls` Secrets (the certificates ingress listeners may name) and Secrets with a `ca.crt`
   * (the roots a DestinationRule's `tls.credentialName` may name).
   */
  secrets: NamedConfig<SecretSpec>[];
  namespaceLabels: Map<string, Record<string, string>>;
  /** Hostnames of the Services an ingress gateway sends through their waypoint (`ingress-use-waypoint`). */
  ingressViaWaypoint: string[];
  /** AuthorizationPolicies attached with targetRefs: for waypoints, in full. */
  attachedPolicies: NamedConfig<AuthorizationPolicySpec>[];
  /**
   * AuthorizationPolicies that reach workloads: by a selector, or (no selector, no targetRefs) every workload
   * of their namespace, or of the mesh from the root namespace. In full for the classic gateway deployments
   * they reach.
   */
  workloadPolicies: NamedConfig<AuthorizationPolicySpec>[];
  /** Linkerd's HTTPLocalRateLimitPolicies: token buckets the waypoints of their target Services enforce. */
  rateLimitPolicies: NamedConfig<HTTPLocalRateLimitPolicySpec>[];
  /** RequestAuthentications: JWT rules the waypoints of their targets enforce. */
  requestAuthentications: NamedConfig<RequestAuthenticationSpec>[];
  trustBundle: string[];
  /** The SPIFFE trust domain (for the principals of service accounts in L7 policies). */
  trustDomain: string;
  /** The ConfigMap `istio` in `istio-system`'s mesh config, or the default. */
  meshConfig: MeshConfig;
  telemetries: NamedConfig<TelemetrySpec>[];
}

export interface MeshInputs {
  resources: readonly Resource[];
  pods: readonly PodRecord[];
  /** The EndpointSlices' endpoints of Services without a selector (on Kubernetes), by `<namespace>/<name>`. */
  sliceEndpoints?: SliceEndpointsByService | undefined;
  trustDomain: string;
  trustBundle: string[];
}

/** What one build keeps for the next: workloads by uid, services and policies by namespace/name. */
export class MeshMemo {
  readonly workloads = new Memo<Workload>();
  readonly services = new Memo<Service>();
  /** L4 policies by namespace/name (undefined for an AuthorizationPolicy that is not for ztunnels). */
  readonly policies = new Memo<L4Policy | undefined>();
}

function named<Spec>(resources: readonly Resource[], kind: string): NamedConfig<Spec>[] {
  return resources
    .filter((resource) => resource.kind === kind)
    .map((resource) => ({
      name: resource.metadata.name,
      namespace: resource.metadata.namespace ?? 'default',
      spec: resource.spec as Spec,
    }));
}

function byKey<T>(key: (item: T) => string): (a: T, b: T) => number {
  return (a, b) => {
    const ka = key(a);
    const kb = key(b);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  };
}

/**
 * What workloads and Services are built from besides the pods, read from the resources once per full build:
 * namespace labels, waypoints, the Services' views, and the strings by which the memo tells a change of them.
 */
export interface MeshContext {
  resources: readonly Resource[];
  trustDomain: string;
  sliceEndpoints: SliceEndpointsByService | undefined;
  nsLabels: Map<string, Record<string, string>>;
  waypoints: Map<string, WaypointDeclaration>;
  views: ServiceView[];
  /** Keys (`<namespace>/<name>`) of the Services the resources define. */
  defined: Set<string>;
  /** A namespace's labels as a string (what every workload and service of it also depends on). */
  nsKey(namespace: string): string;
  /** The waypoints as a string: a change of them rebuilds what they reach, and nothing else. */
  waypointsKey: string;
}

export function meshContext(inputs: MeshInputs): MeshContext {
  const { resources } = inputs;
  const nsLabels = namespaceLabels(resources);
  const waypoints = waypointDeclarations(resources);
  const views = serviceViews(resources);
  const nsKeys = new Map<string, string>();
  return {
    resources,
    trustDomain: inputs.trustDomain,
    sliceEndpoints: inputs.sliceEndpoints,
    nsLabels,
    waypoints,
    views,
    defined: new Set(views.map(serviceKey)),
    nsKey: (namespace) => {
      let key = nsKeys.get(namespace);
      if (key === undefined) {
        key = JSON.stringify(nsLabels.get(namespace) ?? null);
        nsKeys.set(namespace, key);
      }
      return key;
    },
    waypointsKey: JSON.stringify([...waypoints.values()]),
  };
}

export const serviceKey = (service: { namespace: string; name: string }) =>
  `${service.namespace}/${service.name}`;

/** A pod's workload: the memo's object while the pod and what it depends on are the same. */
export function workloadOf(context: MeshContext, pod: PodRecord, memo: MeshMemo): Workload {
  const { nsLabels, trustDomain, waypoints } = context;
  return memo.workloads.get(
    pod.uid,
    [pod, context.nsKey(pod.namespace), context.waypointsKey, trustDomain],
    () => buildWorkload(pod, nsLabels.get(pod.namespace), trustDomain, waypoints),
  );
}

/** The Service a Service resource defines: the memo's object while its view, pods and slices are the same. */
export function viewService(
  context: MeshContext,
  view: ServiceView,
  podIndex: PodIndex,
  memo: MeshMemo,
): Service {
  const key = serviceKey(view);
  const sliced = context.sliceEndpoints?.get(key);
  return memo.services.get(
    key,
    [
      JSON.stringify(view),
      context.nsKey(view.namespace),
      context.waypointsKey,
      // The slices' entry is one array until a slice of this Service changes; the pods at its addresses
      // count too (an address that becomes a pod's is reached over HBONE from then on).
      sliced,
      ...(sliced?.map((endpoint) => podIndex.atIp(endpoint.ip)) ?? []),
      ...(view.selector ? podIndex.select(view.namespace, view.selector) : []),
    ],
    () => buildService(view, podIndex, context.nsLabels.get(view.namespace), context.waypoints, sliced),
  );
}

/**
 * The Services no Service resource defines: of the waypoints and ingress gateways, and of the
 * ServiceEntries. `pods` in uid order.
 */
export function derivedServices(
  context: MeshContext,
  podIndex: PodIndex,
  pods: readonly PodRecord[],
): Service[] {
  const { resources, defined, waypoints } = context;
  return [
    // A waypoint's instances are found through a Service of its name (istiod's deployment controller
    // creates one); a Service the user defined under that name is used as it is.
    ...[...waypoints]
      .filter(([key]) => !defined.has(key))
      .map(([, declared]) => waypointService(declared, podIndex)),
    // An ingress gateway's instances likewise, through a Service of its name with its listener ports.
    ...named<GatewaySpec>(resources, 'Gateway')
      .filter((gateway) => isIngressGateway(gateway.spec) && !defined.has(serviceKey(gateway)))
      .map((gateway) => ingressGatewayService(gateway, podIndex)),
    ...serviceEntryServices({
      entries: serviceEntries(resources),
      pods,
      podIndex,
      namespaceLabels: context.nsLabels,
      waypoints,
    }),
  ];
}

export function serviceEntries(resources: readonly Resource[]) {
  return resources
    .filter((resource) => resource.kind === 'ServiceEntry')
    .map((resource) => ({
      name: resource.metadata.name,
      namespace: resource.metadata.namespace ?? 'default',
      labels: resource.metadata.labels,
      spec: resource.spec as ServiceEntrySpec,
    }));
}

export const byUid = byKey((item: { uid: string }) => item.uid);
export const byServiceKey = byKey(serviceKey);

export function buildMesh(inputs: MeshInputs, memo = new MeshMemo()): Mesh {
  const context = meshContext(inputs);
  memo.workloads.nextRound();
  memo.services.nextRound();
  memo.policies.nextRound();
  const pods = [...inputs.pods].sort(byUid);
  const podIndex = new PodIndex(pods);
  const services = [
    ...context.views.map((view) => viewService(context, view, podIndex, memo)),
    ...derivedServices(context, podIndex, pods),
  ].sort(byServiceKey);
  return {
    workloads: pods.map((pod) => workloadOf(context, pod, memo)),
    services,
    ...configParts(inputs, context, memo),
  };
}

/** Everything of the mesh but its workloads and Services: made of the resources alone. */
function configParts(
  inputs: MeshInputs,
  context: MeshContext,
  memo: MeshMemo,
): Omit<Mesh, 'workloads' | 'services'> {
  const { resources, trustDomain, views, nsLabels } = context;
  const authorization = resources.filter(
    (resource) => resource.kind === 'AuthorizationPolicy',
  ) as Resource<AuthorizationPolicySpec>[];
  // The same objects while their resources are: a node's own set of policies then stays the same set.
  const policies = authorization
    .flatMap(
      (resource) =>
        memo.policies.get(
          serviceKey({ namespace: resource.metadata.namespace ?? 'default', name: resource.metadata.name }),
          [resource, trustDomain],
          () => toL4Policy(resource, trustDomain).policy,
        ) ?? [],
    )
    .sort(byServiceKey);
  const peerAuthentications = toPeerAuthPolicies(
    resources.filter(
      (resource) => resource.kind === 'PeerAuthentication',
    ) as Resource<PeerAuthenticationSpec>[],
  ).policies;
  return {
    policies,
    peerAuthentications,
    gateways: named(resources, 'Gateway'),
    istioGateways: named(resources, ISTIO_GATEWAY_KIND),
    virtualServices: named(resources, 'VirtualService'),
    destinationRules: named(resources, 'DestinationRule'),
    httpRoutes: named(resources, 'HTTPRoute'),
    grpcRoutes: named(resources, 'GRPCRoute'),
    tcpRoutes: named(resources, 'TCPRoute'),
    tlsRoutes: named(resources, 'TLSRoute'),
    referenceGrants: named(resources, 'ReferenceGrant'),
    secrets: named<SecretSpec>(resources, 'Secret').filter(
      (secret) =>
        secret.spec.type === 'kubernetes.io/tls' ||
        secret.spec.entries['ca.crt'] !== undefined ||
        secret.spec.entries['tls.crt'] !== undefined,
    ),
    namespaceLabels: nsLabels,
    ingressViaWaypoint: views
      .filter((view) =>
        [view.labels, nsLabels.get(view.namespace) ?? {}].some(
          (labels) => labels[INGRESS_USE_WAYPOINT_LABEL] === 'true',
        ),
      )
      .map((view) => serviceHostname(view.name, view.namespace)),
    attachedPolicies: named<AuthorizationPolicySpec>(resources, 'AuthorizationPolicy').filter(
      (policy) => policy.spec.targetRefs.length > 0,
    ),
    workloadPolicies: named<AuthorizationPolicySpec>(resources, 'AuthorizationPolicy').filter(
      (policy) => policy.spec.selector !== undefined || policy.spec.targetRefs.length === 0,
    ),
    rateLimitPolicies: named(resources, 'HTTPLocalRateLimitPolicy'),
    requestAuthentications: named(resources, 'RequestAuthentication'),
    trustBundle: inputs.trustBundle,
    trustDomain,
    meshConfig: meshConfigOf(resources),
    telemetries: named(resources, 'Telemetry'),
  };
}

function meshConfigOf(resources: readonly Resource[]): MeshConfig {
  const map = resources.find(
    (resource) => resource.kind === 'ConfigMap' && isMeshConfigMap(resource.metadata),
  );
  return (map?.spec as ConfigMapSpec | undefined)?.meshConfig ?? DEFAULT_MESH_CONFIG;
}
