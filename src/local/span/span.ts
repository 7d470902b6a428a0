/**
 * A local cluster spanning several Linux hosts (VMs or machines): every host runs `ambit local up` with the
 * same cluster files, and so the same plan (names, addresses, placement are pure functions of the files),
 * and realizes only its own nodes: their namespaces, pods and processes. The fabric bridge of each host
 * takes one of the host's network devices as a port, so the hosts' fabrics are one segment and the plan's
 * underlay addresses and pod routes work across hosts unchanged; cross-node pod traffic then leaves a host
 * as the mesh carries it (HBONE on 15008).
 *
 * The host of the first node runs the control plane and, beside it, the node gateway (node-gateway.ts),
 * through which the other hosts' supervisors report their pods. A joining host gets what its ztunnels need
 * (the mesh root, its nodes' tokens, the gateway's address) from a join bundle (join-bundle.ts).
 */
import { AmbitError } from '../../core/errors.ts';
import { DEFAULT_TRUST_DOMAIN, spiffeUri } from '../../core/identity.ts';
import type { ClusterState, NodeRecord } from '../types.ts';
import type { JoinBundle } from './join-bundle.ts';

export interface SpanRecord {
  /** The nodes this host realizes; every other node of the plan runs on another host. */
  localNodes: string[];
  /** This host's network device that becomes a port of the fabric bridge (e.g. eth1): the other hosts' side. */
  underlayDevice: string;
  /** On a host without the control plane: the node gateway (`ip:port`) its supervisor reports pods through. */
  gateway?: string | undefined;
}

/** What `ambit local up --span-nodes ... --underlay-device ... [--join FILE]` asks for. */
export interface SpanOptions {
  localNodes: string[];
  underlayDevice: string;
  /** On a host without the control plane's node: the bundle from the host that has it. */
  join?: JoinBundle | undefined;
}

/** The span as recorded in the cluster's state, checked against the plan. */
export function spanRecord(
  cluster: Pick<ClusterState, 'nodes' | 'controlPlane'>,
  options: SpanOptions,
): SpanRecord {
  // Replicas share one state directory, which hosts do not.
  if ((cluster.controlPlane?.replicas ?? 1) > 1) {
    throw new AmbitError('USAGE', 'a cluster across hosts runs one control plane: drop its replicas');
  }
  const record: SpanRecord = {
    localNodes: options.localNodes,
    underlayDevice: options.underlayDevice,
    gateway: options.join?.gateway,
  };
  checkSpan(cluster.nodes, record);
  return record;
}

/** The node gateway's port on the first node's underlay address (beside the control plane's 15012 and 15014). */
export const NODE_GATEWAY_PORT = 15013;

/** The node gateway's SPIFFE identity (its certificate is the mesh CA's): what joining hosts check it for. */
export const NODE_GATEWAY_IDENTITY = spiffeUri({
  trustDomain: DEFAULT_TRUST_DOMAIN,
  namespace: 'istio-system',
  serviceAccount: 'ambit-node-gateway',
});

export function nodeGatewayAddress(cluster: Pick<ClusterState, 'nodes'>): string {
  // The plan refuses a cluster without nodes.
  return `${cluster.nodes[0]!.underlayIP}:${NODE_GATEWAY_PORT}`;
}

/** Whether this host realizes `node` (always, in a cluster on one host). */
export function isLocalNode(cluster: Pick<ClusterState, 'span'>, node: string): boolean {
  return cluster.span === undefined || cluster.span.localNodes.includes(node);
}

/** The nodes this host realizes, in plan order. */
export function localNodes(cluster: Pick<ClusterState, 'span' | 'nodes'>): NodeRecord[] {
  return cluster.nodes.filter((node) => isLocalNode(cluster, node.name));
}

/** Whether this host runs the control plane (the first node's). */
export function hostsControlPlane(cluster: Pick<ClusterState, 'span' | 'nodes'>): boolean {
  return cluster.nodes[0] !== undefined && isLocalNode(cluster, cluster.nodes[0].name);
}

/** Linux interface names: at most 15 characters, none of `/`, whitespace or `:`. */
const DEVICE_NAME = /^[A-Za-z0-9_.-]{1,15}$/;

/**
 * Checks a span against the plan: known nodes, each once; a device name; a gateway exactly when the host does
 * not run the control plane (it has no other way to report its pods).
 */
export function checkSpan(nodes: readonly Pick<NodeRecord, 'name'>[], span: SpanRecord): void {
  const known = new Set(nodes.map((node) => node.name));
  if (span.localNodes.length === 0) throw new AmbitError('USAGE', '--span-nodes names no node');
  const unknown = span.localNodes.filter((node) => !known.has(node));
  if (unknown.length > 0) {
    throw new AmbitError(
      'USAGE',
      `--span-nodes: the cluster has no node ${unknown.join(', ')} (its nodes: ${[...known].join(', ')})`,
    );
  }
  if (new Set(span.localNodes).size !== span.localNodes.length) {
    throw new AmbitError('USAGE', '--span-nodes names a node twice');
  }
  if (!DEVICE_NAME.test(span.underlayDevice)) {
    throw new AmbitError(
      'USAGE',
      `--underlay-device: ${JSON.stringify(span.underlayDevice)} is no interface name`,
    );
  }
  const controlHere = span.localNodes.includes(nodes[0]?.name ?? '');
  if (controlHere && span.gateway !== undefined) {
    throw new AmbitError(
      'USAGE',
      `--join: this host runs ${nodes[0]!.name}, the control plane's node: it joins nothing`,
    );
  }
  if (!controlHere && span.gateway === undefined) {
    throw new AmbitError(
      'USAGE',
      `this host does not run ${nodes[0]?.name} (the control plane's node): give --join with the bundle from its host`,
    );
  }
}
