/**
 * Time as a dependency: what reads the time and sets timers takes a `Clock`, so tests drive it with fake time
 * instead of sleeping. Production code uses `systemClock`.
 */
export interface ClockTimer {
  /** Lets the process exit while the timer is pending (as Node's `Timeout.unref`). */
  unref(): unknown;
}

export interface Clock {
  /** Milliseconds since the epoch, as Date.now(). */
  now(): number;
  setTimeout(callback: () => void, ms: number): ClockTimer;
  clearTimeout(timer: ClockTimer | undefined): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout | undefined),
};
