/**
 * ServiceEntries as services of the data plane, one per host (as Istio's registry holds them): the host is the
 * service's hostname and name, its VIPs the entry's addresses or, without any, one allocated from Istio's
 * auto-allocation range (what Istio's DNS capture answers), its endpoints the entry's IP endpoints or the pods
 * its workloadSelector picks. A DNS/DNS_ROUND_ROBIN entry's hostname endpoints (or, with no endpoints, its
 * hosts themselves, as Istio resolves them) are resolved by the entry's waypoint when it dials: such an entry
 * gets a VIP only when a waypoint serves it; without one its name is left to the cluster DNS, so that no VIP
 * captures traffic that nothing could resolve. A DYNAMIC_DNS entry's wildcard host gets one on the same
 * terms, its waypoint resolving each request's host.
 */
import { isIP } from 'node:net';
import type { ServiceEntryEndpoint, ServiceEntrySpec } from '../../core/config/kinds/istio-service-entry.ts';
import type {
  Endpoint,
  HostnameEndpoint,
  NamedConfig,
  Service,
  ServicePort,
} from '../../core/model/index.ts';
import { labelsMatch } from '../../core/policy/selector.ts';
import type { PodRecord } from '../pods/pod-source.ts';
import type { PodIndex } from './pod-index.ts';
import { scopedBinding, type WaypointDeclaration, waypointBinding } from './waypoints.ts';

/** Istio's range for auto-allocated ServiceEntry VIPs (class E, never routed anywhere). */
export const AUTO_ALLOCATE_PREFIX = '240.240';
const AUTO_ALLOCATE_SIZE = 65_536;

export interface ServiceEntryInputs {
  entries: readonly (NamedConfig<ServiceEntrySpec> & { labels: Readonly<Record<string, string>> })[];
  /** In uid order; looked through whole only for a workloadSelector without labels (its namespace's every pod). */
  pods: readonly PodRecord[];
  /** The same pods by label and IP. */
  podIndex: PodIndex;
  namespaceLabels: ReadonlyMap<string, Record<string, string>>;
  waypoints: ReadonlyMap<string, WaypointDeclaration>;
}

/**
 * Whether a DYNAMIC_DNS entry's wildcard host is served: through a waypoint, which resolves each request's
 * host under it when it dials (Envoy's dynamic forward proxy), and for an outside service only, as Istio has it.
 */
export function dynamicallyResolved(spec: ServiceEntrySpec, host: string, served: boolean): boolean {
  return (
    spec.resolution === 'DYNAMIC_DNS' && spec.location === 'MESH_EXTERNAL' && served && host.startsWith('*.')
  );
}

/**
 * Whether an entry's host gets a VIP: it has endpoints to send to, and a name that DNS can answer (a
 * served DYNAMIC_DNS wildcard host: every name under it, as Istio's DNS proxy answers them).
 */
function allocates(spec: ServiceEntrySpec, host: string, served: boolean): boolean {
  if (spec.addresses.length > 0) return false;
  if (spec.resolution === 'DYNAMIC_DNS') return dynamicallyResolved(spec, host, served);
  if (host.startsWith('*') || spec.resolution === 'NONE') return false;
  return (
    spec.workloadSelector !== undefined ||
    spec.endpoints.some((endpoint) => isIP(endpoint.address) !== 0) ||
    (served && hostnameEndpoints(spec, host).length > 0)
  );
}

/** The endpoints of a DNS entry's host that are names to resolve: those listed, else the host itself. */
export function hostnameEndpoints(spec: ServiceEntrySpec, host: string): HostnameEndpoint[] {
  if (spec.resolution !== 'DNS' && spec.resolution !== 'DNS_ROUND_ROBIN') return [];
  if (spec.workloadSelector !== undefined) return [];
  if (spec.endpoints.length === 0) return host.startsWith('*') ? [] : [{ hostname: host }];
  return spec.endpoints
    .filter((endpoint) => isIP(endpoint.address) === 0 && !endpoint.address.startsWith('unix://'))
    .map((endpoint) => ({ hostname: endpoint.address, targetPorts: mappedPorts(spec, endpoint) }));
}

function mappedPorts(
  spec: ServiceEntrySpec,
  endpoint: ServiceEntryEndpoint,
): Record<number, number> | undefined {
  const targetPorts: Record<number, number> = {};
  for (const port of spec.ports) {
    const mapped = endpoint.ports[port.name];
    if (mapped !== undefined) targetPorts[port.number] = mapped;
  }
  return Object.keys(targetPorts).length > 0 ? targetPorts : undefined;
}

/** FNV-1a, for a starting slot that does not move when other entries come and go. */
function slotOf(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193) >>> 0;
  return hash % AUTO_ALLOCATE_SIZE;
}

function slotAddress(slot: number): string {
  return `${AUTO_ALLOCATE_PREFIX}.${slot >> 8}.${slot & 0xff}`;
}

/**
 * A VIP per `<namespace>/<entry>/<host>` that needs one: each starts at its hash's slot and probes upwards
 * past taken ones (and past .0 and .255 host parts, which some resolvers refuse), in key order, so the same set
 * always gets the same addresses and an address changes only on a collision.
 */
