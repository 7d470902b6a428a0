/**
 * How the local cluster's processes are described and started: the ProcessSpec of a pod or of a system
 * component, the command line that puts a process into its namespace as its user, and the bin directory
 * that makes `ambit` (and `node`) mean this checkout with its pinned Node 24 inside every pod.
 */
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_HBONE_TIMEOUTS } from '../core/hbone/settings.ts';
import { podPrologue } from './pod-volumes.ts';
import type { StatePaths } from './state.ts';
import type { NodeRecord, PodRecord, ProcessSpec } from './types.ts';

const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** This checkout's entry point; pods run it with the Node that runs `up` (the pinned Node 24). */
export const AMBIT_ENTRY = fileURLToPath(new URL('../../bin/ambit.mjs', import.meta.url));

/** What a pod's `ambit` needs to see whatever its volumes cover: its `bin`, the checkout and the runtime. */
export function podRuntimeDirs(paths: StatePaths): string[] {
  return [paths.bin, dirname(dirname(AMBIT_ENTRY)), dirname(process.execPath)].sort();
}

/** The supervisor's arguments after the entry point; also how `down` and `status` recognise it in /proc. */
export function supervisorArgs(stateDir: string): string[] {
  return ['local', 'supervise', '--state-dir', stateDir];
}

/**
 * `ip netns exec` enters the namespace (and bind-mounts /etc/netns/<ns>/* over /etc), then `setpriv` drops
 * to the user with no supplementary groups. Both exec in place, so the resulting pid is the program's.
 */
export function netnsCommand(
  netns: string,
  runAsUser: number,
  runAsGroup: number,
  argv: readonly string[],
  /** Run as root inside the namespace before the user is dropped (a pod's prologue, see pod-volumes.ts). */
  prologue: readonly string[] = [],
): string[] {
  const drop =
    runAsUser === 0 && runAsGroup === 0
      ? []
      : ['setpriv', `--reuid=${runAsUser}`, `--regid=${runAsGroup}`, '--clear-groups', '--'];
  return ['ip', 'netns', 'exec', netns, ...prologue, ...drop, ...argv];
}

/** The environment every cluster process starts from: nothing leaks in from the host's environment. */
function baseEnv(paths: StatePaths): Record<string, string> {
  return { PATH: `${paths.bin}:${SYSTEM_PATH}`, HOME: '/', LANG: 'C.UTF-8' };
}

/** A pod's environment, for its process and for `exec` into it (as kubectl exec sees the container's). */
export function podEnv(paths: StatePaths, pod: PodRecord): Record<string, string> {
  return containerEnv(paths, pod, pod.container.env);
}

function containerEnv(
  paths: StatePaths,
  pod: PodRecord,
  env: Record<string, string>,
): Record<string, string> {
  return { ...baseEnv(paths), HOSTNAME: pod.name, ...env };
}

export function logFileFor(paths: StatePaths, id: string): string {
  return join(paths.logs, `${id.replaceAll('/', '_')}.log`);
}

export function podProcessId(pod: Pick<PodRecord, 'uid'>): string {
  return `pod/${pod.uid}`;
}

export function podProcess(paths: StatePaths, pod: PodRecord): ProcessSpec {
  const id = podProcessId(pod);
  return {
    id,
    kind: 'pod',
    podUid: pod.uid,
    node: pod.node,
    netns: pod.netns,
    argv: pod.container.argv,
    env: podEnv(paths, pod),
    runAsUser: pod.runAsUser,
    runAsGroup: pod.runAsGroup,
    cwd: pod.container.workingDir,
    logFile: logFileFor(paths, id),
    restartPolicy: pod.restartPolicy,
    readyPorts: pod.container.ports
      .filter((port) => port.protocol === 'TCP')
      .map((port) => port.containerPort),
    readyUnixSockets: [],
    probes: pod.container.probes,
    prologue: podPrologue(podRuntimeDirs(paths), pod.mounts),
    stopGraceMs: pod.terminationGracePeriodSeconds * 1000,
    init: (pod.initContainers ?? []).map((init) => ({
      name: init.name,
      argv: init.argv,
      env: containerEnv(paths, pod, init.env),
      cwd: init.workingDir,
      prologue: podPrologue(podRuntimeDirs(paths), init.mounts),
    })),
  };
}

export interface SystemProcessOptions {
  /** e.g. `control-plane`, `ztunnel/node-1`. */
  id: string;
  node: NodeRecord;
  argv: string[];
  env?: Record<string, string>;
  runAsUser?: number;
  runAsGroup?: number;
  /** TCP ports that must be listening in the node's namespace before the process counts as ready. */
  readyPorts?: number[];
  /** Paths where unix sockets must be listening (bound by the process, in its namespace) to be ready. */
  readyUnixSockets?: string[];
}

/**
 * How long a system component has between SIGTERM and SIGKILL: a ztunnel or waypoint lets live connections
 * run on for the HBONE drain period at shutdown, and must not be killed in the middle of it.
 */
export const SYSTEM_STOP_GRACE_MS = DEFAULT_HBONE_TIMEOUTS.drainMs + 2_000;

/** A system component in a node's namespace: root, restarted always, `ambit` on its PATH, JSON logs. */
export function systemProcess(paths: StatePaths, options: SystemProcessOptions): ProcessSpec {
  return {
    id: options.id,
    kind: 'system',
    node: options.node.name,
    netns: options.node.netns,
    argv: options.argv,
    env: { ...baseEnv(paths), AMBIT_LOG_FORMAT: 'json', NODE_NAME: options.node.name, ...options.env },
    runAsUser: options.runAsUser ?? 0,
    runAsGroup: options.runAsGroup ?? options.runAsUser ?? 0,
    cwd: '/',
    logFile: logFileFor(paths, options.id),
    restartPolicy: 'Always',
    readyPorts: options.readyPorts ?? [],
    readyUnixSockets: options.readyUnixSockets ?? [],
    stopGraceMs: SYSTEM_STOP_GRACE_MS,
  };
}

/** `bin/ambit` and `bin/node` for the cluster's processes; readable by every user, like the checkout must be. */
export function writeBinDir(paths: StatePaths): void {
  mkdirSync(paths.bin, { recursive: true, mode: 0o755 });
  const ambit = join(paths.bin, 'ambit');
  writeFileSync(ambit, `#!/bin/sh\nexec ${shellQuote(process.execPath)} ${shellQuote(AMBIT_ENTRY)} "$@"\n`);
  chmodSync(ambit, 0o755);
  symlinkSync(process.execPath, join(paths.bin, 'node'));
}

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}
