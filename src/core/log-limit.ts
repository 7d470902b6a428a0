/**
 * Logging of events an outsider can trigger at will (garbage on the HBONE port, a flood of connections): the first occurrence of
 * each kind is logged at once, repeats within the window are only counted, and the count is reported with
 * the next line of that kind. Bounded log volume, nothing lost from sight.
 */
import type { LogFields, Logger } from './log.ts';

export class LogLimiter {
  readonly #log: Logger;
  readonly #windowMs: number;
  readonly #kinds = new Map<string, { until: number; suppressed: number }>();

  constructor(log: Logger, windowMs = 10_000) {
    this.#log = log;
    this.#windowMs = windowMs;
  }

  warn(kind: string, msg: string, fields: LogFields, now = Date.now()): void {
    const state = this.#kinds.get(kind);
    if (state && now < state.until) {
      state.suppressed++;
      return;
    }
    const suppressed = state?.suppressed ?? 0;
    this.#kinds.set(kind, { until: now + this.#windowMs, suppressed: 0 });
    this.#log.warn(
      msg,
      suppressed > 0 ? { ...fields, kind, suppressedSinceLast: suppressed } : { ...fields, kind },
    );
  }
}
