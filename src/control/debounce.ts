/**
 * Coalesces bursts of changes (an apply of 50 documents, a node reporting 100 pods) into one rebuild: run
 * after `quietMs` without a new change, but never later than `maxMs` after the first change of the burst.
 */
export class Debouncer {
  private readonly run: (firstChangeAt: number) => void;
  private readonly quietMs: number;
  private readonly maxMs: number;
  private timer: NodeJS.Timeout | undefined;
  private firstChangeAt: number | undefined;

  constructor(run: (firstChangeAt: number) => void, quietMs: number, maxMs: number) {
    this.run = run;
    this.quietMs = quietMs;
    this.maxMs = maxMs;
  }

  trigger(now = Date.now()): void {
    this.firstChangeAt ??= now;
    clearTimeout(this.timer);
    const wait = Math.max(0, Math.min(this.quietMs, this.firstChangeAt + this.maxMs - now));
    this.timer = setTimeout(() => this.flush(), wait);
  }

  /** Runs now if a change is pending. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const first = this.firstChangeAt;
    this.firstChangeAt = undefined;
    if (first !== undefined) this.run(first);
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.firstChangeAt = undefined;
  }
}
