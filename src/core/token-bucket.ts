/**
 * Token buckets, the one arithmetic behind every rate Ambit enforces on a peer: what an HTTP/2 peer may do
 * repeatedly (resetting streams, protocol glitches, PINGs, SETTINGS: nghttp2 guards rapid reset with a burst
 * of 1000 and 33 per second, the same shape), TLS handshakes per source IP on an HBONE listener, and the
 * waypoint's local rate limits. A bucket holds at most `burst` tokens and refills continuously at
 * `perSecond`; a clock that goes back grants nothing. Time is passed in, so every decision is a pure function
 * of it.
 */

export interface RateLimit {
  /** Tokens a full bucket holds: what a quiet peer may do at once. */
  burst: number;
  perSecond: number;
}

/** A bucket as of a moment: `tokens` held at `at` (ms). */
export interface BucketState {
  tokens: number;
  at: number;
}

/** The tokens `state` holds at `now` under `limit`; absent is a bucket never used, which is full. */
export function tokensAt(state: BucketState | undefined, limit: RateLimit, now: number): number {
  if (state === undefined) return limit.burst;
  const elapsed = Math.max(0, now - state.at);
  // Capped even when no time passed: a bucket kept across a lowered limit holds no more than the new burst.
  return Math.min(limit.burst, state.tokens + (elapsed * limit.perSecond) / 1000);
}

/** Refills `state` to `now` and spends one token from it; false (and nothing spent) when it has none. */
export function takeToken(state: BucketState, limit: RateLimit, now: number): boolean {
  state.tokens = tokensAt(state, limit, now);
  if (now > state.at) state.at = now;
  if (state.tokens < 1) return false;
  state.tokens -= 1;
  return true;
}

/** One bucket under one limit, starting full. */
export class TokenBucket {
  readonly #limit: RateLimit;
  readonly #state: BucketState;

  constructor(limit: RateLimit, nowMs: number) {
    this.#limit = limit;
    this.#state = { tokens: limit.burst, at: nowMs };
  }

  /** Spends one token; false when the bucket is empty (the peer is over its rate). */
  take(nowMs: number): boolean {
    return takeToken(this.#state, this.#limit, nowMs);
  }
}

/**
 * Buckets by key, at most `maxKeys` of them, in the order of last use: beyond the bound the least recently
 * used goes. Forgetting a bucket is safe, since a forgotten key starts full, which is what an unused bucket
 * becomes within a second anyway.
 */
export class BucketStore {
  readonly #maxKeys: number;
  readonly #buckets = new Map<string, BucketState>();

  constructor(maxKeys: number) {
    this.#maxKeys = maxKeys;
  }

  get(key: string): BucketState | undefined {
    return this.#buckets.get(key);
  }

  /** Stores `state` under `key` as the most recently used, forgetting the least recently used past the bound. */
  put(key: string, state: BucketState): void {
    // Re-inserted, so that the map's order is the order of last use (the oldest is first).
    this.#buckets.delete(key);
    this.#buckets.set(key, state);
    if (this.#buckets.size > this.#maxKeys) this.#buckets.delete(this.#buckets.keys().next().value!);
  }

  /** Buckets held now (for tests and admin views). */
  get size(): number {
    return this.#buckets.size;
  }
}

/** A bucket per key under one limit (a source IP's handshakes): `take` says whether the key is within it. */
export class KeyedRateLimiter {
  readonly #limit: RateLimit;
  readonly #buckets: BucketStore;

  constructor(limit: RateLimit, maxKeys = 16_384) {
    this.#limit = limit;
    this.#buckets = new BucketStore(maxKeys);
  }

  take(key: string, nowMs: number): boolean {
    const state = this.#buckets.get(key) ?? { tokens: this.#limit.burst, at: nowMs };
    const taken = takeToken(state, this.#limit, nowMs);
    this.#buckets.put(key, state);
    return taken;
  }

  /** Keys held now (for tests). */
  get size(): number {
    return this.#buckets.size;
  }
}
