/**
 * The processes' log files: readable by root and its group only (they hold every pod's access log), and
 * bounded in size. Processes write their stdout and stderr straight into the file (appending), so rotation
 * is copy-then-truncate: the file is copied to `<file>.1` (the one kept) and emptied in place, and every
 * writer's next append lands at the start of the emptied file. Lines written between the copy and the
 * truncation are lost; that window is one copy long.
 */
import { copyFileSync, fchmodSync, openSync, statSync, truncateSync } from 'node:fs';

/** Mode of every log file: the cluster's logs hold every pod's traffic. */
export const LOG_FILE_MODE = 0o640;

/** Rotated past this size (one older copy kept: at most twice this per process). */
export const MAX_LOG_BYTES = 16 * 1024 * 1024;

/** How often the supervisor looks at its processes' log sizes. */
export const LOG_ROTATION_INTERVAL_MS = 10_000;

/** Opens `file` for appending as `LOG_FILE_MODE` (an existing file made so too); returns the fd. */
export function openLogFile(file: string): number {
  const fd = openSync(file, 'a', LOG_FILE_MODE);
  fchmodSync(fd, LOG_FILE_MODE);
  return fd;
}

/** Rotates `file` if it is over `maxBytes`; whether it did. A missing file is not an error. */
export function rotateIfLarger(file: string, maxBytes = MAX_LOG_BYTES): boolean {
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    return false;
  }
  if (size <= maxBytes) return false;
  copyFileSync(file, `${file}.1`);
  truncateSync(file, 0);
  return true;
}
