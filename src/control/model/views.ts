/**
 * What each subscriber receives. A ztunnel gets every workload and service (it must resolve any destination)
 * but only the policies that apply to workloads enrolled on its node; a waypoint gets the services bound to
 * it and the L7 config that concerns them. Pure functions of the mesh, tested as units.
 */

import { hostCovers } from '../../core/config/kinds/istio-networking.ts';
import { CLUSTER_DOMAIN } from '../../core/labels.ts';
import type { NodeSnapshot, WaypointRef, WaypointSnapshot } from '../../core/model/index.ts';
import { policyApplies, type ScopedPolicy } from '../../core/policy/scope.ts';
import type { Mesh } from './mesh.ts';

export type ZtunnelView = Omit<NodeSnapshot, 'version'>;
export type WaypointView = Omit<WaypointSnapshot, 'version'>;

export function ztunnelView(mesh: Mesh, node: string): ZtunnelView {
  const local = mesh.workloads.filter((workload) => workload.node === node && workload.enrolled);
  const needed = <P extends ScopedPolicy>(policies: readonly P[]) =>
    policies.filter((policy) => local.some((workload) => policyApplies(policy, workload)));
  return {
    workloads: mesh.workloads,
    services: mesh.services,
    policies: needed(mesh.policies),
    peerAuthentications: needed(mesh.peerAuthentications),
    trustBundle: mesh.trustBundle,
  };
}

/** Istio's short-name rule: a host without a dot is a Service in the config's own namespace. */
export function resolveHost(host: string, namespace: string): string {
  return host === '*' || host.includes('.') ? host : `${host}.${namespace}.svc.${CLUSTER_DOMAIN}`;
}

function sameRef(a: WaypointRef | undefined, b: WaypointRef): boolean {
  return a !== undefined && a.name === b.name && a.namespace === b.namespace;
}

export function waypointView(mesh: Mesh, waypoint: WaypointRef): WaypointView {
  const bound = mesh.services.filter((service) => sameRef(service.waypoint, waypoint));
  const boundHosts = bound.map((service) => service.hostname);
  const isBoundService = (name: string, namespace: string) =>
    bound.some((service) => service.name === name && service.namespace === namespace);
  return {
    waypoint,
    gateway: mesh.gateways.find(
      (gateway) => gateway.name === waypoint.name && gateway.namespace === waypoint.namespace,
    ),
    workloads: mesh.workloads,
    services: mesh.services,
    virtualServices: mesh.virtualServices.filter((vs) =>
      vs.spec.hosts.some((host) =>
        boundHosts.some((bound) => hostCovers(resolveHost(host, vs.namespace), bound)),
      ),
    ),
    destinationRules: mesh.destinationRules,
    httpRoutes: mesh.httpRoutes.filter((route) =>
      route.spec.parentRefs.some((parent) => {
        const namespace = parent.namespace ?? route.namespace;
        if (parent.kind === 'Service') return isBoundService(parent.name, namespace);
        return parent.kind === 'Gateway' && parent.name === waypoint.name && namespace === waypoint.namespace;
      }),
    ),
    authorizationPolicies: mesh.attachedPolicies.filter((policy) =>
      policy.spec.targetRefs.some((ref) =>
        ref.kind === 'Service'
          ? isBoundService(ref.name, policy.namespace)
          : ref.kind === 'Gateway' && ref.name === waypoint.name && policy.namespace === waypoint.namespace,
      ),
    ),
    trustBundle: mesh.trustBundle,
  };
}
