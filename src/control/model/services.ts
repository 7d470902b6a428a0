/**
 * Services as the data plane sees them: hostname, VIPs (the Service's cluster IPs), ports with resolved target
 * ports and application protocol, endpoints (the reported pods its selector matches, one per pod IP; for a
 * Service without a selector, the addresses of its EndpointSlices), and waypoint binding.
 */

import { CLUSTER_DOMAIN } from '../../core/labels.ts';
import type { Endpoint, Service, ServicePort } from '../../core/model/index.ts';
import type { PodRecord } from '../pods/pod-source.ts';
import { type SliceEndpoint, takesConnections } from '../pods/slice-endpoints.ts';
import type { ServicePortView, ServiceView } from './core-view.ts';
import type { PodIndex } from './pod-index.ts';
import { scopedBinding, type WaypointDeclaration, waypointBinding } from './waypoints.ts';

export function serviceHostname(name: string, namespace: string): string {
  return `${name}.${namespace}.svc.${CLUSTER_DOMAIN}`;
}

/** Istio's protocol selection: `appProtocol`, else the port name's prefix (`http-web`, `grpc`, `tcp-db`). */
const NAMED_PROTOCOLS = [
  'http',
  'http2',
  'https',
  'grpc',
  'grpc-web',
  'tcp',
  'tls',
  'mongo',
  'redis',
  'mysql',
  'udp',
];

export function appProtocolOf(port: Pick<ServicePortView, 'name' | 'appProtocol'>): string | undefined {
  if (port.appProtocol) return port.appProtocol.toLowerCase();
  const name = port.name?.toLowerCase();
  if (!name) return undefined;
  return NAMED_PROTOCOLS.find((protocol) => name === protocol || name.startsWith(`${protocol}-`));
}

export function buildService(
  view: ServiceView,
  pods: PodIndex,
  namespaceLabels: Readonly<Record<string, string>> | undefined,
  waypoints: ReadonlyMap<string, WaypointDeclaration> = new Map(),
  sliced: readonly SliceEndpoint[] = [],
): Service {
  const selector = view.selector;
  const selects = selector !== undefined && Object.keys(selector).length > 0;
  const selected = selects ? pods.select(view.namespace, selector) : [];
  const ports: ServicePort[] = view.ports.map((port) => ({
    name: port.name,
    port: port.port,
    targetPort: resolveTargetPort(port, selected),
    protocol: port.protocol,
    appProtocol: appProtocolOf(port),
  }));
  const endpoints: Endpoint[] = selects
    ? selected.flatMap((pod) => pod.ips.map((ip) => ({ workloadUid: pod.uid, ip, ready: pod.ready })))
    : sliceServiceEndpoints(view.ports, sliced, pods);
  return {
    name: view.name,
    namespace: view.namespace,
    hostname: serviceHostname(view.name, view.namespace),
    vips: view.clusterIPs,
    ports,
    endpoints,
    waypoint: scopedBinding(
      waypointBinding(view.labels, namespaceLabels ?? {}, view.namespace),
      'service',
      waypoints,
    ),
  };
}

/**
 * The endpoints of a Service without a selector, from its slices: each port of the Service is matched by
 * name to the slice's port (the number the endpoint listens on), and an address that is a pod's is that
 * pod's workload (so the ztunnel reaches it over HBONE, as it does a selected pod). Readiness is the
 * slice's, not the pod's: the slice's writer decides.
 */
export function sliceServiceEndpoints(
  ports: readonly ServicePortView[],
  sliced: readonly SliceEndpoint[],
  pods: PodIndex,
): Endpoint[] {
  const takes = takesConnections(sliced);
  return sliced.map((endpoint) => {
    const targetPorts: Record<number, number> = {};
    for (const port of ports) {
      const number = endpoint.ports[port.name ?? ''];
      if (number !== undefined) targetPorts[port.port] = number;
    }
    return {
      workloadUid: pods.atIp(endpoint.ip)?.uid ?? '',
      ip: endpoint.ip,
      ready: takes(endpoint),
      targetPorts: Object.keys(targetPorts).length > 0 ? targetPorts : undefined,
    };
  });
}

/** A named target port is looked up in the selected pods' container ports; unresolved, it falls back to the port. */
function resolveTargetPort(port: ServicePortView, pods: readonly PodRecord[]): number {
  if (typeof port.targetPort === 'number') return port.targetPort;
  for (const pod of pods) {
    const named = pod.ports.find((candidate) => candidate.name === port.targetPort);
    if (named) return named.containerPort;
  }
  return port.port;
}
