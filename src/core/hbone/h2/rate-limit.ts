/**
 * A token bucket for what a peer may do repeatedly but not without bound (resetting streams, protocol
 * glitches, PINGs, SETTINGS): `burst` at once, then `perSecond`. nghttp2 guards rapid reset with a burst
 * of 1000 and 33 per second; we use the same shape. Time is passed in so the decision is a pure function.
 */
export interface RateLimit {
  burst: number;
  perSecond: number;
}

export class TokenBucket {
  readonly #limit: RateLimit;
  #tokens: number;
  #updatedMs: number;

  constructor(limit: RateLimit, nowMs: number) {
    this.#limit = limit;
    this.#tokens = limit.burst;
    this.#updatedMs = nowMs;
  }

  /** Spends one token; false when the bucket is empty (the peer is over its rate). */
  take(nowMs: number): boolean {
    const elapsed = nowMs - this.#updatedMs;
    if (elapsed > 0) {
      this.#tokens = Math.min(this.#limit.burst, this.#tokens + (elapsed * this.#limit.perSecond) / 1000);
      this.#updatedMs = nowMs;
    }
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
