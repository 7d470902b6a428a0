/** The per-source handshake rate: a token bucket per key, bounded in keys. */
import { describe, expect, it } from 'vitest';
import { KeyedRateLimiter } from '../../src/core/hbone/limits.ts';

describe('KeyedRateLimiter', () => {
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
