/**
 * Network namespaces by name (the files `ip netns` keeps under /run/netns): listing, finding the processes
 * inside them, deleting them. Reads /proc directly, so finding the processes of a whole cluster is one pass.
 */
import { readdirSync, readlinkSync, statSync } from 'node:fs';
import { errorMessage } from '../core/errors.ts';
import { NETNS_DIR, netnsPath } from './names.ts';
import { ipBatch } from './run.ts';

export function listNetns(): string[] {
  try {
    return readdirSync(NETNS_DIR).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** The `net:[inode]` identity of a named namespace, as /proc/<pid>/ns/net shows it; undefined if gone. */
function netnsIdentity(name: string): string | undefined {
  try {
    return `net:[${statSync(netnsPath(name)).ino}]`;
  } catch {
    return undefined;
  }
}

/** Whether process `pid` is (already) inside the named namespace. */
export function isInNetns(pid: number, name: string): boolean {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`) === netnsIdentity(name);
  } catch {
    return false;
  }
}

/** pids of the processes whose network namespace is one of `names` (any user, any depth). */
export function pidsInNetns(names: readonly string[]): number[] {
  const wanted = new Set(names.map(netnsIdentity).filter((id) => id !== undefined));
  if (wanted.size === 0) return [];
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (wanted.has(readlinkSync(`/proc/${entry}/ns/net`))) pids.push(Number(entry));
    } catch {
      // The process exited while we looked, or is a zombie without namespaces: nothing to stop.
    }
  }
  return pids;
}

/** Kills every process in the namespaces (SIGKILL: their supervisor has had its chance to stop them). */
export async function killProcessesIn(names: readonly string[], timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = pidsInNetns(names);
    if (pids.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`processes ${pids.join(', ')} survived SIGKILL in ${names.length} namespace(s)`);
    }
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH')
          throw new Error(`kill ${pid}: ${errorMessage(error)}`);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Deletes the named namespaces that exist (their interfaces go with them); missing ones are fine. */
export async function deleteNetns(names: readonly string[]): Promise<void> {
  const existing = new Set(listNetns());
  const present = names.filter((name) => existing.has(name));
  if (present.length > 0) await ipBatch(present.map((name) => `netns del ${name}`));
}
