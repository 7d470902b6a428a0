/**
 * Node ports of NodePort and LoadBalancer Services, as the API server assigns them: a port given in the
 * file is kept (and must not be taken twice for one protocol), the others get the lowest number of
 * 30000-32767 not used yet, in file order. Pure, for the cluster plan.
 */
import { NODE_PORT_RANGE, type ServicePortSpec, type ServiceSpec } from '../../core/config/kinds/core.ts';
import type { Resource } from '../../core/config/resource.ts';

export type NodePortProblem = (resource: Resource, path: string, message: string) => void;

/** Each Service's ports with `nodePort` filled in (ClusterIP Services' ports unchanged). */
export function allocateNodePorts(
  services: readonly Resource<ServiceSpec>[],
  problem: NodePortProblem,
): Map<Resource, ServicePortSpec[]> {
  const taken = new Map<string, Resource>();
  const key = (port: number, protocol: string) => `${port}/${protocol}`;
  // Numbers given for one protocol are not handed out for another: one number, one Service port.
  const numbers = new Set<number>();
  for (const service of services) {
    service.spec.ports.forEach((port, index) => {
      if (port.nodePort === undefined || service.spec.type === 'ClusterIP') return;
      const holder = taken.get(key(port.nodePort, port.protocol));
      if (holder) {
        problem(
          service,
          `spec.ports[${index}].nodePort`,
          `node port ${port.nodePort}/${port.protocol} is already taken by Service ${holder.metadata.namespace}/${holder.metadata.name}`,
        );
      }
      taken.set(key(port.nodePort, port.protocol), service);
      numbers.add(port.nodePort);
    });
  }
  let next: number = NODE_PORT_RANGE.min;
  const result = new Map<Resource, ServicePortSpec[]>();
  for (const service of services) {
    result.set(
      service,
      service.spec.ports.map((port) => {
        if (service.spec.type === 'ClusterIP' || port.nodePort !== undefined) return port;
        while (numbers.has(next)) next++;
        if (next > NODE_PORT_RANGE.max) {
          problem(service, 'spec.ports', 'no free node port left in 30000-32767');
          return port;
        }
        numbers.add(next);
        return { ...port, nodePort: next };
      }),
    );
  }
  return result;
}
