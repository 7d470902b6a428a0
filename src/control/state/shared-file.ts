/**
 * A state file that several control-plane replicas read and write (the config store's `config.json`, the
 * reported pods' `pods.json`). Writes are atomic renames (`writeFileAtomic`), so a reader never sees half a
 * file and needs no lock; writers hold the state directory's lock (`StateLock`) across read-modify-write,
 * after bringing memory up to date with what another replica may have written. Each file remembers the
 * stamp (inode, mtime, size) of the version it last read or wrote: a different stamp on disk means another
 * replica wrote it. Without a lock (one control plane alone, tests) it is a plain persisted file.
 */
import { type FSWatcher, statSync, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import { readJsonFile, writeFileAtomic } from '../../core/files.ts';
import type { StateLock } from './lock.ts';

/** What changes whenever the file is replaced: a rename brings a new inode, a rewrite a new mtime. */
function stampOf(path: string): string | undefined {
  try {
    const stat = statSync(path, { bigint: true });
    return `${stat.ino}:${stat.mtimeNs}:${stat.size}`;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export class SharedStateFile {
  readonly path: string;
  readonly #lock: StateLock | undefined;
  #stamp: string | undefined;

  constructor(path: string, lock?: StateLock) {
    this.path = path;
    this.#lock = lock;
  }

  /** True when the file on disk is not the version this process last read or wrote. */
  changedOnDisk(): boolean {
    return stampOf(this.path) !== this.#stamp;
  }

  /** The file's content (undefined when there is none), remembered as the version this process holds. */
  readJson<T>(): T | undefined {
    // Stamped before reading: a replacement racing the read shows as a change at the next look.
    const stamp = stampOf(this.path);
    const value = readJsonFile<T>(this.path);
    this.#stamp = stamp;
    return value;
  }

  save(content: string, mode: number): void {
    writeFileAtomic(this.path, content, mode);
    this.#stamp = stampOf(this.path);
  }

  /**
   * Runs `work` as the only writer among the replicas: `catchUp` first reloads what another replica wrote
   * since (when the file changed), so `work` changes the latest version, never an old one.
   */
  exclusive<T>(catchUp: () => void, work: () => T): T {
    const run = () => {
      if (this.#lock && this.changedOnDisk()) catchUp();
      return work();
    };
    return this.#lock ? this.#lock.run(run) : run();
  }
}

/**
 * Calls `onChange` soon after any of `files` (all in one directory) is replaced: inotify on the directory
 * (renames land there), plus a slow poll in case an event is lost. `onChange` compares stamps itself, so
 * the events of this process's own writes cost one stat each.
 */
export function watchSharedFiles(
  files: readonly string[],
  onChange: () => void,
  pollMs = 1000,
): { close(): void } {
  const names = new Set(files.map((file) => basename(file)));
  const directories = [...new Set(files.map((file) => dirname(file)))];
  let pending: NodeJS.Immediate | undefined;
  const schedule = () => {
    pending ??= setImmediate(() => {
      pending = undefined;
      onChange();
    });
  };
  const watchers: FSWatcher[] = directories.map((directory) =>
    watch(directory, { persistent: false }, (_event, name) => {
      if (name === null || names.has(name)) schedule();
    }),
  );
  const poll = setInterval(schedule, pollMs);
  poll.unref();
  return {
    close() {
      clearInterval(poll);
      if (pending) clearImmediate(pending);
      for (const watcher of watchers) watcher.close();
    },
  };
}
