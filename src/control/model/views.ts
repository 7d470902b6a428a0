/**
 * What each subscriber receives. A ztunnel gets every service and every workload (it must resolve any
 * destination), but only its own node's workloads in full: a workload on another node comes as the addressing
 * data HBONE needs (`remoteWorkload`), and only the policies that apply to workloads enrolled on its node; a
 * waypoint gets the services bound to it, compiled into its route table. Pure functions of the mesh, tested
 * as units.
 */

import { GATEWAY_NAME_LABEL } from '../../core/labels.ts';
import type { NodeSnapshot, WaypointRef, WaypointSnapshot, Workload } from '../../core/model/index.ts';
import { policyApplies, type ScopedPolicy } from '../../core/policy/scope.ts';
import type { MeshChanges } from './incremental.ts';
import { compileClassicIngress, selectingGateways } from './ingress/classic.ts';
import { compileIngress } from './ingress/compile.ts';
import type { GatewayDeployment } from './ingress/gateway-policies.ts';
import { isIngressGateway } from './ingress/gateways.ts';
import { type CompiledRouteTable, compileRouteTable } from './l7/compile.ts';
import type { Mesh } from './mesh.ts';
import { putSorted, uidOf } from './pod-index.ts';
import { waypointTelemetry } from './telemetry.ts';

export type ZtunnelView = Omit<NodeSnapshot, 'version'>;
export type WaypointView = Omit<WaypointSnapshot, 'version'>;

export type ZtunnelPolicies = Pick<ZtunnelView, 'policies' | 'peerAuthentications' | 'outboundTrafficPolicy'>;

export function ztunnelView(mesh: Mesh, node: string): ZtunnelView {
  const local = mesh.workloads.filter((workload) => workload.node === node && workload.enrolled);
  return {
    workloads: mesh.workloads.map((workload) =>
      workload.node === node ? workload : remoteWorkload(workload),
    ),
    services: mesh.services,
    ...ztunnelPolicies(mesh, local),
    trustBundle: mesh.trustBundle,
  };
}

/**
 * The labels a data plane reads of a workload on another node: a waypoint instance's gateway name (which
 * waypoint a picked instance is, for explain). Selectors (policies, PeerAuthentications) are matched only
 * against the workloads of a ztunnel's own node, which arrive in full, and the control plane resolves the
 * rest (service endpoints, waypoint bindings, identities) before it pushes.
 */
const REMOTE_LABELS: readonly string[] = [GATEWAY_NAME_LABEL];

/** One remote form per workload object: the model hands back unchanged workloads as the same objects. */
const remoteForms = new WeakMap<Workload, Workload>();

/**
 * A workload as the ztunnels of other nodes receive it: its addresses, node, identity, enrollment, waypoint
 * and canonical names (routing, HBONE, metrics), without the labels no remote decision reads. The same object
 * for the same workload, so that its encoding is reused downstream.
 */
export function remoteWorkload(workload: Workload): Workload {
  let remote = remoteForms.get(workload);
  if (remote === undefined) {
    const labels: Record<string, string> = {};
    for (const key of REMOTE_LABELS) {
      const value = workload.labels[key];
      if (value !== undefined) labels[key] = value;
    }
    remote = { ...workload, labels };
    remoteForms.set(workload, remote);
  }
  return remote;
}

/**
 * The part of a ztunnel's view that is its own: the policies that apply to the workloads enrolled on it, and
 * the mesh config's outboundTrafficPolicy (sent with them, as it is not a list of shared objects).
 */
export function ztunnelPolicies(mesh: Mesh, local: readonly Workload[]): ZtunnelPolicies {
  const needed = <P extends ScopedPolicy>(policies: readonly P[]) =>
    policies.filter((policy) => local.some((workload) => policyApplies(policy, workload)));
  return {
    policies: needed(mesh.policies),
    peerAuthentications: needed(mesh.peerAuthentications),
    outboundTrafficPolicy: mesh.meshConfig.outboundTrafficPolicy,
  };
}

/** The workloads of each node, indexed once per mesh rather than searched once per ztunnel. */
export function workloadsByNode(mesh: Mesh): Map<string, Workload[]> {
  const byNode = new Map<string, Workload[]>();
  for (const workload of mesh.workloads) {
    const list = byNode.get(workload.node);
    if (list) list.push(workload);
    else byNode.set(workload.node, [workload]);
  }
  return byNode;
}

/**
 * `byNode` (of the previous mesh) brought up to date with `changes`: only the lists of the nodes whose
 * workloads changed are made again, each in uid order as `workloadsByNode` makes them.
 */
export function updatedByNode(
  byNode: ReadonlyMap<string, Workload[]>,
  changes: MeshChanges,
): Map<string, Workload[]> {
  const updated = new Map(byNode);
  for (const node of changes.nodes) {
    const list = (byNode.get(node) ?? []).filter((workload) => !changes.workloads.has(workload.uid));
    for (const workload of changes.workloads.values())
      if (workload?.node === node) putSorted(list, workload, uidOf);
    if (list.length > 0) updated.set(node, list);
    else updated.delete(node);
  }
  return updated;
}

function sameRef(a: WaypointRef | undefined, b: WaypointRef): boolean {
  return a !== undefined && a.name === b.name && a.namespace === b.namespace;
}

/** A waypoint's view: the mesh's workloads and services, and its compiled route table. */
export function waypointView(mesh: Mesh, waypoint: WaypointRef): WaypointView {
  const gateway = mesh.gateways.find(
    (candidate) => candidate.name === waypoint.name && candidate.namespace === waypoint.namespace,
  );
  // An ingress gateway gets its listeners' table; its spec stays home (its Secrets travel compiled, once).
  const ingress = gateway !== undefined && isIngressGateway(gateway.spec);
  const classic = gateway === undefined ? classicGatewayDeployment(mesh, waypoint) : undefined;
  return {
    waypoint,
    gateway: ingress ? undefined : gateway,
    workloads: mesh.workloads,
    services: mesh.services,
    ...(ingress
      ? compileIngress({ ...mesh, gateway }).table
      : classic
        ? compileClassicIngress({ ...mesh, deployment: classic }).table
        : waypointRouteTable(mesh, waypoint).table),
    telemetry: waypointTelemetry(mesh, waypoint),
    trustBundle: mesh.trustBundle,
  };
}

/**
 * The classic gateway deployment a subscriber without a Gateway API Gateway is: its instances' labels, when
 * some Istio Gateway's selector picks them (as `istio: ingressgateway` picks Istio's ingress gateway).
 */
export function classicGatewayDeployment(mesh: Mesh, ref: WaypointRef): GatewayDeployment | undefined {
  const instance = mesh.workloads.find(
    (workload) => workload.namespace === ref.namespace && workload.labels[GATEWAY_NAME_LABEL] === ref.name,
  );
  if (instance === undefined || selectingGateways(mesh.istioGateways, instance.labels).length === 0)
    return undefined;
  return { ...ref, labels: instance.labels };
}

/** The compiled route table of a waypoint, with what the compiler could not carry over as written. */
export function waypointRouteTable(mesh: Mesh, waypoint: WaypointRef): CompiledRouteTable {
  return compileRouteTable({
    ...mesh,
    waypoint,
    served: mesh.services.filter((service) => sameRef(service.waypoint, waypoint)),
    servedWorkloads: mesh.workloads.filter((workload) => sameRef(workload.waypoint, waypoint)),
  });
}
