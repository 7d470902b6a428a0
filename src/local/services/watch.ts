/**
 * Follows a running cluster's Services, pods and readiness from its state directory: `cluster.json` (labels
 * change while it runs) and the supervisor's `status.json` (readiness), both replaced atomically by their
 * writers. Watches the directory (inotify) and also re-reads now and then, so a missed event only delays a
 * change; calls `onChange` only when the view actually changed.
 */
import { type FSWatcher, watch } from 'node:fs';
import { basename } from 'node:path';
import type { Logger } from '../../core/log.ts';
import { readClusterState, type StatePaths } from '../state.ts';
import { readSupervisorStatus } from '../supervisor/status.ts';
import { type ClusterServices, clusterServices, readyPodUids } from './endpoints.ts';

export interface ServicesWatch {
  /** The latest view (read once before `watchClusterServices` returns). */
  current(): ClusterServices;
  close(): void;
}

const DEBOUNCE_MS = 20;
const RESYNC_MS = 2_000;

export function watchClusterServices(
  paths: StatePaths,
  log: Logger,
  onChange: (services: ClusterServices) => void,
): ServicesWatch {
  let current = read(paths);
  let fingerprint = JSON.stringify(current);
  let timer: NodeJS.Timeout | undefined;
  const refresh = () => {
    timer = undefined;
    let next: ClusterServices;
    try {
      next = read(paths);
    } catch (error) {
      // A file being replaced right now: the next event or resync reads it.
      log.debug('cluster state not readable yet', { error: (error as Error).message });
      return;
    }
    const nextFingerprint = JSON.stringify(next);
    if (nextFingerprint === fingerprint) return;
    current = next;
    fingerprint = nextFingerprint;
    onChange(next);
  };
  const schedule = () => {
    timer ??= setTimeout(refresh, DEBOUNCE_MS);
  };
  const names = new Set([basename(paths.cluster), basename(paths.status)]);
  const watcher: FSWatcher = watch(paths.dir, (_event, file) => {
    if (file === null || names.has(file)) schedule();
  });
  watcher.on('error', (error) => log.warn('cannot watch the cluster state', { error: error.message }));
  const resync = setInterval(schedule, RESYNC_MS);
  resync.unref();
  return {
    current: () => current,
    close: () => {
      watcher.close();
      clearInterval(resync);
      if (timer) clearTimeout(timer);
    },
  };
}

function read(paths: StatePaths): ClusterServices {
  const cluster = readClusterState(paths);
  if (!cluster) throw new Error(`no cluster recorded in ${paths.cluster}`);
  return clusterServices(cluster, readyPodUids(readSupervisorStatus(paths)?.processes ?? []));
}
