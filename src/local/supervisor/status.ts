/**
 * What the supervisor reports in `status.json`, for `ambit local status` and for `up` waiting on its pods.
 * Written atomically on every change; readers never see a partial file.
 */
import { readJsonFile } from '../../core/files.ts';
import type { StatePaths } from '../state.ts';

/**
 * - `waiting`: not started yet (a start gate is pending); `running`: the process is alive;
 * - `backoff`: it crashed and will be restarted after a delay;
 * - `succeeded` / `failed`: it ended and its restart policy says not to restart it;
 * - `stopped`: the supervisor stopped it (cluster going down).
 */
export type ProcessState = 'waiting' | 'running' | 'backoff' | 'succeeded' | 'failed' | 'stopped';

export interface ProcessExit {
  code: number | null;
  signal: string | null;
  at: string;
}

/**
 * A pod's place in the mesh, as the enrollment extension last reported it: `ambient` (captured by its node's
 * agent), `none` (not enrolled), `error` (should be enrolled and is not: `message` says why).
 */
export interface PodMesh {
  state: 'ambient' | 'none' | 'error';
  message?: string | undefined;
}

export interface ProcessStatus {
  id: string;
  kind: 'pod' | 'system';
  podUid?: string | undefined;
  node?: string | undefined;
  state: ProcessState;
  /** Running and listening on every port it declares (see readiness.ts). */
  ready: boolean;
  pid?: number | undefined;
  /** How many times the process was started again after it ended. */
  restarts: number;
  startedAt?: string | undefined;
  lastExit?: ProcessExit | undefined;
  /** Why the process is not running (a failing start gate, a spawn error). */
  message?: string | undefined;
  /** Pods with probes: the probe failure that keeps the pod not ready, or that had it restarted. */
  probe?: string | undefined;
  /** Pods only, once an extension has reported it (see ExtensionContext.reportMesh). */
  mesh?: PodMesh | undefined;
}

export interface SupervisorStatus {
  pid: number;
  startedAt: string;
  updatedAt: string;
  stopping: boolean;
  processes: ProcessStatus[];
}

export function readSupervisorStatus(paths: StatePaths): SupervisorStatus | undefined {
  return readJsonFile<SupervisorStatus>(paths.status);
}

/** kubectl-like words for a pod's state. */
export function describeState(status: ProcessStatus | undefined): string {
  switch (status?.state) {
    case undefined:
      return 'Unknown';
    case 'waiting':
      return 'Pending';
    case 'running':
      return 'Running';
    case 'backoff':
      return 'CrashLoopBackOff';
    case 'succeeded':
      return 'Completed';
    case 'failed':
      return 'Error';
    case 'stopped':
      return 'Terminated';
  }
}