export function allocateVips(keys: readonly string[], taken: ReadonlySet<string>): Map<string, string> {
  const used = new Set(taken);
  const out = new Map<string, string>();
  for (const key of [...keys].sort()) {
    let slot = slotOf(key);
    for (let probes = 0; probes < AUTO_ALLOCATE_SIZE; probes++, slot = (slot + 1) % AUTO_ALLOCATE_SIZE) {
      const address = slotAddress(slot);
      if ((slot & 0xff) === 0 || (slot & 0xff) === 0xff || used.has(address)) continue;
      used.add(address);
      out.set(key, address);
      break;
    }
  }
  return out;
}

function servicePorts(spec: ServiceEntrySpec): ServicePort[] {
  return spec.ports.map((port) => ({
    name: port.name,
    port: port.number,
    targetPort: port.targetPort ?? port.number,
    protocol: port.protocol === 'UDP' ? 'UDP' : 'TCP',
    appProtocol: port.protocol.toLowerCase(),
  }));
}

/** Whether an entry takes endpoints from pods: none for NONE and DYNAMIC_DNS (resolved elsewhere). */
const hasEndpoints = (spec: ServiceEntrySpec) =>
  spec.resolution !== 'NONE' && spec.resolution !== 'DYNAMIC_DNS';

function endpointsOf(spec: ServiceEntrySpec, namespace: string, inputs: ServiceEntryInputs): Endpoint[] {
  if (!hasEndpoints(spec)) return [];
  const selector = spec.workloadSelector;
  if (selector !== undefined) {
    const selected =
      Object.keys(selector).length > 0
        ? inputs.podIndex.select(namespace, selector)
        : inputs.pods.filter((pod) => pod.namespace === namespace);
    return selected.flatMap((pod) => pod.ips.map((ip) => ({ workloadUid: pod.uid, ip, ready: pod.ready })));
  }
  return spec.endpoints
    .filter((endpoint) => isIP(endpoint.address) !== 0)
    .map((endpoint) => {
      // An endpoint at a pod's address is that pod (a MESH_INTERNAL entry in front of mesh workloads).
      const pod = inputs.podIndex.atIp(endpoint.address);
      return {
        workloadUid: pod?.uid ?? '',
        ip: endpoint.address,
        ready: pod?.ready ?? true,
        targetPorts: mappedPorts(spec, endpoint),
      };
    });
}

/**
 * Whether a pod can change the entries' Services by coming, going or changing: one a workloadSelector
 * selects, or one at an IP endpoint's address. Selectors are indexed by namespace and label, as the
 * incremental model indexes Services, so the question costs the pod's labels, not the entries.
 */
export function entryPodFilter(
  entries: readonly NamedConfig<ServiceEntrySpec>[],
): (pod: PodRecord) => boolean {
  /** namespace -> `key=value` (`''` for a selector without labels) -> the selectors with it. */
  const selecting = new Map<string, Map<string, Record<string, string>[]>>();
  const addresses = new Set<string>();
  for (const { namespace, spec } of entries) {
    if (!hasEndpoints(spec)) continue;
    const selector = spec.workloadSelector;
    if (selector === undefined) {
      for (const endpoint of spec.endpoints)
        if (isIP(endpoint.address) !== 0) addresses.add(endpoint.address);
      continue;
    }
    let labels = selecting.get(namespace);
    if (labels === undefined) {
      labels = new Map();
      selecting.set(namespace, labels);
    }
    const keys = Object.entries(selector).map(([key, value]) => `${key}=${value}`);
    for (const key of keys.length > 0 ? keys : ['']) labels.set(key, [...(labels.get(key) ?? []), selector]);
  }
  return (pod) => {
    if (pod.ips.some((ip) => addresses.has(ip))) return true;
    const labels = selecting.get(pod.namespace);
    if (labels === undefined) return false;
    if (labels.has('')) return true;
    for (const key in pod.labels)
      for (const selector of labels.get(`${key}=${pod.labels[key]}`) ?? [])
        if (labelsMatch(selector, pod.labels)) return true;
    return false;
  };
}

export function serviceEntryServices(inputs: ServiceEntryInputs): Service[] {
  const key = (namespace: string, name: string, host: string) => `${namespace}/${name}/${host}`;
  const explicit = new Set(inputs.entries.flatMap((entry) => entry.spec.addresses));
  const entries = inputs.entries.map((entry) => ({
    ...entry,
    waypoint: scopedBinding(
      waypointBinding(entry.labels, inputs.namespaceLabels.get(entry.namespace) ?? {}, entry.namespace),
      'service',
      inputs.waypoints,
    ),
  }));
  const vips = allocateVips(
    entries.flatMap((entry) =>
      entry.spec.hosts
        .filter((host) => allocates(entry.spec, host, entry.waypoint !== undefined))
        .map((host) => key(entry.namespace, entry.name, host)),
    ),
    explicit,
  );
  return entries.flatMap(({ name, namespace, spec, waypoint }) => {
    const ports = servicePorts(spec);
    const endpoints = endpointsOf(spec, namespace, inputs);
    const addresses = spec.addresses.filter((address) => !address.includes('/'));
    const ranges = spec.addresses.filter((address) => address.includes('/'));
    return spec.hosts.map((host) => {
      const allocated = vips.get(key(namespace, name, host));
      const named = hostnameEndpoints(spec, host);
      return {
        name: host,
        namespace,
        hostname: host,
        vips: allocated === undefined ? addresses : [allocated],
        ports,
        endpoints,
        waypoint,
        serviceEntry: {
          entry: `${namespace}/${name}`,
          location: spec.location,
          resolution: spec.resolution,
          ranges,
          ...(named.length > 0 && { hostnameEndpoints: named }),
        },
      };
    });
  });
}
