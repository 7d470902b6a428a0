/**
 * Waypoints as the control plane sees them: which Gateways are waypoints (class `istio-waypoint`), what
 * traffic each serves (`istio.io/waypoint-for`), which pods are its instances, and the Service through which
 * the data plane finds those instances. Bindings (`istio.io/use-waypoint`) are scoped here: a Service's
 * binding counts only for a waypoint that serves service traffic, a pod's only for one that serves workload
 * traffic. A binding to a waypoint that no Gateway declares is kept: the ztunnel then finds no ready
 * instance and refuses the traffic (fail closed) rather than sending it around the waypoint.
 */

import type { GatewaySpec } from '../../core/config/kinds/gateway.ts';
import type { Resource } from '../../core/config/resource.ts';
import {
  GATEWAY_NAME_LABEL,
  USE_WAYPOINT_LABEL,
  USE_WAYPOINT_NAMESPACE_LABEL,
  WAYPOINT_FOR_LABEL,
  WAYPOINT_FOR_VALUES,
  WAYPOINT_GATEWAY_CLASS,
  type WaypointFor,
} from '../../core/labels.ts';
import type { Endpoint, Service, WaypointRef } from '../../core/model/index.ts';
import { ZTUNNEL_PORTS } from '../../core/ports.ts';
import type { PodRecord } from '../pods/pod-source.ts';
import { namespaceLabels, serviceViews } from './core-view.ts';
import type { PodIndex } from './pod-index.ts';
import { serviceHostname } from './services.ts';

/** `istio.io/use-waypoint: none` opts an object out of its namespace's waypoint. */
const NO_WAYPOINT = 'none';

/** What an object bound to a waypoint is: a Service (traffic to its VIP) or a workload (to a pod IP). */
export type BoundKind = 'service' | 'workload';

export interface WaypointDeclaration {
  name: string;
  namespace: string;
  for: WaypointFor;
}

/** `istio.io/waypoint-for` on a Gateway; absent or unknown means `service`, Istio's default. */
export function waypointFor(labels: Readonly<Record<string, string>>): WaypointFor {
  const value = labels[WAYPOINT_FOR_LABEL];
  return (WAYPOINT_FOR_VALUES as readonly string[]).includes(value ?? '')
    ? (value as WaypointFor)
    : 'service';
}

export function isWaypointGateway(resource: Resource): resource is Resource<GatewaySpec> {
  return (
    resource.kind === 'Gateway' && (resource.spec as GatewaySpec).gatewayClassName === WAYPOINT_GATEWAY_CLASS
  );
}

/** Every waypoint Gateway, by `<namespace>/<name>`. */
export function waypointDeclarations(resources: readonly Resource[]): Map<string, WaypointDeclaration> {
  const declarations = new Map<string, WaypointDeclaration>();
  for (const resource of resources) {
    if (!isWaypointGateway(resource)) continue;
    const namespace = resource.metadata.namespace ?? 'default';
    declarations.set(`${namespace}/${resource.metadata.name}`, {
      name: resource.metadata.name,
      namespace,
      for: waypointFor(resource.metadata.labels),
    });
  }
  return declarations;
}

/**
 * The waypoint an object (pod or Service) uses: its own `istio.io/use-waypoint` label, else its namespace's;
 * `none` on the object opts out of the namespace's waypoint.
 */
export function waypointBinding(
  labels: Readonly<Record<string, string>>,
  namespaceLabels: Readonly<Record<string, string>>,
  namespace: string,
): WaypointRef | undefined {
  const own = labels[USE_WAYPOINT_LABEL];
  if (own === NO_WAYPOINT) return undefined;
  const source = own !== undefined ? labels : namespaceLabels;
  const name = source[USE_WAYPOINT_LABEL];
  if (name === undefined || name === NO_WAYPOINT || name === '') return undefined;
  return { name, namespace: source[USE_WAYPOINT_NAMESPACE_LABEL] ?? namespace };
}

/** Whether a waypoint that serves `scope` takes the traffic of an object of `kind`. */
export function servesKind(scope: WaypointFor, kind: BoundKind): boolean {
  return scope === 'all' || scope === kind;
}

/**
 * The binding that takes effect for an object of `kind` labelled to use `ref`: the waypoint's, if it serves
 * that kind of traffic, or if it is not declared at all (its traffic is then refused, never sent direct).
 */
export function scopedBinding(
  ref: WaypointRef | undefined,
  kind: BoundKind,
  declarations: ReadonlyMap<string, WaypointDeclaration>,
): WaypointRef | undefined {
  if (ref === undefined) return undefined;
  const declared = declarations.get(`${ref.namespace}/${ref.name}`);
  return declared === undefined || servesKind(declared.for, kind) ? ref : undefined;
}

/** The waypoint a pod is an instance of, if any: it carries the name of a declared waypoint Gateway. */
export function waypointOfPod(
  pod: Pick<PodRecord, 'namespace' | 'labels'>,
  declarations: ReadonlyMap<string, WaypointDeclaration>,
): WaypointDeclaration | undefined {
  const name = pod.labels[GATEWAY_NAME_LABEL];
  return name === undefined ? undefined : declarations.get(`${pod.namespace}/${name}`);
}

/**
 * The Service that fronts a waypoint's instances (istiod's deployment controller creates one of the
 * Gateway's name): the data plane reaches a waypoint through its endpoints, each ready only while its pod
 * is. Only HBONE, on 15008; no VIP (nothing dials it by address).
 */
export function waypointService(declaration: WaypointDeclaration, pods: PodIndex): Service {
  const endpoints = gatewayEndpoints(declaration, pods);
  return {
    name: declaration.name,
    namespace: declaration.namespace,
    hostname: serviceHostname(declaration.name, declaration.namespace),
    vips: [],
    ports: [
      {
        name: 'mesh',
        port: ZTUNNEL_PORTS.hbone,
        targetPort: ZTUNNEL_PORTS.hbone,
        protocol: 'TCP',
        appProtocol: undefined,
      },
    ],
    endpoints,
  };
}

/** A Gateway's instances (pods labelled with its name, in its namespace), each ready while its pod is. */
export function gatewayEndpoints(gateway: WaypointRef, pods: PodIndex): Endpoint[] {
  return pods
    .select(gateway.namespace, { [GATEWAY_NAME_LABEL]: gateway.name })
    .flatMap((pod) => pod.ips.map((ip) => ({ workloadUid: pod.uid, ip, ready: pod.ready })));
}

/**
 * Hostnames of the Services whose traffic a declared waypoint serves: where L7 config for a Service (routes,
 * L7 policy) takes effect. Config for any other Service does nothing until one serves it.
 */
export function waypointServedHosts(resources: readonly Resource[]): Set<string> {
  const declarations = waypointDeclarations(resources);
  const labels = namespaceLabels(resources);
  const served = new Set<string>();
  for (const view of serviceViews(resources)) {
    const own = waypointBinding(view.labels, labels.get(view.namespace) ?? {}, view.namespace);
    const ref = scopedBinding(own, 'service', declarations);
    if (ref && declarations.has(`${ref.namespace}/${ref.name}`))
      served.add(serviceHostname(view.name, view.namespace));
  }
  return served;
}
