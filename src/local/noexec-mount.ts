/**
 * Whether a directory is on a filesystem mounted `noexec`. A cluster starts every process through the shim
 * in its state directory's bin/, and systemd mounts /run (the default state root) noexec on most
 * distributions: there every process would fail with "Permission denied", so `up` refuses before it
 * creates anything.
 */
import { readFileSync } from 'node:fs';

/**
 * The mount point of the mount that holds `path`, when that mount is noexec; undefined otherwise.
 * `mountinfo` is /proc/self/mountinfo: the later of two mounts on one point is the one in effect.
 */
export function noexecMountOf(path: string, mountinfo: string): string | undefined {
  let holder: { point: string; noexec: boolean } | undefined;
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    const point = fields[4];
    const options = fields[5];
    if (point === undefined || options === undefined || !contains(point, path)) continue;
    if (!holder || point.length >= holder.point.length) {
      holder = { point, noexec: options.split(',').includes('noexec') };
    }
  }
  return holder?.noexec ? holder.point : undefined;
}

function contains(point: string, path: string): boolean {
  return point === '/' || path === point || path.startsWith(`${point}/`);
}

/** As `noexecMountOf`, for this process's mounts. */
export function noexecMount(path: string): string | undefined {
  return noexecMountOf(path, readFileSync('/proc/self/mountinfo', 'utf8'));
}
