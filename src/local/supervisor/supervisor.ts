/**
 * The per-cluster supervisor: one detached process (`ambit local supervise`) that runs the cluster's
 * processes in their namespaces as their users, restarts them with backoff as their restart policy says,
 * and keeps `status.json` up to date. System processes start first; each pod starts only once its start gate
 * (the extensions' `beforePodStart`) has passed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync } from 'node:fs';
import { errorMessage } from '../../core/errors.ts';
import { writeJsonAtomic } from '../../core/files.ts';
import type { Logger } from '../../core/log.ts';
import { isInNetns } from '../netns.ts';
import { netnsCommand } from '../processes.ts';
import type { InitStep, ProcessSpec } from '../types.ts';
import { type BackoffPolicy, DEFAULT_BACKOFF, nextCrashCount, restartDelay } from './backoff.ts';
import { LOG_ROTATION_INTERVAL_MS, openLogFile, rotateIfLarger } from './log-files.ts';
import { type ProbeReport, ProbeSet } from './probe-set.ts';
import { listeningPorts, listeningUnixSockets } from './readiness.ts';
import type { PodMesh, ProcessStatus, SupervisorStatus } from './status.ts';

export interface SupervisorOptions {
  statusFile: string;
  log: Logger;
  /** Awaited before a pod's first start; a rejection is retried with backoff. */
  gate: (spec: ProcessSpec) => Promise<void>;
  backoff?: BackoffPolicy;
  /** How long a process has between SIGTERM and SIGKILL, unless its spec says (a pod's grace period). */
  stopGraceMs?: number;
  /** A private directory for the probes' sockets (gRPC probes). */
  probeSocketDir: string;
  /**
   * Told (with a copy of its status) each time a process's state, readiness or pid changed, in order;
   * changes within one tick of the event loop come as one. Must not throw.
   */
  onTransition?: ((status: ProcessStatus) => void) | undefined;
}

interface Supervised {
  spec: ProcessSpec;
  status: ProcessStatus;
  child?: ChildProcess | undefined;
  startedAtMs: number;
  crashes: number;
  timer?: NodeJS.Timeout | undefined;
  exited?: Promise<void> | undefined;
  /** State, readiness and pid last passed to `onTransition`. */
  told?: string | undefined;
  /** This run's probes (pods that declare any). */
  probes?: ProbeSet | undefined;
  /** Listening on every declared port and socket (not asked when a readiness probe decides instead). */
  portsReady: boolean;
  /** Why the supervisor killed the current run (a failed liveness or startup probe). */
  killedFor?: string | undefined;
  /** Being removed (its pod goes away): never started or restarted again. */
  removing?: boolean | undefined;
  /** Init steps that ran to completion; the process proper starts once all have. */
  initDone: number;
  /** The init step the current run is (undefined: the process proper, or nothing runs). */
  runningInit?: InitStep | undefined;
}

function supervised(spec: ProcessSpec): Supervised {
  return {
    spec,
    status: {
      id: spec.id,
      kind: spec.kind,
      podUid: spec.podUid,
      node: spec.node,
      state: 'waiting',
      ready: false,
      restarts: 0,
    },
    startedAtMs: 0,
    crashes: 0,
    portsReady: false,
    initDone: 0,
  };
}

export class Supervisor {
  private readonly processes: Supervised[];
  private readonly options: Required<Omit<SupervisorOptions, 'onTransition'>> &
    Pick<SupervisorOptions, 'onTransition'>;
  private readonly startedAt = new Date().toISOString();
  private stopping = false;
  private writePending = false;
  private readinessTimer: NodeJS.Timeout | undefined;
  private rotationTimer: NodeJS.Timeout | undefined;
  /** Resolves once every system process has been ready: pods start after the system (fail closed). */
  private readonly systemReady: Promise<void>;
  private markSystemReady = () => {};
  private systemIsReady = false;

  constructor(specs: readonly ProcessSpec[], options: SupervisorOptions) {
    this.options = { backoff: DEFAULT_BACKOFF, stopGraceMs: 2000, ...options };
    this.systemReady = new Promise((resolve) => {
      this.markSystemReady = resolve;
    });
    this.processes = specs.map(supervised);
  }

