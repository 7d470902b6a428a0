/**
 * The waypoint's cache of hostname-endpoint answers, with a resolver the test scripts and a clock it moves:
 * an answer is reused until its TTL (clamped) runs out, one query serves every waiting lookup, a failure is
 * remembered for the negative TTL and counted once per refused lookup, `all` rotates over the answer while
 * `first` sticks to its head, and the cache never holds more than its bound.
 */
import { describe, expect, it } from 'vitest';
import { DnsCache, type DnsRefusal } from '../../src/waypoint/upstream/dns-cache.ts';

interface Scripted {
  cache: DnsCache;
  queries: string[];
  refusals: DnsRefusal[];
  advance(ms: number): void;
  answers: Map<string, { address: string; ttl: number }[] | string>;
}

function scripted(options: { maxNames?: number; minTtlMs?: number; maxTtlMs?: number } = {}): Scripted {
  let now = 1_000_000;
  const queries: string[] = [];
  const refusals: DnsRefusal[] = [];
  const answers = new Map<string, { address: string; ttl: number }[] | string>();
  const cache = new DnsCache({
    ...options,
    now: () => now,
    negativeTtlMs: 2_000,
    onRefusal: (reason) => refusals.push(reason),
    resolve: async (hostname) => {
      queries.push(hostname);
      const answer = answers.get(hostname) ?? 'ENOTFOUND';
      if (typeof answer === 'string') throw Object.assign(new Error(answer), { code: answer });
      return answer;
    },
  });
  return { cache, queries, refusals, answers, advance: (ms) => (now += ms) };
}

describe('waypoint DNS cache', () => {
  it.each([
    ['reuses an answer within its TTL', 10, 9_999, 1],
    ['asks again once the TTL has run out', 10, 10_000, 2],
    ['treats a TTL of 0 as the 1 s floor', 0, 999, 1],
    ['asks again after the floor', 0, 1_000, 2],
    ['caps a huge TTL at the ceiling (1 h)', 86_400, 3_600_000, 2],
  ])('%s', async (_what, ttl, later, expectedQueries) => {
    const dns = scripted();
    dns.answers.set('api.test', [{ address: '198.18.0.1', ttl }]);
    await dns.cache.address('api.test', 'first');
    dns.advance(later);
    await dns.cache.address('api.test', 'first');
    expect(dns.queries).toHaveLength(expectedQueries);
  });

  it('uses the smallest TTL of the answer', async () => {
    const dns = scripted();
    dns.answers.set('api.test', [
      { address: '198.18.0.1', ttl: 60 },
      { address: '198.18.0.2', ttl: 5 },
    ]);
    await dns.cache.address('api.test', 'first');
    dns.advance(5_000);
    await dns.cache.address('api.test', 'first');
    expect(dns.queries).toEqual(['api.test', 'api.test']);
  });

  it('sends one query for lookups that wait at once', async () => {
    const dns = scripted();
    dns.answers.set('api.test', [{ address: '198.18.0.1', ttl: 30 }]);
    const all = await Promise.all(Array.from({ length: 20 }, () => dns.cache.address('api.test', 'first')));
    expect(new Set(all)).toEqual(new Set(['198.18.0.1']));
    expect(dns.queries).toEqual(['api.test']);
  });

  it('`all` spreads connections over the answer; `first` takes its head', async () => {
    const dns = scripted();
    dns.answers.set('api.test', [
      { address: '198.18.0.1', ttl: 30 },
      { address: '198.18.0.2', ttl: 30 },
    ]);
    const spread = [];
    for (let i = 0; i < 4; i++) spread.push(await dns.cache.address('api.test', 'all'));
    expect(spread).toEqual(['198.18.0.1', '198.18.0.2', '198.18.0.1', '198.18.0.2']);
    expect(await dns.cache.address('api.test', 'first')).toBe('198.18.0.1');
  });

  it.each([
    ['ENOTFOUND', 'nxdomain'],
    ['ENODATA', 'no-address'],
    ['ETIMEOUT', 'timeout'],
    ['ECONNREFUSED', 'error'],
  ] as const)(
    'refuses %s as %s, counted per lookup, asked again only after the negative TTL',
    async (code, reason) => {
      const dns = scripted();
      dns.answers.set('api.test', code);
      for (let i = 0; i < 3; i++)
        await expect(dns.cache.address('api.test', 'all')).rejects.toThrow(
          `api.test did not resolve (${reason}`,
        );
      expect(dns.refusals).toEqual([reason, reason, reason]);
      expect(dns.queries).toHaveLength(1);
      dns.answers.set('api.test', [{ address: '198.18.0.1', ttl: 30 }]);
      dns.advance(2_000);
      expect(await dns.cache.address('api.test', 'all')).toBe('198.18.0.1');
      expect(dns.queries).toHaveLength(2);
    },
  );

  it('refuses an empty answer', async () => {
    const dns = scripted();
    dns.answers.set('api.test', []);
    await expect(dns.cache.address('api.test', 'all')).rejects.toThrow('no-address');
  });

  it('holds at most maxNames, dropping the entry that expires first', async () => {
    const dns = scripted({ maxNames: 2 });
    dns.answers.set('a.test', [{ address: '198.18.0.1', ttl: 100 }]);
    dns.answers.set('b.test', [{ address: '198.18.0.2', ttl: 10 }]);
    dns.answers.set('c.test', [{ address: '198.18.0.3', ttl: 100 }]);
    for (const name of ['a.test', 'b.test', 'c.test']) await dns.cache.address(name, 'first');
    expect(dns.cache.size).toBe(2);
    // b expired soonest, so it went: a and c are still answered from the cache.
    await dns.cache.address('a.test', 'first');
    await dns.cache.address('c.test', 'first');
    await dns.cache.address('b.test', 'first');
    expect(dns.queries).toEqual(['a.test', 'b.test', 'c.test', 'b.test']);
    expect(dns.cache.size).toBe(2);
  });
});
