/**
 * Names of everything a local cluster creates, derived from the cluster's name so that clusters side by side
 * never collide and `down` can find every object from the name alone.
 *
 * - Network namespaces: `ambit.<cluster>.fabric`, `ambit.<cluster>.node.<node>`,
 *   `ambit.<cluster>.pod.<namespace>.<pod>`. Cluster, node and namespace names are DNS labels (no dots), so
 *   the dots make the names unambiguous: everything of cluster `c` starts with `ambit.c.` and nothing of
 *   another cluster does.
 * - Interfaces are created directly inside the cluster's own namespaces and never exist in the root
 *   namespace, so their names only need to be unique within one namespace and within 15 characters.
 * - Root-namespace routes carry Ambit's protocol number and a metric derived from the cluster name, so each
 *   cluster owns its own `unreachable` routes even when two clusters use the same ranges.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';

export const NETNS_DIR = '/run/netns';
export const NETNS_ETC_DIR = '/etc/netns';
/** `ip route ... proto 147`: marks the root-namespace routes of every Ambit cluster. */
export const ROUTE_PROTOCOL = 147;
/** Longest netns name we produce (a file name under /run/netns and /etc/netns). */
const MAX_NETNS_NAME = 120;

export function clusterNetnsPrefix(cluster: string): string {
  return `ambit.${cluster}.`;
}

export function fabricNetns(cluster: string): string {
  return `${clusterNetnsPrefix(cluster)}fabric`;
}

export function nodeNetns(cluster: string, node: string): string {
  return `${clusterNetnsPrefix(cluster)}node.${node}`;
}

export function podNetns(cluster: string, namespace: string, pod: string): string {
  return bounded(`${clusterNetnsPrefix(cluster)}pod.${namespace}.${pod}`, MAX_NETNS_NAME);
}

export function netnsPath(netns: string): string {
  return join(NETNS_DIR, netns);
}

/** Files here are bind-mounted over /etc by `ip netns exec` (resolv.conf, hosts). */
export function netnsEtcDir(netns: string): string {
  return join(NETNS_ETC_DIR, netns);
}

/** Interface names inside the cluster's namespaces. */
export const IFACE = {
  /** The bridge in the fabric namespace that joins all nodes. */
  fabricBridge: 'fabric0',
  /** A node's (or a pod's) uplink: the veth end inside the node (or pod) namespace. */
  uplink: 'eth0',
  /** The bridge in a node namespace that joins its pods; holds the pods' gateway address. */
  podBridge: 'cbr0',
} as const;

/** The fabric-side end of node `index`'s uplink. */
export function fabricPortName(index: number): string {
  return `node${index}`;
}

/** The node-side end of a pod's veth: stable for the pod's uid, like Calico's `cali<hash>` names. */
export function podVethName(podUid: string): string {
  return `veth${shortHash(podUid, 10)}`;
}

/** A route metric in [2^30, 2^31) unique (with overwhelming probability) to the cluster name. */
export function routeMetric(cluster: string): number {
  const digest = createHash('sha256').update(cluster).digest();
  return 0x40000000 + (digest.readUInt32BE(0) % 0x40000000);
}

export function shortHash(text: string, length: number): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

/** Keeps `name` within `max` characters; a too-long name is cut and made unique again with a hash. */
export function bounded(name: string, max: number): string {
  if (name.length <= max) return name;
  const hash = shortHash(name, 10);
  return `${name.slice(0, max - hash.length - 1)}-${hash}`;
}
