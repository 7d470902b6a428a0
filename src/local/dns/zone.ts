/**
 * The cluster's DNS names, as CoreDNS's `kubernetes` plugin publishes them (the cluster DNS specification of
 * Kubernetes), built once per change of Services, pods or readiness so that each query is one map lookup:
 *
 * - `<svc>.<ns>.svc.<domain>` A: the ClusterIP, or for a headless Service the IPs of its ready pods (and
 *   `<a-b-c-d>.<svc>.<ns>.svc.<domain>` for each of them);
 * - `_<port>._<proto>.<svc>.<ns>.svc.<domain>` SRV for each named port: the Service name and port, or for a
 *   headless Service each ready pod's name and port, with their addresses as additional records;
 * - `<a-b-c-d>.<ns>.pod.<domain>` A for each pod of that namespace;
 * - `d.c.b.a.in-addr.arpa` PTR: a ClusterIP to its Service's name, a pod IP to its pod name.
 *
 * Nothing else exists: names are taken literally (no search-list guessing), there is no upstream.
 */
import { CLUSTER_DOMAIN } from '../../core/labels.ts';
import type { ClusterServices, ServiceView } from '../services/endpoints.ts';

export interface SrvTarget {
  target: string;
  port: number;
  address: string;
}

export interface ZoneEntry {
  /** IPv4 addresses (A); empty for a name that exists without addresses (a headless Service with no ready pod). */
  addresses: string[];
  srv?: SrvTarget[];
  ptr?: string;
}

export interface ClusterZone {
  domain: string;
  names: Map<string, ZoneEntry>;
}

export function buildZone({ services, pods }: ClusterServices, domain = CLUSTER_DOMAIN): ClusterZone {
  const names = new Map<string, ZoneEntry>();
  const entry = (name: string): ZoneEntry => {
    let found = names.get(name);
    if (!found) {
      found = { addresses: [] };
      names.set(name, found);
    }
    return found;
  };
  for (const pod of pods) {
    const ip = pod.ips[0]!;
    const name = `${dashed(ip)}.${pod.namespace}.pod.${domain}`;
    entry(name).addresses.push(ip);
    entry(reverseName(ip)).ptr = name;
  }
  for (const service of services) addService(service, domain, entry);
  return { domain, names };
}

function addService(service: ServiceView, domain: string, entry: (name: string) => ZoneEntry): void {
  const fqdn = `${service.name}.${service.namespace}.svc.${domain}`;
  const own = entry(fqdn);
  if (service.clusterIP !== undefined) {
    own.addresses.push(service.clusterIP);
    entry(reverseName(service.clusterIP)).ptr = fqdn;
  } else {
    for (const pod of service.readyPods) {
      own.addresses.push(pod.ips[0]!);
      entry(`${dashed(pod.ips[0]!)}.${fqdn}`).addresses.push(pod.ips[0]!);
    }
  }
  for (const port of service.ports) {
    if (port.name === undefined) continue;
    const srv: SrvTarget[] = [];
    entry(`_${port.name}._${port.protocol.toLowerCase()}.${fqdn}`).srv = srv;
    if (service.clusterIP !== undefined) {
      srv.push({ target: fqdn, port: port.port, address: service.clusterIP });
      continue;
    }
    for (const endpoint of port.endpoints) {
      srv.push({ target: `${dashed(endpoint.ip)}.${fqdn}`, port: endpoint.port, address: endpoint.ip });
    }
  }
}

/** `10.244.1.5` -> `10-244-1-5` (how Kubernetes names a pod or endpoint by its address). */
function dashed(ip: string): string {
  return ip.replaceAll('.', '-');
}

/** `10.244.1.5` -> `5.1.244.10.in-addr.arpa`. */
export function reverseName(ip: string): string {
  return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
}
