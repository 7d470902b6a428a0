/**
 * The bounds on DNS lookups that requests to DYNAMIC_DNS entries cause: the pure decision by table (which
 * bound refuses, in which order), the limiter on a fake clock (a client's allowance of new names, refilled
 * over the interval and kept apart from other clients'; lookups in flight per client and in all, given back
 * when they answer), who a lookup is charged to, and the DNS cache charging only the lookups it sends: a name
 * new to it takes from the allowance, a refresh of a name it holds and a lookup joining one in flight do not,
 * and a refused lookup is never sent and is counted with its requester.
 */
import { describe, expect, it } from 'vitest';
import { DnsCache, DnsLookupError, type DnsRefusal } from '../../src/waypoint/upstream/dns-cache.ts';
import {
  DEFAULT_LOOKUP_LIMITS,
  decideLookup,
  isLookupOverflow,
  LookupLimiter,
  type LookupLimits,
  type LookupRequester,
  lookupRequester,
} from '../../src/waypoint/upstream/lookup-limits.ts';

const LIMITS: LookupLimits = {
  newNamesPerClient: 3,
  newNamesIntervalMs: 3_000,
  inFlightPerClient: 2,
  inFlight: 4,
};

const requester = (key: string): LookupRequester => ({
  key,
  labels: {
    source_workload: key,
    source_workload_namespace: 'ns',
    source_principal: `spiffe://td/ns/ns/sa/${key}`,
  },
});

describe('decideLookup', () => {
  it.each([
    ['a new name with room everywhere', { newName: true, clientInFlight: 0, inFlight: 0 }, true, undefined],
    ['a new name without a token', { newName: true, clientInFlight: 0, inFlight: 0 }, false, 'client-names'],
    [
      'a known name without a token (a refresh is free)',
      { newName: false, clientInFlight: 1, inFlight: 3 },
      false,
      undefined,
    ],
    [
      'the client at its in-flight bound',
      { newName: false, clientInFlight: 2, inFlight: 2 },
      true,
      'client-in-flight',
    ],
    [
      'the waypoint at its in-flight bound',
      { newName: true, clientInFlight: 0, inFlight: 4 },
      true,
      'in-flight',
    ],
    [
      'both in-flight bounds: the global one is named',
      { newName: true, clientInFlight: 2, inFlight: 4 },
      false,
      'in-flight',
    ],
  ] as const)('%s', (_what, load, hasToken, expected) => {
    let asked = 0;
    const result = decideLookup(LIMITS, load, () => {
      asked++;
      return hasToken;
    });
    expect(result).toBe(expected);
    // A token is asked for only when the in-flight bounds pass and the name is new.
    const inFlightRefused = expected === 'in-flight' || expected === 'client-in-flight';
    expect(asked).toBe(load.newName && !inFlightRefused ? 1 : 0);
  });
});

