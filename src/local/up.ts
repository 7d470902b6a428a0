/**
 * `ambit local up`: validates the cluster file (a bad file creates nothing), checks the host (tools, free
 * address ranges, no leftovers of a cluster with the same name), then builds the topology step by step,
 * recording each object before creating it, hands the processes to a detached supervisor and waits until
 * every pod has started. Any failure or Ctrl-C after the first object was created runs `down`.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { RawDocument } from '../core/config/documents.ts';
import { formatIssue } from '../core/config/issues.ts';
import { AmbitError, errorMessage } from '../core/errors.ts';
import { writeJsonAtomic } from '../core/files.ts';
import { loadClusterFiles } from './cluster-file.ts';
import { down } from './down.ts';
import { type ExtensionContext, loadExtensions } from './extensions.ts';
import { checkRangesFree, guardRoutesOf } from './guard-routes.ts';
import { lastLines } from './logs.ts';
import { clusterNetnsPrefix, routeMetric } from './names.ts';
import { listNetns } from './netns.ts';
import { noexecMount } from './noexec-mount.ts';
import { writePodVolumes } from './pod-volumes.ts';
import { checkPodUsers } from './preflight.ts';
import { AMBIT_ENTRY, podProcess, supervisorArgs, writeBinDir } from './processes.ts';
import { isAlive } from './procfs.ts';
import { type Progress, silentProgress } from './progress.ts';
import { resolvedConfig } from './resolved-config.ts';
import { run } from './run.ts';
import { installJoinBundle } from './span/join-bundle.ts';
import { isLocalNode, type SpanOptions, spanRecord } from './span/span.ts';
import { checkUnixSocketPath, clusterDir, readClusterState, type StatePaths, statePaths } from './state.ts';
import { openLogFile } from './supervisor/log-files.ts';
import { type ProcessStatus, readSupervisorStatus } from './supervisor/status.ts';
import { topologySteps } from './topology.ts';
import type { ClusterState } from './types.ts';

/**
 * How long `up` waits for the pods by default before it returns with the late ones shown not ready: a
 * cluster of a few pods is ready in seconds, but a loaded 2-core machine has taken over 20 s.
 */
export const DEFAULT_UP_WAIT_MS = 60_000;

export interface UpOptions {
  files: string[];
  /** Overrides the Cluster document's name. */
  name?: string | undefined;
  root: string;
  /** Extension module URLs (see extensions.ts); the defaults unless a caller adds its own. */
  extensions: readonly string[];
  /** Overrides the Cluster's `spec.controlPlane.replicas`. */
  controlPlaneReplicas?: number | undefined;
  progress: Progress;
  /** How long to wait for every pod to be ready or to have ended (default `DEFAULT_UP_WAIT_MS`). */
  startTimeoutMs?: number | undefined;
  /** Leave a failed cluster in place for inspection instead of removing it. */
  keepOnFailure?: boolean;
  /** Realize only some nodes of the plan, the others running on other hosts (see span/span.ts). */
  span?: SpanOptions | undefined;
}

export interface UpResult {
  cluster: ClusterState;
  elapsedMs: number;
}

