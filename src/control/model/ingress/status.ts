/**
 * The status the Gateway API reports for ingress gateways and their routes, computed from the mesh as a
 * controller would write it: a Gateway is `Accepted` (its class is served here) and `Programmed` with the
 * addresses of its ready instances, each listener with its conditions and attached route count; each route
 * gets, per parentRef to such a Gateway, `Accepted` and `ResolvedRefs` under the controller's name.
 */
import type { GatewaySpec } from '../../../core/config/kinds/gateway.ts';
import type { NamedConfig } from '../../../core/model/index.ts';
import type { GatewayCondition } from '../gateway-status.ts';
import type { Mesh } from '../mesh.ts';
import { type CompiledIngress, type Condition, compileIngress, type ListenerStatus } from './compile.ts';
import { isIngressGateway } from './gateways.ts';

/** As Istio names its controller in route status (`status.parents[].controllerName`). */
export const INGRESS_CONTROLLER_NAME = 'ambit.dev/gateway-controller';

export interface IngressGatewayStatus {
  addresses: { type: 'IPAddress'; value: string }[];
  conditions: GatewayCondition[];
  listeners: ListenerStatus[];
}

export interface RouteStatus {
  parents: { parentRef: unknown; controllerName: string; conditions: Condition[] }[];
}

const compiled = new WeakMap<Mesh, Map<string, CompiledIngress>>();

/** Every ingress Gateway of the mesh compiled once per mesh (status is read per document). */
function compiledGateways(mesh: Mesh): Map<string, CompiledIngress> {
  let map = compiled.get(mesh);
  if (map === undefined) {
    map = new Map();
    for (const gateway of mesh.gateways) {
      if (isIngressGateway(gateway.spec))
        map.set(`${gateway.namespace}/${gateway.name}`, compileIngress({ ...mesh, gateway }));
    }
    compiled.set(mesh, map);
  }
  return map;
}

export function ingressGatewayStatus(gateway: NamedConfig<GatewaySpec>, mesh: Mesh): IngressGatewayStatus {
  const result = compiledGateways(mesh).get(`${gateway.namespace}/${gateway.name}`);
  const service = mesh.services.find((s) => s.name === gateway.name && s.namespace === gateway.namespace);
  const ready = service?.endpoints.filter((endpoint) => endpoint.ready) ?? [];
  const listeners = result?.listeners ?? [];
  const programmedListeners = listeners.filter((listener) =>
    listener.conditions.some((c) => c.type === 'Programmed' && c.status === 'True'),
  ).length;
  const accepted: GatewayCondition = {
    type: 'Accepted',
    status: 'True',
    reason: 'Accepted',
    message: `deployed as an ingress gateway (class ${gateway.spec.gatewayClassName})`,
  };
  const programmed: GatewayCondition =
    ready.length === 0
      ? {
          type: 'Programmed',
          status: 'False',
          reason: 'Pending',
          message: `no ready gateway instance yet (${service?.endpoints.length ?? 0} starting)`,
        }
      : programmedListeners === 0
        ? {
            type: 'Programmed',
            status: 'False',
            reason: 'Invalid',
            message: 'no listener could be programmed',
          }
        : {
            type: 'Programmed',
            status: 'True',
            reason: 'Programmed',
            message: `${ready.length} ready instance(s), ${programmedListeners} of ${listeners.length} listeners programmed`,
          };
  return {
    addresses: ready.length === 0 ? [] : ready.map((endpoint) => ({ type: 'IPAddress', value: endpoint.ip })),
    conditions: [accepted, programmed],
    listeners,
  };
}

/** A route's status: one entry per parentRef that names an ingress Gateway of the mesh. */
export function ingressRouteStatus(kind: string, namespace: string, name: string, mesh: Mesh): RouteStatus {
  const parents: RouteStatus['parents'] = [];
  for (const result of compiledGateways(mesh).values()) {
    for (const entry of result.routes) {
      if (entry.route.kind !== kind || entry.route.namespace !== namespace || entry.route.name !== name)
        continue;
      parents.push({
        parentRef: entry.parentRef,
        controllerName: INGRESS_CONTROLLER_NAME,
        conditions: entry.conditions,
      });
    }
  }
  return { parents };
}

/** What `ambit analyze` warns about an ingress configuration: a condition that is not True, and where. */
export interface IngressNote {
  kind: string;
  namespace: string;
  name: string;
  path: string;
  message: string;
}

/** Listeners not programmed and route parentRefs not accepted or not resolved, for every ingress Gateway. */
export function ingressNotes(mesh: Mesh): IngressNote[] {
  const notes: IngressNote[] = [];
  for (const [key, result] of compiledGateways(mesh)) {
    const [namespace, name] = key.split('/') as [string, string];
    for (const listener of result.listeners) {
      const failed = listener.conditions.find((c) => c.status === 'False' && c.type !== 'Conflicted');
      if (failed === undefined) continue;
      const path = `spec.listeners[${listener.name}]`;
      notes.push({
        kind: 'Gateway',
        namespace,
        name,
        path,
        message: `${failed.type} ${failed.reason}: ${failed.message}`,
      });
    }
    for (const entry of result.routes) {
      for (const failed of entry.conditions.filter((c) => c.status === 'False')) {
        notes.push({
          ...entry.route,
          path: 'spec.parentRefs',
          message: `${failed.type} ${failed.reason} on Gateway ${key}: ${failed.message}`,
        });
      }
    }
  }
  return notes;
}
