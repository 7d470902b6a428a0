/**
 * Where a running pod's network namespace is, as a path the ztunnel can open. In the DaemonSet deployment
 * the node agent and the ztunnel are separate pods, each in its own PID namespace, so a `/proc/<pid>/ns/net`
 * path found by one means nothing (or another process) to the other, and Node cannot pass the namespace as
 * a file descriptor (SCM_RIGHTS) as istio-cni does. What both see alike is the directory where the container
 * runtime pins every sandbox's namespace: containerd (`cni-<uuid>`) and CRI-O (`<uuid>`) bind-mount it under
 * the host's /var/run/netns, the very path they give the CNI plugin as CNI_NETNS, and both DaemonSets mount
 * that directory with HostToContainer propagation. So the agent enters each pinned namespace (`nsenter
 * --net`, the SYS_ADMIN it holds for that alone), reads its addresses, and takes the one namespace holding
 * the pod's IPs: no hostPID, no mount of its own to leave behind when the pod goes.
 */
import { statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { RUNTIME_NETNS_DIR } from '../kube/manifests/settings.ts';
import { type CommandRunner, inNetns } from '../redirect/exec.ts';

/** The addresses of every interface in one `ip -j addr show` output. */
export function interfaceAddresses(ipJson: string): string[] {
  const links = JSON.parse(ipJson) as Array<{ addr_info?: Array<{ local?: unknown }> }>;
  if (!Array.isArray(links)) throw new Error('ip -j addr show did not print a list');
  return links.flatMap((link) =>
    (link.addr_info ?? []).flatMap((info) => (typeof info.local === 'string' ? [info.local] : [])),
  );
}

/** Each pinned namespace (by its first path, when one is pinned twice) with the addresses inside it. */
export type PinnedNamespaces = ReadonlyMap<string, readonly string[]>;

export type NetnsMatch = { path: string } | { problem: string };

/**
 * The one pinned namespace that holds all of the pod's IPs. None: the runtime pins elsewhere or the sandbox
 * is gone (ADD enrolls it when it comes back). Several: a stale sandbox still holds the address, and
 * guessing could capture the wrong pod, so it is refused and reported.
 */
export function namespaceHolding(ips: readonly string[], pinned: PinnedNamespaces): NetnsMatch {
  if (ips.length === 0) return { problem: 'the pod has no IP yet' };
  const holders = [...pinned].filter(([, addresses]) => ips.every((ip) => addresses.includes(ip)));
  if (holders.length === 1) return { path: holders[0]![0] };
  if (holders.length === 0) {
    return { problem: `no network namespace pinned under ${RUNTIME_NETNS_DIR} holds ${ips.join(', ')}` };
  }
  return { problem: `${holders.length} pinned network namespaces hold ${ips.join(', ')}: ambiguous` };
}

/** Reads the addresses of every namespace pinned in `dir`; one that vanishes meanwhile is left out. */
export async function readPinnedNamespaces(dir: string, runner: CommandRunner): Promise<PinnedNamespaces> {
  const pinned = new Map<string, readonly string[]>();
  const seen = new Set<string>();
  const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  for (const name of names.sort()) {
    const path = join(dir, name);
    try {
      const { dev, ino } = statSync(path);
      if (seen.has(`${dev}:${ino}`)) continue;
      seen.add(`${dev}:${ino}`);
      const output = await runner.run(inNetns({ path }, ['ip', '-j', 'addr', 'show'], undefined, false));
      if (output.status !== 0) continue; // not a namespace (a file being pinned or unpinned right now)
      pinned.set(path, interfaceAddresses(output.stdout));
    } catch {
      // Gone between readdir and stat, or not ours to read.
    }
  }
  return pinned;
}
