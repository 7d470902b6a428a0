/**
 * Helpers for integration tests of the local cluster: unique names, cluster files, and listing everything a
 * cluster could leave behind (by listing the system, not by trusting our own state).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clusterNetnsPrefix, routeMetric } from '../../src/local/names.ts';

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

/** A state root for this test file, reachable by the unprivileged pod users. */
export function makeStateRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'ambit-it-'));
  chmodSync(root, 0o755);
  return root;
}

export function writeClusterFile(dir: string, name: string, yaml: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, yaml);
  return file;
}

export interface Leftovers {
  netns: string[];
  etcNetns: string[];
  routes: string[];
  processes: number[];
  stateDir: boolean;
  rootLinks: string[];
}

/**
 * Everything of cluster `name` that still exists, found by listing: namespaces, /etc/netns entries, guard
 * routes, processes whose command line names the state dir or that live in the cluster's namespaces, the
 * state dir, and any of `interfaces` present in the root namespace.
 */
export function leftovers(name: string, stateRoot: string, interfaces: readonly string[] = []): Leftovers {
  const prefix = clusterNetnsPrefix(name);
  const stateDir = join(stateRoot, name);
  const netns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.split(' ')[0]!)
    .filter((ns) => ns.startsWith(prefix));
  const etcNetns = existsSync('/etc/netns')
    ? readdirSync('/etc/netns').filter((e) => e.startsWith(prefix))
    : [];
  const routes = execFileSync('ip', ['route', 'show', 'table', 'all'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(`metric ${routeMetric(name)}`));
  const netnsIds = new Set(
    netns.flatMap((ns) => {
      try {
        return [`net:[${statSync(`/run/netns/${ns}`).ino}]`];
      } catch {
        return [];
      }
    }),
  );
  const processes = readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry) && Number(entry) !== process.pid)
    .filter((pid) => {
      try {
        if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(stateDir)) return true;
        return netnsIds.has(readlinkSync(`/proc/${pid}/ns/net`));
      } catch {
        return false;
      }
    })
    .map(Number);
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
  const rootLinks = interfaces.filter((name) => new RegExp(`^\\d+: ${name}[@:]`, 'm').test(links));
  return { netns, etcNetns, routes, processes, stateDir: existsSync(stateDir), rootLinks };
}

export const NOTHING_LEFT: Leftovers = {
  netns: [],
  etcNetns: [],
  routes: [],
  processes: [],
  stateDir: false,
  rootLinks: [],
};

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
