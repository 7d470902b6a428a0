/**
 * The state directory of a cluster: `/run/ambit/<name>/` (or `$AMBIT_STATE_DIR/<name>/`). It holds the plan
 * (`cluster.json`), the journal of every object created outside it, recorded *before* the object is created
 * so that `down` can always remove it, the supervisor's process list and status, logs, and the pods' bin
 * directory. Its existence is what "the cluster exists" means.
 */

import { appendFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AmbitError, UsageError } from '../core/errors.ts';
import { readJsonFile } from '../core/files.ts';
import { clusterNameProblem } from './cluster-kind.ts';
import type { ClusterState } from './types.ts';

export const DEFAULT_STATE_ROOT = '/run/ambit';

export function stateRoot(): string {
  return process.env.AMBIT_STATE_DIR || DEFAULT_STATE_ROOT;
}

export interface StatePaths {
  dir: string;
  cluster: string;
  journal: string;
  processes: string;
  status: string;
  /** pid of a running `up`, so that `down` can stop it first. */
  upPid: string;
  /** The cluster's config as the control plane should read it (see resolved-config.ts). */
  resources: string;
  logs: string;
  supervisorLog: string;
  /** Put first on every pod's PATH: `ambit` and `node` from this checkout. */
  bin: string;
  /** The running supervisor's control socket (`ambit local label` talks to it; see supervisor/control.ts). */
  control: string;
}

export function statePaths(dir: string): StatePaths {
  return {
    dir,
    cluster: join(dir, 'cluster.json'),
    journal: join(dir, 'journal.jsonl'),
    processes: join(dir, 'processes.json'),
    status: join(dir, 'status.json'),
    upPid: join(dir, 'up.pid'),
    resources: join(dir, 'resources.yaml'),
    logs: join(dir, 'logs'),
    supervisorLog: join(dir, 'logs', 'supervisor.log'),
    bin: join(dir, 'bin'),
    control: join(dir, 'supervisor.sock'),
  };
}

/** Longest path a unix socket can be bound at (`sun_path` is 108 bytes, NUL included). */
const MAX_UNIX_SOCKET_PATH = 107;

/** Refuses, before anything is created, a socket path that bind() would reject (a deep $AMBIT_STATE_DIR). */
export function checkUnixSocketPath(path: string, what: string): void {
  if (Buffer.byteLength(path) > MAX_UNIX_SOCKET_PATH) {
    throw new AmbitError(
      'USAGE',
      `${what} ${path} is longer than the ${MAX_UNIX_SOCKET_PATH} bytes a unix socket path may have: use a shorter state directory ($AMBIT_STATE_DIR) or shorter cluster and node names`,
    );
  }
}

export function clusterDir(root: string, name: string): string {
  return join(root, name);
}

/** Objects outside the state directory, each recorded before it is created. */
export type JournalEntry =
  | { type: 'route'; dst: string; metric: number }
  | { type: 'netns'; name: string }
  | { type: 'netns-etc'; dir: string }
  /** A directory made on the host as a pod volume's mount point (see pod-volumes.ts). */
  | { type: 'mountpoint'; path: string };

export function recordInJournal(paths: StatePaths, entries: readonly JournalEntry[]): void {
  appendFileSync(paths.journal, entries.map((entry) => `${JSON.stringify(entry)}\n`).join(''));
}

/** The journal's entries; a line cut short by a crash mid-write is skipped (its object was not created). */
export function readJournal(paths: StatePaths): JournalEntry[] {
  if (!existsSync(paths.journal)) return [];
  const entries: JournalEntry[] = [];
  for (const line of readFileSync(paths.journal, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      entries.push(JSON.parse(line) as JournalEntry);
    } catch {
      // A torn last line: the write did not finish, so neither did the creation that followed it.
    }
  }
  return entries;
}

export function readClusterState(paths: StatePaths): ClusterState | undefined {
  return readJsonFile<ClusterState>(paths.cluster);
}

/** Loads a cluster that must exist and be fully recorded (for status, exec, logs). */
export function requireClusterState(root: string, name: string): ClusterState {
  const paths = statePaths(clusterDir(root, name));
  const state = readClusterState(paths);
  if (!state && existsSync(paths.dir)) {
    throw new AmbitError(
      'STATE_CORRUPT',
      `cluster ${name} was never fully recorded (an interrupted \`up\`?): remove it with \`ambit local down --name ${name}\``,
    );
  }
  if (!state) {
    throw new AmbitError(
      'NOT_FOUND',
      `no local cluster named ${JSON.stringify(name)} in ${root} (run \`ambit local up -f <file>\`)`,
    );
  }
  return state;
}

/** Names of the clusters that exist under `root` (fully up or not). */
export function listClusters(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && clusterNameProblem(entry.name) === undefined)
    .map((entry) => entry.name)
    .sort();
}

/** The cluster a command acts on: the one named, or the only one that exists. */
export function selectCluster(root: string, name: string | undefined): string {
  if (name !== undefined) {
    const problem = clusterNameProblem(name);
    if (problem) throw new UsageError(problem);
    return name;
  }
  const clusters = listClusters(root);
  if (clusters.length === 1) return clusters[0]!;
  if (clusters.length === 0) {
    throw new AmbitError(
      'NOT_FOUND',
      `no local cluster exists in ${root} (run \`ambit local up -f <file>\`)`,
    );
  }
  throw new UsageError(
    `${clusters.length} local clusters exist (${clusters.join(', ')}): pick one with --name`,
  );
}