export async function up(options: UpOptions): Promise<UpResult> {
  const started = performance.now();
  const { progress } = options;
  const {
    state: cluster,
    warnings,
    documents,
    volumes,
  } = loadClusterFiles(options.files, {
    name: options.name,
    stateDirFor: (name) => clusterDir(options.root, name),
    extensions: options.extensions,
    controlPlaneReplicas: options.controlPlaneReplicas,
  });
  for (const warning of warnings) progress.warn(formatIssue(warning));
  if (options.span) cluster.span = spanRecord(cluster, options.span);
  const paths = statePaths(cluster.stateDir);
  const topology = topologySteps(cluster, paths);
  progress.begin(topology.length + 5);

  await progress.step('checking the host', () => preflight(cluster, paths));
  claimStateDir(cluster, paths);

  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const step = (label: string, work: () => Promise<void>) => {
    if (interrupted) throw new AmbitError('INTERRUPTED', 'interrupted');
    return progress.step(label, work);
  };
  try {
    await step('recording the cluster', async () => {
      recordCluster(cluster, paths, documents);
      if (options.span?.join) installJoinBundle(cluster, options.span.join, options.span.localNodes);
      writePodVolumes(paths, volumes, cluster.pods);
    });
    for (const topologyStep of topology) await step(topologyStep.label, topologyStep.run);
    const context: ExtensionContext = { cluster, paths };
    const extensions = await loadExtensions(cluster.extensions);
    await step(
      `preparing extensions${extensions.length ? ` (${extensions.map((e) => e.name).join(', ')})` : ''}`,
      async () => {
        for (const extension of extensions) await extension.prepare?.(context);
        const system = extensions.flatMap((extension) => extension.systemProcesses?.(context) ?? []);
        const processes = [...system, ...cluster.pods.map((pod) => podProcess(paths, pod))];
        // Of a cluster across hosts, this host runs what belongs to its own nodes.
        writeJsonAtomic(
          paths.processes,
          processes.filter((spec) => spec.node === undefined || isLocalNode(cluster, spec.node)),
        );
      },
    );
    let supervisor = 0;
    await step('starting the supervisor', async () => {
      supervisor = startSupervisor(paths);
    });
    await step(`starting ${cluster.pods.length} pods and waiting until they listen`, () =>
      waitForProcesses(
        paths,
        supervisor,
        options.startTimeoutMs ?? DEFAULT_UP_WAIT_MS,
        () => interrupted,
        progress,
      ),
    );
    rmSync(paths.upPid, { force: true });
    // The supervisor may have added pods (a waypoint per Gateway): its record is the one to report.
    return { cluster: readClusterState(paths) ?? cluster, elapsedMs: performance.now() - started };
  } catch (error) {
    if (options.keepOnFailure) {
      progress.note(
        `up failed; kept for inspection: ${paths.dir} (remove with \`ambit local down --name ${cluster.name}\`)`,
      );
      throw error;
    }
    progress.note(`up failed: ${errorMessage(error)}\nremoving what was created...`);
    await down(options.root, cluster.name, silentProgress).catch((cleanup) =>
      progress.warn(
        `cleanup failed too: ${errorMessage(cleanup)}; run \`ambit local down --name ${cluster.name}\``,
      ),
    );
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function preflight(cluster: ClusterState, paths: StatePaths): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new AmbitError('PRIVILEGE', 'the local cluster creates network namespaces: run as root (sudo)');
  }
  if (existsSync(paths.dir)) throw clusterExists(cluster, paths);
  checkUnixSocketPath(paths.control, "the supervisor's control socket");
  // nft: each node's kube-proxy rules (src/local/kube-proxy).
  await Promise.all([run(['ip', '-V']), run(['setpriv', '--version']), run(['nft', '--version'])]);
  const leftovers = [
    ...listNetns().filter((ns) => ns.startsWith(clusterNetnsPrefix(cluster.name))),
    ...(await guardRoutesOf(routeMetric(cluster.name))).map((dst) => `route ${dst}`),
  ];
  if (leftovers.length > 0) {
    throw new AmbitError(
      'CONFLICT',
      `objects of a cluster named ${cluster.name} already exist (${leftovers.slice(0, 3).join(', ')}${leftovers.length > 3 ? ', ...' : ''}): run \`ambit local down --name ${cluster.name}\` first`,
    );
  }
  await checkRangesFree(cluster.addresses);
  // The root of all clusters' state is shared and not cluster-specific: creating it is not creating the cluster.
  const root = dirname(paths.dir);
  mkdirSync(root, { recursive: true, mode: 0o755 });
  const noexec = noexecMount(root);
  if (noexec !== undefined) {
    throw new AmbitError(
      'PREREQUISITE',
      `the state directory ${root} is on ${noexec}, mounted noexec, and the cluster starts its processes from there: set AMBIT_STATE_DIR to a directory on another filesystem (e.g. /var/lib/ambit)`,
    );
  }
  await checkPodUsers(cluster, root);
}