  /** Supervises a process added while the cluster runs: a pod once it passes its gate, a system one at once. */
  add(spec: ProcessSpec): void {
    if (this.processes.some((entry) => entry.spec.id === spec.id)) {
      throw new Error(`process ${spec.id} is already supervised`);
    }
    const entry = supervised(spec);
    this.processes.push(entry);
    this.changed();
    if (this.stopping) return;
    if (spec.kind === 'system') this.spawn(entry);
    else void this.passGate(entry, 0);
  }

  /** Stops a process for good and forgets it (its pod is being deleted); unknown ids are fine. */
  async remove(id: string): Promise<void> {
    const entry = this.processes.find((candidate) => candidate.spec.id === id);
    if (!entry) return;
    entry.removing = true;
    clearTimeout(entry.timer);
    await this.terminateAll([entry]);
    const at = this.processes.indexOf(entry);
    if (at >= 0) this.processes.splice(at, 1);
    this.changed();
  }

  /** Starts the system processes, then each pod once they are all ready and the pod's gate has passed. */
  start(): void {
    this.writeStatus();
    this.rotationTimer = setInterval(() => this.rotateLogs(), LOG_ROTATION_INTERVAL_MS);
    this.rotationTimer.unref();
    for (const entry of this.processes) {
      if (entry.spec.kind === 'system') this.spawn(entry);
    }
    this.checkSystemReady();
    for (const entry of this.processes) {
      if (entry.spec.kind === 'pod') void this.passGate(entry, 0);
    }
  }

  private checkSystemReady(): void {
    const system = this.processes.filter((entry) => entry.spec.kind === 'system');
    if (this.systemIsReady || !system.every((entry) => entry.status.ready)) return;
    this.systemIsReady = true;
    this.markSystemReady();
  }

  private async passGate(entry: Supervised, failures: number): Promise<void> {
    try {
      if (!this.systemIsReady) {
        entry.status.message = 'waiting for the system processes to be ready';
        this.changed();
        await this.systemReady;
      }
      await this.options.gate(entry.spec);
    } catch (error) {
      if (this.stopping || entry.removing) return;
      const delay = restartDelay(failures + 1, this.options.backoff);
      entry.status.message = `start gate failed (retrying in ${delay} ms): ${errorMessage(error)}`;
      this.options.log.warn('pod start gate failed', { id: entry.spec.id, error, retryInMs: delay });
      this.changed();
      entry.timer = setTimeout(() => void this.passGate(entry, failures + 1), delay);
      return;
    }
    entry.status.message = undefined;
    if (!this.stopping && !entry.removing) this.spawn(entry);
  }

  private spawn(entry: Supervised): void {
    const { spec } = entry;
    const init = spec.init?.[entry.initDone];
    const run = init ?? { argv: spec.argv, env: spec.env, cwd: spec.cwd, prologue: spec.prologue };
    const [command, ...args] = netnsCommand(
      spec.netns,
      spec.runAsUser,
      spec.runAsGroup,
      run.argv,
      run.prologue,
    );
    let child: ChildProcess;
    let log: number;
    try {
      log = openLogFile(spec.logFile);
    } catch (error) {
      // Counts as a failed start: retried with backoff like a crash.
      this.onExit(entry, null, null, error as Error);
      return;
    }
    try {
      // Own process group, so that stopping the process also stops whatever it started.
      child = spawn(command!, args, {
        cwd: run.cwd,
        env: run.env,
        stdio: ['ignore', log, log],
        detached: true,
      });
    } finally {
      closeSync(log);
    }
    entry.child = child;
    entry.startedAtMs = Date.now();
    entry.status.state = 'running';
    entry.killedFor = undefined;
    entry.status.probe = undefined;
    entry.runningInit = init;
    entry.status.message = init
      ? `init container ${init.name} (${entry.initDone + 1}/${spec.init!.length}) running`
      : undefined;
    if (!init && spec.probes && Object.keys(spec.probes).length > 0) {
      const probes = new ProbeSet(spec, this.options.probeSocketDir, this.options.log, (report) =>
        this.onProbeReport(entry, probes, report),
      );
      entry.probes = probes;
      probes.start();
    }
    entry.portsReady =
      !init &&
      (entry.probes?.hasReadinessProbe === true ||
        (spec.readyPorts.length === 0 && spec.readyUnixSockets.length === 0));
    this.updateReady(entry);
    if (!entry.portsReady) this.pollReadiness();
    entry.status.pid = child.pid;
    entry.status.startedAt = new Date(entry.startedAtMs).toISOString();
    this.options.log.info('started', {
      id: spec.id,
      pid: child.pid,
      restarts: entry.status.restarts,
      init: init?.name,
    });
    let ended = false;
    entry.exited = new Promise((resolve) => {
      const onEnd = (code: number | null, signal: NodeJS.Signals | null, error?: Error) => {
        if (ended) return;
        ended = true;
        this.onExit(entry, code, signal, error);
        resolve();
      };
      child.on('exit', (code, signal) => onEnd(code, signal));
      child.on('error', (error) => onEnd(null, null, error));
    });
    this.changed();
  }

