/** Labels and well-known names that carry meaning for the mesh (the same ones Istio ambient uses). */
export const DATAPLANE_MODE_LABEL = 'istio.io/dataplane-mode';
export const DATAPLANE_MODE_AMBIENT = 'ambient';
export const DATAPLANE_MODE_NONE = 'none';
export const USE_WAYPOINT_LABEL = 'istio.io/use-waypoint';
/** Names the namespace of the waypoint that `istio.io/use-waypoint` refers to, when it is not the object's own. */
export const USE_WAYPOINT_NAMESPACE_LABEL = 'istio.io/use-waypoint-namespace';
export const WAYPOINT_GATEWAY_CLASS = 'istio-waypoint';
/**
 * On a Service or its Namespace (`"true"`): an ingress gateway sends the Service's traffic through the
 * Service's waypoint rather than straight to its endpoints, so the waypoint's L7 policy and routing apply.
 */
export const INGRESS_USE_WAYPOINT_LABEL = 'istio.io/ingress-use-waypoint';
/** Gateway classes deployed as ingress gateways: Ambit's own, and Istio's name for it, so Istio's YAML applies. */
export const INGRESS_GATEWAY_CLASSES: readonly string[] = ['ambit', 'istio'];
/** On a waypoint Gateway: what traffic it handles (`service`, the default, `workload`, `all`, `none`). */
export const WAYPOINT_FOR_LABEL = 'istio.io/waypoint-for';
export const WAYPOINT_FOR_VALUES = ['service', 'workload', 'all', 'none'] as const;
export type WaypointFor = (typeof WAYPOINT_FOR_VALUES)[number];
/** On a Gateway's instances (pods): the Gateway they serve, as Gateway API implementations label them. */
export const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';
/** Namespace whose policies apply mesh-wide (Istio's default root namespace, so users' YAML carries over). */
export const ROOT_NAMESPACE = 'istio-system';
/**
 * The gateway deployments Ambit runs for Istio's classic Gateways (`networking.istio.io`), which pick the pods
 * that serve them by `selector`: Istio's default profile's ingress gateway, whose labels Istio's samples
 * select (`istio: ingressgateway`). Its service account is its name.
 */
export const CLASSIC_GATEWAY_DEPLOYMENTS: readonly {
  name: string;
  namespace: string;
  podLabels: Readonly<Record<string, string>>;
}[] = [
  {
    name: 'istio-ingressgateway',
    namespace: ROOT_NAMESPACE,
    podLabels: { istio: 'ingressgateway', app: 'istio-ingressgateway' },
  },
];
/** The cluster domain that service hostnames end with. */
export const CLUSTER_DOMAIN = 'cluster.local';

/**
 * Whether a pod is enrolled in the mesh: its namespace or the pod itself says `ambient`, and the pod does
 * not opt out with `none` (the pod's label wins over its namespace's).
 */
export function isEnrolled(
  podLabels: Readonly<Record<string, string>>,
  namespaceLabels: Readonly<Record<string, string>>,
): boolean {
  const own = podLabels[DATAPLANE_MODE_LABEL];
  if (own === DATAPLANE_MODE_NONE) return false;
  if (own === DATAPLANE_MODE_AMBIENT) return true;
  return namespaceLabels[DATAPLANE_MODE_LABEL] === DATAPLANE_MODE_AMBIENT;
}
