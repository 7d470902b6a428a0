/**
 * `ambit local down`: removes everything a cluster created, whatever state it is in: fully up, half-built
 * by an `up` that was killed, or already half-removed. What to remove is the union of the journal (objects
 * recorded before they were created) and what can be found by the names derived from the cluster's name
 * (namespaces `ambit.<name>.*`, routes with the cluster's metric, the supervisor by its command line), so
 * a lost or torn journal still cleans up. Every step tolerates objects that are already gone.
 */
import { existsSync, lstatSync, readdirSync, readFileSync, rmdirSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { guardRoutesOf, removeGuardRoutes } from './guard-routes.ts';
import { clusterNetnsPrefix, NETNS_ETC_DIR, routeMetric } from './names.ts';
import { deleteNetns, killProcessesIn, listNetns } from './netns.ts';
import { SYSTEM_STOP_GRACE_MS, supervisorArgs } from './processes.ts';
import { commandLine, findProcesses, isAlive, signal, sleep, terminate } from './procfs.ts';
import type { Progress } from './progress.ts';
import { clusterDir, readClusterState, readJournal, type StatePaths, statePaths } from './state.ts';
import type { ClusterState } from './types.ts';

/** Time the supervisor gets to stop its processes gracefully before everything is killed. */
/** The supervisor's own stop: its system components' grace period, and a little more. */
const SUPERVISOR_GRACE_MS = SYSTEM_STOP_GRACE_MS + 2_000;

export interface DownResult {
  /** False when nothing of the cluster was found (down is idempotent). */
  existed: boolean;
}

export async function down(root: string, name: string, progress: Progress): Promise<DownResult> {
  const paths = statePaths(clusterDir(root, name));
  // An `up` still building this cluster would go on creating objects behind our back: stop it before
  // looking (the tools it runs die with it, see run.ts).
  const upPid = runningUp(paths.upPid);
  if (upPid !== undefined) {
    progress.note(`stopping \`ambit local up\` (pid ${upPid}) of cluster ${name}`);
    signal(upPid, 'SIGKILL');
    while (isAlive(upPid)) await sleep(10);
  }
  const journal = readJournal(paths);
  const prefix = clusterNetnsPrefix(name);
  const netns = [
    ...new Set([
      ...journal.flatMap((entry) => (entry.type === 'netns' ? [entry.name] : [])),
      ...listNetns().filter((ns) => ns.startsWith(prefix)),
    ]),
  ];
  const etcDirs = [
    ...new Set([
      ...journal.flatMap((entry) => (entry.type === 'netns-etc' ? [entry.dir] : [])),
      ...listDir(NETNS_ETC_DIR)
        .filter((entry) => entry.startsWith(prefix))
        .map((entry) => join(NETNS_ETC_DIR, entry)),
    ]),
  ].filter((dir) => existsSync(dir));
  const metric = routeMetric(name);
  const routes = await guardRoutesOf(metric);
  const supervisors = findProcesses(supervisorArgs(paths.dir));
  // The supervisor gives each pod its termination grace period: wait that long, and a little more.
  const graceMs = Math.max(
    SUPERVISOR_GRACE_MS,
    ...(readClusterStateQuietly(paths)?.pods ?? []).map(
      (pod) => (pod.terminationGracePeriodSeconds ?? 0) * 1000 + 2000,
    ),
  );
  const existed =
    existsSync(paths.dir) ||
    netns.length > 0 ||
    etcDirs.length > 0 ||
    routes.length > 0 ||
    supervisors.length > 0;
  if (!existed) return { existed };

  const steps: [string, () => Promise<void>][] = [];
  if (supervisors.length > 0) {
    steps.push(['stopping the supervisor and the processes it runs', () => terminate(supervisors, graceMs)]);
  }
  if (netns.length > 0) {
    steps.push(['stopping any process left in the namespaces', () => killProcessesIn(netns)]);
    steps.push([`deleting ${netns.length} network namespaces`, () => deleteNetns(netns)]);
  }
  if (etcDirs.length > 0) {
    steps.push([
      'removing /etc/netns files',
      async () => {
        for (const dir of etcDirs) rmSync(dir, { recursive: true, force: true });
      },
    ]);
  }
  if (routes.length > 0) {
    steps.push([`removing the guard routes for ${routes.join(', ')}`, () => removeGuardRoutes(metric)]);
  }
  const mountPoints = journal.flatMap((entry) => (entry.type === 'mountpoint' ? [entry.path] : []));
  if (mountPoints.length > 0) {
    steps.push([
      'removing the volume mount points made on the host',
      async () => removeMountPoints(mountPoints),
    ]);
  }
  steps.push([`removing ${paths.dir}`, async () => rmSync(paths.dir, { recursive: true, force: true })]);
  progress.begin(steps.length);
  for (const [label, work] of steps) await progress.step(label, work);
  return { existed };
}

/** The pid of an `ambit local up` of this cluster that is still running (not ourselves). */
function runningUp(pidFile: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid === process.pid || !isAlive(pid)) return undefined;
  return commandLine(pid)?.includes('\0local\0up\0') ? pid : undefined;
}

/** Deepest first, and only while empty: a directory someone else put files in since is left alone. */
/** Removes the mount points `up` made, deepest first: empty directories, and the empty files of file mounts. */
function removeMountPoints(paths: readonly string[]): void {
  for (const path of [...paths].reverse()) {
    try {
      const stat = lstatSync(path);
      if (stat.isDirectory()) rmdirSync(path);
      else if (stat.isFile() && stat.size === 0) unlinkSync(path);
    } catch {
      // Gone already, or not empty.
    }
  }
}

function readClusterStateQuietly(paths: StatePaths): ClusterState | undefined {
  try {
    return readClusterState(paths);
  } catch {
    return undefined;
  }
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