  /** Ready when the ports listen (or a readiness probe decides) and the probes say so. */
  private updateReady(entry: Supervised): void {
    entry.status.ready = entry.portsReady && (entry.probes?.view.ready ?? true);
  }

  private onProbeReport(entry: Supervised, probes: ProbeSet, report: ProbeReport): void {
    if (entry.probes !== probes || entry.status.state !== 'running') return;
    entry.status.probe = report.message;
    const wasReady = entry.status.ready;
    this.updateReady(entry);
    if (wasReady !== entry.status.ready) {
      this.options.log.info(entry.status.ready ? 'ready' : 'not ready', {
        id: entry.spec.id,
        probe: report.message,
      });
    }
    if (report.restartFor && entry.child?.pid !== undefined && entry.killedFor === undefined) {
      entry.killedFor = `killed by the supervisor: ${report.message ?? `${report.restartFor} probe failed`}`;
      this.options.log.warn('probe failed: restarting', { id: entry.spec.id, probe: report.message });
      probes.stop();
      void this.terminate(entry);
    }
    this.changed();
  }

  /** SIGTERM to the process group, SIGKILL once its grace period is over; resolves when it has exited. */
  private async terminate(entry: Supervised): Promise<void> {
    const pid = entry.child?.pid;
    if (pid === undefined) return;
    signalGroup(pid, 'SIGTERM');
    const timer = setTimeout(
      () => signalGroup(pid, 'SIGKILL'),
      entry.spec.stopGraceMs ?? this.options.stopGraceMs,
    );
    await entry.exited;
    clearTimeout(timer);
  }

  private onExit(entry: Supervised, code: number | null, signal: NodeJS.Signals | null, error?: Error): void {
    const { spec, status } = entry;
    entry.child = undefined;
    entry.probes?.stop();
    entry.probes = undefined;
    entry.portsReady = false;
    status.pid = undefined;
    status.ready = false;
    status.lastExit = { code, signal, at: new Date().toISOString() };
    status.message = error ? `cannot start: ${errorMessage(error)}` : entry.killedFor;
    const init = entry.runningInit;
    entry.runningInit = undefined;
    this.options.log.info('exited', { id: spec.id, code, signal, error, init: init?.name });
    const succeeded = code === 0 && !error;
    if (init && !this.stopping && !entry.removing) {
      if (succeeded) {
        // The next init step, or the process proper: at once, as the kubelet does.
        entry.initDone++;
        this.spawn(entry);
        return;
      }
      status.message = `init container ${init.name} failed`;
    }
    if (this.stopping || entry.removing) {
      status.state = 'stopped';
    } else if (
      spec.restartPolicy === 'Always' ||
      (spec.restartPolicy === 'OnFailure' && code !== 0) ||
      (init && spec.restartPolicy !== 'Never')
    ) {
      entry.crashes = nextCrashCount(entry.crashes, Date.now() - entry.startedAtMs, this.options.backoff);
      const delay = restartDelay(entry.crashes, this.options.backoff);
      status.state = 'backoff';
      entry.timer = setTimeout(() => {
        entry.timer = undefined;
        if (this.stopping || entry.removing) return;
        status.restarts++;
        this.spawn(entry);
      }, delay);
    } else {
      status.state = code === 0 ? 'succeeded' : 'failed';
    }
    this.changed();
  }