describe('LookupLimiter', () => {
  const limiter = () => {
    let now = 5_000_000;
    return { limiter: new LookupLimiter(LIMITS, () => now), advance: (ms: number) => (now += ms) };
  };
  /** Admits a new name and answers it at once; the bound that refused it, or 'ok'. */
  const lookUp = (l: LookupLimiter, key: string, newName = true) => {
    const admitted = l.admit(requester(key), newName);
    if ('refused' in admitted) return admitted.refused;
    admitted.release();
    return 'ok';
  };

  it('allows a client its burst of new names, then one per interval share, apart from other clients', () => {
    const { limiter: l, advance } = limiter();
    expect([1, 2, 3, 4].map(() => lookUp(l, 'flooder'))).toEqual(['ok', 'ok', 'ok', 'client-names']);
    // Another client's allowance is its own.
    expect(lookUp(l, 'quiet')).toBe('ok');
    // Refreshing a name it already holds costs the flooder nothing.
    expect(lookUp(l, 'flooder', false)).toBe('ok');
    // 3 names per 3 s: one more after 1 s, not before.
    advance(999);
    expect(lookUp(l, 'flooder')).toBe('client-names');
    advance(1);
    expect(lookUp(l, 'flooder')).toBe('ok');
    expect(lookUp(l, 'flooder')).toBe('client-names');
  });

  it('bounds lookups in flight per client and in all, and gives them back when they answer', () => {
    const { limiter: l } = limiter();
    const held = (key: string) => {
      const admitted = l.admit(requester(key), false);
      if ('refused' in admitted) throw new Error(`refused: ${admitted.refused}`);
      return admitted.release;
    };
    const a1 = held('a');
    held('a');
    expect(l.admit(requester('a'), false)).toEqual({ refused: 'client-in-flight' });
    held('b');
    const b2 = held('b');
    expect(l.inFlight).toBe(4);
    expect(l.admit(requester('c'), false)).toEqual({ refused: 'in-flight' });
    a1();
    a1(); // a second release gives back nothing more
    expect(l.inFlight).toBe(3);
    // a's freed slot is its own again, and then the waypoint is full once more.
    const a3 = held('a');
    expect(l.admit(requester('c'), false)).toEqual({ refused: 'in-flight' });
    b2();
    a3();
    expect(lookUp(l, 'c', false)).toBe('ok');
    expect(l.inFlight).toBe(2);
  });

  it('has defaults for every bound', () => {
    const l = new LookupLimiter();
    const results = Array.from({ length: DEFAULT_LOOKUP_LIMITS.newNamesPerClient + 1 }, () => lookUp(l, 'x'));
    expect(results.filter((result) => result === 'ok')).toHaveLength(DEFAULT_LOOKUP_LIMITS.newNamesPerClient);
    expect(results.at(-1)).toBe('client-names');
  });

  it.each([
    ['client-names', true],
    ['client-in-flight', true],
    ['in-flight', true],
    ['nxdomain', false],
    ['outside-entry', false],
  ])('%s is a bound: %s', (reason, overflow) => {
    expect(isLookupOverflow(reason)).toBe(overflow);
  });
});

describe('lookupRequester', () => {
  const source = { canonicalName: 'client', namespace: 'mesh' };
  it.each([
    [
      'a mesh client: by its identity',
      'spiffe://cluster.local/ns/mesh/sa/client',
      source,
      'spiffe://cluster.local/ns/mesh/sa/client',
      {
        source_workload: 'client',
        source_workload_namespace: 'mesh',
        source_principal: 'spiffe://cluster.local/ns/mesh/sa/client',
      },
    ],
    [
      'a downstream client without identity: by its address',
      '',
      undefined,
      'ip:198.18.0.9',
      { source_workload: 'unknown', source_workload_namespace: 'unknown', source_principal: 'unknown' },
    ],
  ])('%s', (_what, identity, from, key, labels) => {
    expect(lookupRequester(identity, from, '198.18.0.9')).toEqual({ key, labels });
  });
});

