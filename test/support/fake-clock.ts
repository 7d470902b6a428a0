/**
 * Fake time for code that takes a `Clock`: time stands still until the test moves it, and moving it runs the
 * timers that fall due, in order. Real I/O (key generation, sockets) still takes real time: wait for its
 * effect with `eventually`, or use `tickUntil` when the code waits on timers and I/O in turn.
 */
import type { Clock, ClockTimer } from '../../src/core/clock.ts';
import { eventually } from './eventually.ts';

interface FakeTimer extends ClockTimer {
  at: number;
  callback: () => void;
}

export class FakeClock implements Clock {
  #now: number;
  readonly #timers = new Set<FakeTimer>();

  constructor(start = Date.now()) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): ClockTimer {
    const timer: FakeTimer = { at: this.#now + Math.max(0, ms), callback, unref: () => timer };
    this.#timers.add(timer);
    return timer;
  }

  clearTimeout(timer: ClockTimer | undefined): void {
    this.#timers.delete(timer as FakeTimer);
  }

  /** How many timers are waiting. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `ms`, running each timer that falls due (also ones set meanwhile), earliest first. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      let next: FakeTimer | undefined;
      for (const timer of this.#timers) if (timer.at <= target && (!next || timer.at < next.at)) next = timer;
      if (!next) break;
      this.#timers.delete(next);
      this.#now = next.at;
      next.callback();
      // Let what the timer started run up to its next await before the following timer fires.
      await new Promise((resolve) => setImmediate(resolve));
    }
    this.#now = target;
  }

  /** Advances time by `step` ms at a time until `check` holds: for code that alternates timers and real I/O. */
  tickUntil<T>(check: () => T | Promise<T>, what: string, step = 100): Promise<unknown> {
    return eventually(
      async () => {
        const value = await check();
        if (!value) await this.advance(step);
        return value;
      },
      { what, interval: 5 },
    );
  }
}
