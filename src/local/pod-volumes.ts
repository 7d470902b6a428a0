/**
 * Pods' volumes on one machine. `up` writes each volume's directory under `<state>/volumes/<ns>_<pod>/`
 * (ConfigMap and Secret keys as files, emptyDirs empty and writable by the pod), inside a root-only parent so
 * that no other pod's user can read a Secret; each pod process then starts through a small shell prologue
 * that bind-mounts them at their mount paths. `ip netns exec` gives every process a private mount namespace,
 * so the mounts are seen by the pod (and by `exec` into it, which runs the same prologue) and by nothing
 * else. A mount path missing on the host is created as an empty directory (journaled; `down` removes it).
 */
import { chmodSync, chownSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { VolumeContent } from './plan.ts';
import { recordInJournal, type StatePaths } from './state.ts';
import type { MountRecord, PodRecord } from './types.ts';

export function writePodVolumes(paths: StatePaths, volumes: VolumeContent, pods: readonly PodRecord[]): void {
  const root = join(paths.dir, 'volumes');
  mkdirSync(root, { recursive: true, mode: 0o700 });
  chmodSync(root, 0o700);
  for (const directory of volumes.directories) {
    mkdirSync(directory.path, { recursive: true });
    chownSync(directory.path, directory.owner, directory.owner);
    chmodSync(directory.path, directory.mode);
  }
  for (const file of volumes.files) {
    mkdirSync(dirname(file.path), { recursive: true, mode: 0o755 });
    writeFileSync(file.path, Buffer.from(file.base64, 'base64'), { mode: file.mode });
    chmodSync(file.path, file.mode);
  }
  for (const pod of pods) {
    const mounts = [...pod.mounts, ...(pod.initContainers ?? []).flatMap((init) => init.mounts)];
    for (const mount of mounts) createMountPoint(paths, mount.mountPath, mount.file === true);
  }
}

/**
 * Creates a missing mount path (and its missing parents), journaling each before it is made: a directory,
 * or for a single file's mount an empty file to mount it over.
 */
function createMountPoint(paths: StatePaths, path: string, file: boolean): void {
  const missing: string[] = [];
  for (let dir = path; !existsSync(dir); dir = dirname(dir)) missing.unshift(dir);
  if (missing.length === 0) return;
  recordInJournal(
    paths,
    missing.map((dir) => ({ type: 'mountpoint', path: dir })),
  );
  for (const dir of missing) {
    if (file && dir === path) writeFileSync(dir, '', { mode: 0o644 });
    else mkdirSync(dir, { mode: 0o755 });
  }
}

/**
 * The prologue a pod's processes start through (bash, as root, inside the pod's netns and private mount
 * namespace, before dropping to the pod's user): lets the pod bind ports below 1024 as container runtimes
 * do (the sysctl is per network namespace), bind-mounts the volumes (parents first), then execs the rest of
 * its arguments. Every source is opened before anything is mounted and mounted through /proc/self/fd, so a
 * mount over a parent of the state directory (an emptyDir at /tmp, where test clusters keep their state)
 * hides no source. The `keep` directories (the `bin` directory with `ambit` for the pod, the checkout and
 * runtime it runs from) are mounted back wherever a volume hid them: a checkout under /tmp must still run
 * under Bookinfo's emptyDir at /tmp. Mounts are passed as arguments, not in the environment, so nothing leaks
 * into the pod's.
 */
export function podPrologue(keep: readonly string[], mounts: readonly MountRecord[]): string[] {
  const script = [
    'set -e',
    'kept=()',
    'while [ "$1" != -- ]; do exec {fd}<"$1"; kept+=("$fd" "$1"); shift; done',
    'shift',
    'fds=()',
    'while [ "$1" != -- ]; do exec {fd}<"$1"; fds+=("$fd" "$2" "$3" "$4"); shift 4; done',
    'shift',
    'echo 0 > /proc/sys/net/ipv4/ip_unprivileged_port_start',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash arrays, not a template
    'for ((i = 0; i < ${#fds[@]}; i += 4)); do',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash arrays, not a template
    '  fd=${fds[i]}; target=${fds[i+1]}',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash parameter expansion, not a template
    '  if [ "${fds[i+3]}" = file ]; then mkdir -p "${target%/*}"; [ -e "$target" ] || : > "$target"',
    '  else mkdir -p "$target"; fi',
    '  mount --no-canonicalize --bind "/proc/self/fd/$fd" "$target"',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash arrays, not a template
    '  if [ "${fds[i+2]}" = ro ]; then mount -o remount,bind,ro "$target"; fi',
    '  exec {fd}<&-',
    'done',
    // A kept directory that no longer is what was opened (same device and inode) was hidden by a volume.
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash arrays, not a template
    'for ((i = 0; i < ${#kept[@]}; i += 2)); do',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash arrays, not a template
    '  fd=${kept[i]}; path=${kept[i+1]}',
    '  if [ "$(stat -Lc %d:%i "/proc/self/fd/$fd")" != "$(stat -c %d:%i "$path" 2>/dev/null)" ]; then',
    '    mkdir -p "$path"; mount --no-canonicalize --bind "/proc/self/fd/$fd" "$path"',
    '  fi',
    '  exec {fd}<&-',
    'done',
    'exec "$@"',
  ].join('\n');
  const ordered = [...mounts].sort((a, b) => a.mountPath.localeCompare(b.mountPath));
  const args = ordered.flatMap((mount) => [
    mount.source,
    mount.mountPath,
    mount.readOnly ? 'ro' : 'rw',
    mount.file ? 'file' : 'dir',
  ]);
  return ['bash', '-c', script, 'pod-prologue', ...new Set(keep), '--', ...args, '--'];
}
