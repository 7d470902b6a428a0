/**
 * The control plane reads the core kinds (Namespace, Service, Pod) only here, by their Kubernetes field
 * names, checking types as it goes. Whatever parser produced the spec, a Kubernetes-shaped one works.
 */
import { isIP } from 'node:net';
import type { Resource } from '../../core/config/resource.ts';

export interface ServicePortView {
  name?: string | undefined;
  port: number;
  /** A number, a container port name, or absent (= port). */
  targetPort?: number | string | undefined;
  protocol: string;
  appProtocol?: string | undefined;
}

export interface ServiceView {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  /** Undefined or empty: a Service without selector, whose endpoints nothing here manages. */
  selector?: Record<string, string> | undefined;
  ports: ServicePortView[];
  /** Cluster IPs (`clusterIPs`, else `clusterIP`); empty for a headless Service. */
  clusterIPs: string[];
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function stringOr(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function stringMap(value: unknown): Record<string, string> | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const out: Record<string, string> = {};
  for (const [key, item] of Object.entries(value)) if (typeof item === 'string') out[key] = item;
  return out;
}

export function serviceView(resource: Resource): ServiceView {
  const spec = record(resource.spec);
  const ports = (Array.isArray(spec.ports) ? spec.ports : []).flatMap((item): ServicePortView[] => {
    const port = record(item);
    if (typeof port.port !== 'number') return [];
    const target = port.targetPort;
    return [
      {
        name: stringOr(port.name),
        port: port.port,
        targetPort: typeof target === 'number' || typeof target === 'string' ? target : undefined,
        protocol: stringOr(port.protocol) ?? 'TCP',
        appProtocol: stringOr(port.appProtocol),
      },
    ];
  });
  const listed = Array.isArray(spec.clusterIPs)
    ? spec.clusterIPs.filter((ip): ip is string => typeof ip === 'string')
    : [];
  const single = stringOr(spec.clusterIP);
  const clusterIPs = (listed.length > 0 ? listed : single ? [single] : []).filter((ip) => isIP(ip) !== 0);
  return {
    name: resource.metadata.name,
    namespace: resource.metadata.namespace ?? 'default',
    labels: resource.metadata.labels,
    selector: stringMap(spec.selector),
    ports,
    clusterIPs,
  };
}

/** Namespace name -> labels, from the applied Namespace documents. */
export function namespaceLabels(resources: readonly Resource[]): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (const resource of resources)
    if (resource.kind === 'Namespace') out.set(resource.metadata.name, resource.metadata.labels);
  return out;
}
