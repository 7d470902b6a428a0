/**
 * What the control plane reads of the core kinds (Namespace, Service): the typed specs that the shared core
 * parsers produced, reduced to the shape the model builders need.
 */
import { SERVICE_KIND, type ServicePortSpec, type ServiceSpec } from '../../core/config/kinds/core.ts';
import { ofKind, type Resource } from '../../core/config/resource.ts';

export type ServicePortView = ServicePortSpec;

export interface ServiceView {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  /** Undefined or empty: a Service without selector, whose endpoints nothing here manages. */
  selector?: Record<string, string> | undefined;
  ports: ServicePortView[];
  /** The Service's cluster IP, if it has one; empty for a headless Service or one not yet allocated. */
  clusterIPs: string[];
}

export function serviceView(resource: Resource<ServiceSpec>): ServiceView {
  const { clusterIP } = resource.spec;
  return {
    name: resource.metadata.name,
    namespace: resource.metadata.namespace ?? 'default',
    labels: resource.metadata.labels,
    selector: resource.spec.selector,
    ports: resource.spec.ports,
    clusterIPs: clusterIP && clusterIP !== 'None' ? [clusterIP] : [],
  };
}

export function serviceViews(resources: readonly Resource[]): ServiceView[] {
  return ofKind(resources, SERVICE_KIND).map(serviceView);
}

/** Namespace name -> labels, from the applied Namespace documents. */
export function namespaceLabels(resources: readonly Resource[]): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (const resource of resources)
    if (resource.kind === 'Namespace') out.set(resource.metadata.name, resource.metadata.labels);
  return out;
}
