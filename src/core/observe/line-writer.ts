/**
 * Lines to a stream, buffered and written asynchronously in batches (never a synchronous write per line,
 * whatever the stream: a file, a pipe, a terminal). If the stream falls behind, lines beyond the bound are
 * dropped and counted rather than held in memory without limit.
 */
import type { Writable } from 'node:stream';

/** Lines held while the stream is busy; beyond this, new lines are dropped (and counted). */
export const MAX_PENDING_LINES = 10_000;

export class LineWriter {
  readonly #sink: Writable;
  readonly #maxPending: number;
  #pending: string[] = [];
  #scheduled = false;
  #writing = false;
  dropped = 0;

  constructor(sink: Writable, maxPending = MAX_PENDING_LINES) {
    this.#sink = sink;
    this.#maxPending = maxPending;
    // A file that cannot be written (removed directory, full disk) must not take the proxy down.
    sink.on('error', () => {
      this.#writing = false;
    });
  }

  get sink(): Writable {
    return this.#sink;
  }

  /** Queues one line (with its newline). */
  write(line: string): void {
    if (this.#pending.length >= this.#maxPending) {
      this.dropped++;
      return;
    }
    this.#pending.push(line);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#writing || this.#pending.length === 0 || this.#sink.destroyed) return;
    const batch = this.#pending.join('');
    this.#pending = [];
    this.#writing = true;
    this.#sink.write(batch, () => {
      this.#writing = false;
      if (this.#pending.length > 0) this.#flush();
    });
  }
}
