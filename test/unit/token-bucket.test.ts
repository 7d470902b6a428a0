/**
 * Core's token buckets as tables: the refill arithmetic (full when new, continuous, capped at the burst, a
 * clock going back grants nothing), one bucket's takes (the HTTP/2 framer's rapid reset, glitch and PING
 * limits), buckets per key (an HBONE listener's handshakes per source IP) and their bounded store.
 */
import { describe, expect, it } from 'vitest';
import {
  type BucketState,
  BucketStore,
  KeyedRateLimiter,
  TokenBucket,
  takeToken,
  tokensAt,
} from '../../src/core/token-bucket.ts';

describe('tokens at a moment', () => {
  it.each<[string, BucketState | undefined, burst: number, perSecond: number, now: number, tokens: number]>([
    ['a new bucket is full', undefined, 10, 10, 0, 10],
    ['a new bucket holds its burst, not its rate', undefined, 1000, 33, 0, 1000],
    ['an empty bucket gains rate x elapsed', { tokens: 0, at: 0 }, 10, 10, 250, 2.5],
    ['never above the burst', { tokens: 9, at: 0 }, 10, 10, 5000, 10],
    ['no time passed: unchanged', { tokens: 0.5, at: 100 }, 10, 10, 100, 0.5],
    ['a clock that went back adds nothing', { tokens: 3, at: 1000 }, 10, 10, 900, 3],
    ['one per second: a token after a second', { tokens: 0, at: 0 }, 1, 1, 1000, 1],
    ['a bucket kept across a lowered limit is capped at once', { tokens: 100, at: 0 }, 10, 10, 0, 10],
  ])('%s', (_name, state, burst, perSecond, now, tokens) => {
    expect(tokensAt(state, { burst, perSecond }, now)).toBeCloseTo(tokens, 9);
  });
});

describe('taking a token', () => {
  it.each<[string, BucketState, now: number, taken: boolean, after: BucketState]>([
    ['a token is spent', { tokens: 2, at: 0 }, 0, true, { tokens: 1, at: 0 }],
    ['refilled first, then spent', { tokens: 0, at: 0 }, 500, true, { tokens: 0, at: 500 }],
    [
      'short of a token: refused, nothing spent',
      { tokens: 0, at: 0 },
      499,
      false,
      { tokens: 0.998, at: 499 },
    ],
    [
      'a clock that went back keeps the later time',
      { tokens: 1, at: 1000 },
      0,
      true,
      { tokens: 0, at: 1000 },
    ],
  ])('%s', (_name, state, now, taken, after) => {
    expect(takeToken(state, { burst: 2, perSecond: 2 }, now)).toBe(taken);
    expect(state.tokens).toBeCloseTo(after.tokens, 9);
    expect(state.at).toBe(after.at);
  });
});

describe('one bucket (rapid reset, glitch, PING limits)', () => {
  it.each<[string, burst: number, perSecond: number, times: number[], expected: boolean[]]>([
    ['a full burst at once, then refusal', 3, 1, [0, 0, 0, 0], [true, true, true, false]],
    ['refills at the rate', 2, 10, [0, 0, 0, 100, 100], [true, true, false, true, false]],
    [
      'never above the burst after a long pause',
      2,
      1000,
      [0, 60_000, 60_000, 60_000],
      [true, true, true, false],
    ],
    ['time going backwards grants nothing', 1, 10, [1000, 0, 500], [true, false, false]],
  ])('%s', (_w, burst, perSecond, times, expected) => {
    const bucket = new TokenBucket({ burst, perSecond }, times[0]!);
    expect(times.map((t) => bucket.take(t))).toEqual(expected);
  });
});

describe('a bucket per key (handshakes per source IP)', () => {
  it.each<[string, [key: string, atMs: number][], boolean[]]>([
    [
      'a burst up to the limit, then refused',
      [
        ['a', 0],
        ['a', 0],
        ['a', 0],
      ],
      [true, true, false],
    ],
    [
      'another key has its own bucket',
      [
        ['a', 0],
        ['a', 0],
        ['b', 0],
        ['a', 0],
      ],
      [true, true, true, false],
    ],
    [
      'refilled at the rate: one token after half a second at 2/s',
      [
        ['a', 0],
        ['a', 0],
        ['a', 499],
        ['a', 500],
      ],
      [true, true, false, true],
    ],
    [
      'never more than the burst after a long quiet',
      [
        ['a', 0],
        ['a', 60_000],
        ['a', 60_000],
        ['a', 60_000],
      ],
      [true, true, true, false],
    ],
  ])('%s', (_what, takes, expected) => {
    const limiter = new KeyedRateLimiter({ burst: 2, perSecond: 2 });
    expect(takes.map(([key, at]) => limiter.take(key, at))).toEqual(expected);
  });

  it('keeps at most maxKeys buckets, forgetting the least recently used (which starts full again)', () => {
    const limiter = new KeyedRateLimiter({ burst: 1, perSecond: 1 }, 2);
    expect(limiter.take('a', 0)).toBe(true);
    expect(limiter.take('b', 0)).toBe(true);
    expect(limiter.take('a', 0)).toBe(false); // a is now the most recent
    expect(limiter.take('c', 0)).toBe(true); // b, the least recent, goes
    expect(limiter.size).toBe(2);
    expect(limiter.take('a', 0)).toBe(false); // a was kept, still empty
    expect(limiter.take('b', 0)).toBe(true); // b starts full again
  });
});

describe('the bucket store', () => {
  it.each<[string, puts: string[], kept: string[]]>([
    ['under the bound every key is kept', ['a', 'b'], ['a', 'b']],
    ['past the bound the oldest goes', ['a', 'b', 'c', 'd'], ['b', 'c', 'd']],
    ['a key put again is the most recent', ['a', 'b', 'c', 'a', 'd'], ['c', 'a', 'd']],
  ])('%s', (_what, puts, kept) => {
    const store = new BucketStore(3);
    for (const [i, key] of puts.entries()) store.put(key, { tokens: 1, at: i });
    expect(['a', 'b', 'c', 'd'].filter((key) => store.get(key) !== undefined).sort()).toEqual(
      [...kept].sort(),
    );
    expect(store.size).toBe(kept.length);
  });
});
