/**
 * Local rate limiting (Linkerd's `HTTPLocalRateLimitPolicy`, compiled into `ServedService.rateLimit`): token
 * buckets that hold one second's worth of requests and refill continuously, one for all clients (`total`)
 * and one per client identity (its override's rate, else `identity`). A request passes only when every bucket
 * that applies has a token, and takes one from each; a refused request takes none. The bucket arithmetic is
 * pure (`refill`, `decideRateLimit`); `RateLimiter` keeps the buckets, which outlive snapshots, bounded in
 * number (a bucket unused for a second is full, the same as none, so it can go).
 */
import type { LocalRateLimit } from '../../core/l7/types.ts';

export interface Bucket {
  tokens: number;
  /** When `tokens` was computed (ms). */
  at: number;
}

/** Which limit a bucket enforces, for metrics and the 429's headers. */
export type LimitKind = 'total' | 'identity' | 'override';

export interface BucketLimit {
  kind: LimitKind;
  /** Requests per second, which is also the bucket's capacity. */
  perSecond: number;
  key: string;
}

export type RateDecision =
  | { allowed: true }
  | {
      allowed: false;
      /** The limit that refused (the first empty bucket). */
      limit: BucketLimit;
      /** Until its next token (ms, at least 1). */
      retryAfterMs: number;
    };

/** A bucket's tokens at `now`: absent means full; never more than one second's worth. */
export function refill(bucket: Bucket | undefined, perSecond: number, now: number): number {
  if (bucket === undefined) return perSecond;
  const elapsed = Math.max(0, now - bucket.at);
  return Math.min(perSecond, bucket.tokens + (elapsed * perSecond) / 1000);
}

/** The buckets that apply to a request from `identity`: `total`, then the client's own (if any). */
export function limitsFor(policy: LocalRateLimit, identity: string): BucketLimit[] {
  const limits: BucketLimit[] = [];
  if (policy.totalPerSecond !== undefined)
    limits.push({ kind: 'total', perSecond: policy.totalPerSecond, key: `${policy.policy}|total` });
  const override = policy.overrides.find((entry) => entry.identities.includes(identity));
  if (override !== undefined)
    limits.push({ kind: 'override', perSecond: override.perSecond, key: `${policy.policy}|id|${identity}` });
  else if (policy.identityPerSecond !== undefined)
    limits.push({
      kind: 'identity',
      perSecond: policy.identityPerSecond,
      key: `${policy.policy}|id|${identity}`,
    });
  return limits;
}

/**
 * Decides one request against `limits` and returns the buckets as they are after it: refilled, and each
 * less one token when the request passes.
 */
export function decideRateLimit(
  limits: readonly BucketLimit[],
  buckets: readonly (Bucket | undefined)[],
  now: number,
): { decision: RateDecision; buckets: Bucket[] } {
  const tokens = limits.map((limit, i) => refill(buckets[i], limit.perSecond, now));
  const empty = tokens.findIndex((count) => count < 1);
  if (empty >= 0) {
    const limit = limits[empty]!;
    // Less a hair, so that float error on an exact millisecond does not round up to the next one.
    const retryAfterMs = Math.max(1, Math.ceil(((1 - tokens[empty]!) * 1000) / limit.perSecond - 1e-9));
    return {
      decision: { allowed: false, limit, retryAfterMs },
      buckets: tokens.map((count) => ({ tokens: count, at: now })),
    };
  }
  return { decision: { allowed: true }, buckets: tokens.map((count) => ({ tokens: count - 1, at: now })) };
}

/** Envoy's body for a local rate limit refusal. */
export const RATE_LIMITED = 'local_rate_limited';

/**
 * The headers of a 429: the refusing limit and when it has a token again (the IETF draft's RateLimit
 * fields as Envoy's `x-ratelimit-*` headers write them, and `retry-after`), both in whole seconds.
 */
export function rateLimitHeaders(decision: RateDecision & { allowed: false }): Record<string, string> {
  const seconds = String(Math.ceil(decision.retryAfterMs / 1000));
  return {
    'x-ratelimit-limit': String(decision.limit.perSecond),
    'x-ratelimit-remaining': '0',
    'x-ratelimit-reset': seconds,
    'retry-after': seconds,
  };
}

/** Buckets kept at most; beyond, those unused for a second (full) go first, then the oldest. */
export const MAX_BUCKETS = 10_000;

export class RateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  /** Takes a token for a request from `identity` under `policy`, or says which limit refused it. */
  take(policy: LocalRateLimit, identity: string): RateDecision {
    const limits = limitsFor(policy, identity);
    if (limits.length === 0) return { allowed: true };
    const now = this.#now();
    const current = limits.map((limit) => this.#buckets.get(limit.key));
    const { decision, buckets } = decideRateLimit(limits, current, now);
    limits.forEach((limit, i) => {
      // Re-inserted, so that the map's order is the order of last use (the oldest is first).
      this.#buckets.delete(limit.key);
      this.#buckets.set(limit.key, buckets[i]!);
    });
    if (this.#buckets.size > MAX_BUCKETS) this.#trim(now);
    return decision;
  }

  /** Buckets held (for tests and admin). */
  get size(): number {
    return this.#buckets.size;
  }

  #trim(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (this.#buckets.size <= MAX_BUCKETS) return;
      // In last-use order: once a bucket was used within the second, every later one was too.
      if (now - bucket.at < 1000) break;
      this.#buckets.delete(key);
    }
    for (const key of this.#buckets.keys()) {
      if (this.#buckets.size <= MAX_BUCKETS) return;
      this.#buckets.delete(key);
    }
  }
}