describe('DNS cache lookups for requesters', () => {
  const setup = () => {
    let now = 1_000_000;
    const queries: string[] = [];
    const refusals: { reason: DnsRefusal; key: string | undefined }[] = [];
    const pending = new Map<string, () => void>();
    /** Names answered at once unless `hold` lists them (then when `answer(name)` is called). */
    const hold = new Set<string>();
    /** Names that do not exist (NXDOMAIN). */
    const missing = new Set<string>();
    const cache = new DnsCache({
      now: () => now,
      limiter: new LookupLimiter(LIMITS, () => now),
      onRefusal: (reason, who) => refusals.push({ reason, key: who?.key }),
      resolve: (hostname) => {
        queries.push(hostname);
        if (missing.has(hostname))
          return Promise.reject(Object.assign(new Error('no'), { code: 'ENOTFOUND' }));
        const answer = [{ address: '198.18.0.1', ttl: 1 }];
        if (!hold.has(hostname)) return Promise.resolve(answer);
        return new Promise((resolve) => pending.set(hostname, () => resolve(answer)));
      },
    });
    return {
      cache,
      queries,
      refusals,
      hold,
      missing,
      answer: (name: string) => pending.get(name)?.(),
      advance: (ms: number) => (now += ms),
    };
  };
  const reason = (promise: Promise<string>) =>
    promise.then(
      () => 'ok',
      (error: unknown) => (error instanceof DnsLookupError ? error.reason : 'other'),
    );

  it('charges names new to the cache, not refreshes of names it holds, and never sends a refused one', async () => {
    const dns = setup();
    const flooder = requester('flooder');
    const results = [];
    for (const name of ['a.wild.test', 'b.wild.test', 'c.wild.test', 'd.wild.test'])
      results.push(await reason(dns.cache.address(name, 'all', flooder)));
    expect(results).toEqual(['ok', 'ok', 'ok', 'client-names']);
    expect(dns.queries).toEqual(['a.wild.test', 'b.wild.test', 'c.wild.test']);
    expect(dns.refusals).toEqual([{ reason: 'client-names', key: 'flooder' }]);
    // The refusal is not remembered as the name's answer: another client looks it up.
    expect(await reason(dns.cache.address('d.wild.test', 'all', requester('quiet')))).toBe('ok');
    // Once the 1 s TTL ran out, the flooder's three names are refreshed though 1 s refilled only one token:
    // a refresh takes none. A cached answer sends nothing at all.
    dns.advance(1_000);
    for (const name of ['a.wild.test', 'b.wild.test', 'c.wild.test'])
      expect(await reason(dns.cache.address(name, 'all', flooder))).toBe('ok');
    expect(await reason(dns.cache.address('a.wild.test', 'all', flooder))).toBe('ok');
    expect(dns.queries).toHaveLength(7);
    // Config-named lookups (no requester) are never charged.
    expect(await reason(dns.cache.address('config.example.test', 'all'))).toBe('ok');
  });

  it('charges a name that failed again: re-asking random names is not free', async () => {
    const dns = setup();
    const flooder = requester('flooder');
    const names = ['x.wild.test', 'y.wild.test', 'z.wild.test'];
    for (const name of names) dns.missing.add(name);
    const ask = async () => {
      const results = [];
      for (const name of names) results.push(await reason(dns.cache.address(name, 'all', flooder)));
      return results;
    };
    expect(await ask()).toEqual(['nxdomain', 'nxdomain', 'nxdomain']);
    // The failures' 2 s memory ran out; 2 s refilled two of the three names.
    dns.advance(2_000);
    expect(await ask()).toEqual(['nxdomain', 'nxdomain', 'client-names']);
    expect(dns.queries).toHaveLength(5);
  });

  it('charges no lookup to a request that joins one in flight, and frees the slot when it answers', async () => {
    const dns = setup();
    dns.hold.add('slow.wild.test');
    dns.hold.add('slower.wild.test');
    const first = dns.cache.address('slow.wild.test', 'all', requester('a'));
    const second = dns.cache.address('slower.wild.test', 'all', requester('a'));
    // Client a has its 2 lookups in flight: a third name is refused, joining one of its own is not.
    expect(await reason(dns.cache.address('third.wild.test', 'all', requester('a')))).toBe(
      'client-in-flight',
    );
    const joined = dns.cache.address('slow.wild.test', 'all', requester('a'));
    dns.answer('slow.wild.test');
    expect(await Promise.all([first, joined])).toEqual(['198.18.0.1', '198.18.0.1']);
    expect(await reason(dns.cache.address('third.wild.test', 'all', requester('a')))).toBe('ok');
    dns.answer('slower.wild.test');
    expect(await second).toBe('198.18.0.1');
    expect(dns.queries).toEqual(['slow.wild.test', 'slower.wild.test', 'third.wild.test']);
  });
});
