/**
 * The lock that serializes writers of a state directory shared by control-plane replicas (`<state>/state.lock`).
 *
 * It is flock(2), not a lease file: the kernel holds it for the open file and drops it when the holder's
 * process ends, however it ends (kill -9 included), so a dead holder can never leave the others locked out
 * and there is no expiry to tune or clock to trust. A holder only keeps it for one read-modify-write of a
 * small file (milliseconds), so a waiter polls without blocking its event loop for long, and gives up with
 * UNAVAILABLE after `timeoutMs` (a holder that is stopped, not dead, must not freeze the others forever).
 */
import { closeSync, openSync } from 'node:fs';
import { AmbitError } from '../../core/errors.ts';
import { tryLockExclusive, unlock } from '../../core/sys/libc.ts';

const DEFAULT_TIMEOUT_MS = 5000;
/** How long a waiter sleeps between tries: short, since holders hold for a file write. */
const POLL_MS = 2;

export class StateLock {
  readonly path: string;
  readonly #timeoutMs: number;
  readonly #pause = new Int32Array(new SharedArrayBuffer(4));
  #fd: number | undefined;
  /** Nested `run`s of one holder: only the outermost takes and releases the lock. */
  #depth = 0;

  constructor(path: string, options: { timeoutMs?: number } = {}) {
    this.path = path;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** Runs `work` holding the lock (synchronously: nothing else of this process runs meanwhile). */
  run<T>(work: () => T): T {
    if (this.#depth > 0) return this.#nested(work);
    this.#acquire();
    try {
      return this.#nested(work);
    } finally {
      unlock(this.#fd!);
    }
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }

  #nested<T>(work: () => T): T {
    this.#depth++;
    try {
      return work();
    } finally {
      this.#depth--;
    }
  }

  #acquire(): void {
    this.#fd ??= openSync(this.path, 'a', 0o600);
    const deadline = Date.now() + this.#timeoutMs;
    while (!tryLockExclusive(this.#fd)) {
      if (Date.now() >= deadline) {
        throw new AmbitError(
          'UNAVAILABLE',
          `${this.path} stayed locked by another control-plane replica for ${this.#timeoutMs} ms; is one stopped (not dead)? nothing was changed`,
        );
      }
      Atomics.wait(this.#pause, 0, 0, POLL_MS);
    }
  }
}
