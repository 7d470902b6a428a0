/**
 * The waypoint's local rate limit as tables (the bucket arithmetic is core's, in token-bucket.test.ts): which
 * buckets apply to a client (total, its override or the identity limit), the decision
 * over several buckets (a refusal takes no token), the 429's headers, and the limiter's bounded store on a
 * fake clock.
 */
import { describe, expect, it } from 'vitest';
import type { LocalRateLimit } from '../../src/core/l7/types.ts';
import type { BucketState } from '../../src/core/token-bucket.ts';
import {
  type BucketLimit,
  decideRateLimit,
  limitsFor,
  MAX_BUCKETS,
  RateLimiter,
  rateLimitHeaders,
} from '../../src/waypoint/resilience/rate-limit.ts';
import { FakeClock } from '../support/fake-clock.ts';

const ALICE = 'spiffe://cluster.local/ns/apps/sa/alice';
const BOB = 'spiffe://cluster.local/ns/apps/sa/bob';
const policy = (overrides: Partial<LocalRateLimit> = {}): LocalRateLimit => ({
  policy: 'apps/limit',
  overrides: [],
  ...overrides,
});

describe('buckets for a client', () => {
  it.each<[string, LocalRateLimit, string, [string, number][]]>([
    ['no limits: none', policy(), ALICE, []],
    ['total only', policy({ totalPerSecond: 100 }), ALICE, [['total', 100]]],
    ['identity only', policy({ identityPerSecond: 5 }), ALICE, [['identity', 5]]],
    [
      'total and identity',
      policy({ totalPerSecond: 100, identityPerSecond: 5 }),
      ALICE,
      [
        ['total', 100],
        ['identity', 5],
      ],
    ],
    [
      'an override replaces the identity limit for its clients',
      policy({ identityPerSecond: 5, overrides: [{ perSecond: 50, identities: [BOB, ALICE] }] }),
      ALICE,
      [['override', 50]],
    ],
    [
      'another client keeps the identity limit',
      policy({ identityPerSecond: 5, overrides: [{ perSecond: 50, identities: [BOB] }] }),
      ALICE,
      [['identity', 5]],
    ],
    [
      'the first override naming the client wins',
      policy({
        overrides: [
          { perSecond: 7, identities: [ALICE] },
          { perSecond: 9, identities: [ALICE] },
        ],
      }),
      ALICE,
      [['override', 7]],
    ],
  ])('%s', (_name, limits, identity, expected) => {
    expect(limitsFor(limits, identity).map((limit) => [limit.kind, limit.perSecond])).toEqual(expected);
  });

  it('keys the per-client bucket by identity, the total one by policy', () => {
    const both = policy({ totalPerSecond: 10, identityPerSecond: 2 });
    expect(limitsFor(both, ALICE).map((limit) => limit.key)).toEqual([
      'apps/limit|total',
      `apps/limit|id|${ALICE}`,
    ]);
    expect(limitsFor(both, BOB)[1]!.key).not.toBe(limitsFor(both, ALICE)[1]!.key);
  });
});

describe('rate decision', () => {
  const total: BucketLimit = { kind: 'total', burst: 10, perSecond: 10, key: 't' };
  const mine: BucketLimit = { kind: 'identity', burst: 2, perSecond: 2, key: 'i' };
  it.each<[string, BucketLimit[], (BucketState | undefined)[], number, boolean, number[], string?, number?]>([
    ['new buckets pass and take a token each', [total, mine], [undefined, undefined], 0, true, [9, 1]],
    [
      'an empty total refuses',
      [total, mine],
      [{ tokens: 0, at: 0 }, undefined],
      0,
      false,
      [0, 2],
      'total',
      100,
    ],
    [
      'an empty client bucket refuses and the total keeps its token',
      [total, mine],
      [
        { tokens: 5, at: 0 },
        { tokens: 0.5, at: 0 },
      ],
      0,
      false,
      [5, 0.5],
      'identity',
      250,
    ],
    ['refilled by time, it passes', [mine], [{ tokens: 0, at: 0 }], 500, true, [0]],
    [
      'just short of a token: refused, retry after the rest',
      [mine],
      [{ tokens: 0, at: 0 }],
      499,
      false,
      [0.998],
      'identity',
      1,
    ],
  ])('%s', (_name, limits, buckets, now, allowed, tokens, refusedBy, retryAfterMs) => {
    const { decision, buckets: after } = decideRateLimit(limits, buckets, now);
    expect(decision.allowed).toBe(allowed);
    after.forEach((bucket, i) => {
      expect(bucket.tokens).toBeCloseTo(tokens[i]!, 9);
      expect(bucket.at).toBe(now);
    });
    if (!decision.allowed) {
      expect(decision.limit.kind).toBe(refusedBy);
      expect(decision.retryAfterMs).toBe(retryAfterMs);
    }
  });

  it.each([
    [250, '1'],
    [1000, '1'],
    [1001, '2'],
  ])('a 429 after %i ms to wait says %s s', (retryAfterMs, seconds) => {
    expect(rateLimitHeaders({ allowed: false, limit: total, retryAfterMs })).toEqual({
      'x-ratelimit-limit': '10',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': seconds,
      'retry-after': seconds,
    });
  });
});

describe('rate limiter', () => {
  it('lets a burst of one second through, then refuses until time refills the bucket', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter(() => clock.now());
    const limits = policy({ totalPerSecond: 5 });
    const burst = Array.from({ length: 8 }, () => limiter.take(limits, ALICE).allowed);
    expect(burst).toEqual([true, true, true, true, true, false, false, false]);
    await clock.advance(200);
    expect(limiter.take(limits, ALICE).allowed).toBe(true);
    expect(limiter.take(limits, ALICE).allowed).toBe(false);
  });

  it('keeps clients apart under an identity limit, and an override gives one client more', () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter(() => clock.now());
    const limits = policy({ identityPerSecond: 2, overrides: [{ perSecond: 4, identities: [BOB] }] });
    const passed = (identity: string) =>
      Array.from({ length: 6 }, () => limiter.take(limits, identity)).filter((d) => d.allowed).length;
    expect(passed(ALICE)).toBe(2);
    expect(passed(BOB)).toBe(4);
    expect(passed('spiffe://cluster.local/ns/apps/sa/carol')).toBe(2);
  });

  it('holds at most MAX_BUCKETS buckets however many identities call', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter(() => clock.now());
    const limits = policy({ identityPerSecond: 1 });
    for (let i = 0; i < MAX_BUCKETS + 500; i++) limiter.take(limits, `spiffe://cluster.local/ns/x/sa/c${i}`);
    expect(limiter.size).toBe(MAX_BUCKETS);
    // A second later every bucket is full again: the next new client makes the stale ones go.
    await clock.advance(1000);
    limiter.take(limits, 'spiffe://cluster.local/ns/x/sa/late');
    expect(limiter.size).toBeLessThanOrEqual(MAX_BUCKETS);
  });
});
