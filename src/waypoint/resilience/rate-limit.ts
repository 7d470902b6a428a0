/**
 * Local rate limiting (Linkerd's `HTTPLocalRateLimitPolicy`, compiled into `ServedService.rateLimit`): token
 * buckets that hold one second's worth of requests and refill continuously, one for all clients (`total`)
 * and one per client identity (its override's rate, else `identity`). A request passes only when every bucket
 * that applies has a token, and takes one from each; a refused request takes none. The decision is pure
 * (`decideRateLimit`, over core's bucket arithmetic); `RateLimiter` keeps the buckets, which outlive snapshots,
 * bounded in number (a bucket unused for a second is full, the same as none, so it can go).
 */
import type { LocalRateLimit } from '../../core/l7/types.ts';
import { type BucketState, BucketStore, type RateLimit, tokensAt } from '../../core/token-bucket.ts';

/** Which limit a bucket enforces, for metrics and the 429's headers. */
export type LimitKind = 'total' | 'identity' | 'override';

/** A bucket's limit: `burst` is `perSecond`, a bucket holds one second's worth of requests. */
export interface BucketLimit extends RateLimit {
  kind: LimitKind;
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

function bucketLimit(kind: LimitKind, perSecond: number, key: string): BucketLimit {
  return { kind, burst: perSecond, perSecond, key };
}

/** The buckets that apply to a request from `identity`: `total`, then the client's own (if any). */
export function limitsFor(policy: LocalRateLimit, identity: string): BucketLimit[] {
  const limits: BucketLimit[] = [];
  if (policy.totalPerSecond !== undefined)
    limits.push(bucketLimit('total', policy.totalPerSecond, `${policy.policy}|total`));
  const override = policy.overrides.find((entry) => entry.identities.includes(identity));
  if (override !== undefined)
    limits.push(bucketLimit('override', override.perSecond, `${policy.policy}|id|${identity}`));
  else if (policy.identityPerSecond !== undefined)
    limits.push(bucketLimit('identity', policy.identityPerSecond, `${policy.policy}|id|${identity}`));
  return limits;
}

/**
 * Decides one request against `limits` and returns the buckets as they are after it: refilled, and each
 * less one token when the request passes.
 */
export function decideRateLimit(
  limits: readonly BucketLimit[],
  buckets: readonly (BucketState | undefined)[],
  now: number,
): { decision: RateDecision; buckets: BucketState[] } {
  const tokens = limits.map((limit, i) => tokensAt(buckets[i], limit, now));
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

/** Buckets kept at most; beyond, the least recently used go (those unused for a second are full anyway). */
export const MAX_BUCKETS = 10_000;

export class RateLimiter {
  readonly #buckets = new BucketStore(MAX_BUCKETS);
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
    for (let i = 0; i < limits.length; i++) this.#buckets.put(limits[i]!.key, buckets[i]!);
    return decision;
  }

  /** Buckets held (for tests and admin). */
  get size(): number {
    return this.#buckets.size;
  }
}