  /**
   * Checks running, not yet ready processes every 50 ms until each listens on its ports and sockets. A
   * process counts only once it is inside its namespace: just after spawn it may still be `ip` in the root
   * namespace.
   */
  private pollReadiness(): void {
    if (this.readinessTimer) return;
    this.readinessTimer = setInterval(() => {
      let pending = false;
      for (const entry of this.processes) {
        const { spec, status } = entry;
        // An init step is never ready: a pod without declared ports would pass the check below at once.
        if (status.state !== 'running' || status.pid === undefined || entry.portsReady || entry.runningInit)
          continue;
        if (isInNetns(status.pid, spec.netns) && listensOnAll(status.pid, spec)) {
          entry.portsReady = true;
          this.updateReady(entry);
          this.options.log.info('ready', {
            id: spec.id,
            ports: spec.readyPorts,
            sockets: spec.readyUnixSockets,
          });
          this.checkSystemReady();
          this.changed();
        } else {
          pending = true;
        }
      }
      if (!pending || this.stopping) {
        clearInterval(this.readinessTimer);
        this.readinessTimer = undefined;
      }
    }, 50);
  }

  /** Keeps every process's log under its size bound (`log-files.ts`). */
  private rotateLogs(): void {
    for (const { spec } of this.processes) {
      try {
        if (rotateIfLarger(spec.logFile))
          this.options.log.info('log rotated', { id: spec.id, file: spec.logFile });
      } catch (error) {
        this.options.log.warn('could not rotate a log', { id: spec.id, error: errorMessage(error) });
      }
    }
  }

  /** Records what the mesh made of a pod (shown by `ambit local status`). */
  setPodMesh(podUid: string, mesh: PodMesh): void {
    const entry = this.processes.find((candidate) => candidate.spec.podUid === podUid);
    if (!entry) return;
    entry.status.mesh = mesh;
    this.changed();
  }

  podMesh(podUid: string): PodMesh | undefined {
    return this.processes.find((candidate) => candidate.spec.podUid === podUid)?.status.mesh;
  }

  /** SIGTERM to every process group, SIGKILL to those still there after the grace period. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.rotationTimer);
    await this.terminateAll(this.processes);
    this.writeStatus();
  }

  /** Stops the entries for good: no restart pending, probes off, each process terminated. */
  private async terminateAll(entries: readonly Supervised[]): Promise<void> {
    const running: Supervised[] = [];
    for (const entry of entries) {
      clearTimeout(entry.timer);
      if (entry.status.state === 'waiting' || entry.status.state === 'backoff')
        entry.status.state = 'stopped';
      if (entry.child?.pid !== undefined) running.push(entry);
    }
    this.changed();
    for (const entry of entries) entry.probes?.stop();
    await Promise.all(running.map((entry) => this.terminate(entry)));
  }

  private changed(): void {
    if (this.writePending) return;
    this.writePending = true;
    setImmediate(() => {
      this.writePending = false;
      this.tellTransitions();
      this.writeStatus();
    });
  }

  private tellTransitions(): void {
    const onTransition = this.options.onTransition;
    if (!onTransition) return;
    for (const entry of this.processes) {
      const { state, ready, pid } = entry.status;
      const now = `${state} ${ready} ${pid ?? ''}`;
      if (entry.told === now) continue;
      entry.told = now;
      onTransition({ ...entry.status });
    }
  }

  private writeStatus(): void {
    const status: SupervisorStatus = {
      pid: process.pid,
      startedAt: this.startedAt,
      updatedAt: new Date().toISOString(),
      stopping: this.stopping,
      processes: this.processes.map((entry) => entry.status),
    };
    try {
      writeJsonAtomic(this.options.statusFile, status);
    } catch (error) {
      this.options.log.error('cannot write status', { error });
    }
  }
}

function listensOnAll(pid: number, spec: ProcessSpec): boolean {
  if (spec.readyPorts.length > 0) {
    const ports = listeningPorts(pid);
    if (!spec.readyPorts.every((port) => ports.has(port))) return false;
  }
  if (spec.readyUnixSockets.length > 0) {
    const sockets = listeningUnixSockets(pid);
    if (!spec.readyUnixSockets.every((path) => sockets.has(path))) return false;
  }
  return true;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}