function clusterExists(cluster: ClusterState, paths: StatePaths): AmbitError {
  return new AmbitError(
    'CONFLICT',
    `a local cluster named ${cluster.name} already exists (${paths.dir}): use it, pick another --name, or run \`ambit local down --name ${cluster.name}\``,
  );
}

/** Creating the state directory is what claims the name: of two `up`s with one name, one gets EEXIST. */
function claimStateDir(cluster: ClusterState, paths: StatePaths): void {
  try {
    mkdirSync(paths.dir, { mode: 0o755 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw clusterExists(cluster, paths);
    throw error;
  }
  writeFileSync(paths.upPid, `${process.pid}\n`);
}

function recordCluster(cluster: ClusterState, paths: StatePaths, documents: readonly RawDocument[]): void {
  mkdirSync(paths.logs, { mode: 0o755 });
  writeJsonAtomic(paths.cluster, cluster);
  // Root only: it holds the files' Secrets as written (the control plane, which reads it, runs as root).
  writeFileSync(paths.resources, resolvedConfig(documents, cluster), { mode: 0o600 });
  writeBinDir(paths);
}

/** Starts the supervisor detached from us (it outlives `up`); returns its pid. */
function startSupervisor(paths: StatePaths): number {
  const log = openLogFile(paths.supervisorLog);
  try {
    const child = spawn(process.execPath, [AMBIT_ENTRY, ...supervisorArgs(paths.dir)], {
      detached: true,
      stdio: ['ignore', log, log],
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', AMBIT_LOG_FORMAT: 'json' },
    });
    child.unref();
    return child.pid!;
  } finally {
    closeSync(log);
  }
}

const POLL_FIRST_MS = 25;
const POLL_MAX_MS = 250;

/** A process is settled once it is ready, or has ended at least once (crash-looping, completed, failed). */
function settled(process: ProcessStatus): boolean {
  return process.state === 'running' ? process.ready : process.state !== 'waiting';
}

/**
 * Waits until every process has settled. Pods that do not settle in time are not an error of `up` (the
 * summary shows them as not ready); a supervisor that never reports is.
 */
async function waitForProcesses(
  paths: StatePaths,
  supervisor: number,
  timeoutMs: number,
  interrupted: () => boolean,
  progress: Progress,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // Quick at first (a small cluster settles in well under a second), then backing off: reading and parsing
  // the status file every 25 ms for minutes cost a third of a core in a slow (emulated) VM.
  let pauseMs = POLL_FIRST_MS;
  for (;;) {
    if (interrupted()) throw new AmbitError('INTERRUPTED', 'interrupted');
    const status = readSupervisorStatus(paths);
    if (status?.processes.every(settled)) return;
    if (!isAlive(supervisor)) {
      const log = existsSync(paths.supervisorLog) ? readFileSync(paths.supervisorLog, 'utf8') : '';
      throw new AmbitError('UNAVAILABLE', `the supervisor exited; its log ends with:\n${lastLines(log, 10)}`);
    }
    if (Date.now() > deadline) {
      if (!status) {
        throw new AmbitError(
          'TIMEOUT',
          `the supervisor did not report within ${timeoutMs} ms (see ${paths.supervisorLog})`,
        );
      }
      const late = status.processes.filter((process) => !settled(process)).map((process) => process.id);
      progress.warn(`not ready after ${timeoutMs} ms: ${late.join(', ')} (see \`ambit local logs\`)`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
    pauseMs = Math.min(POLL_MAX_MS, pauseMs * 1.5);
  }
}
