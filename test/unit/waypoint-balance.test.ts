/**
 * The waypoint's load-balancing decisions as tables: round robin, random, least request (power of two
 * choices), ring hash and Maglev (balance, and how few keys move when an endpoint goes), and the hash keys
 * (header, query, source IP, cookie present or generated).
 */
import { describe, expect, it } from 'vitest';
import type { Cluster, ClusterEndpoint, LoadBalancer } from '../../src/core/l7/types.ts';
import { ClusterBalancer, EndpointLoad, endpointKey } from '../../src/waypoint/balance/balancer.ts';
import { hash32 } from '../../src/waypoint/balance/hash.ts';
import { cookieValue, hashKeyValue, setCookieValue } from '../../src/waypoint/balance/hash-key.ts';
import { buildMaglevTable, maglevLookup } from '../../src/waypoint/balance/maglev.ts';
import { leastRequestIndex, randomIndex, roundRobinIndex } from '../../src/waypoint/balance/pick.ts';
import { buildRing, ringLookup } from '../../src/waypoint/balance/ring-hash.ts';

const keys = (n: number) => Array.from({ length: n }, (_, i) => `10.0.0.${i + 1}:8080`);

describe('simple picks', () => {
  it.each([
    [3, 0, 0],
    [3, 1, 1],
    [3, 2, 2],
    [3, 3, 0],
    [3, 7, 1],
    [1, 5, 0],
    [0, 1, undefined],
  ])('round robin over %i endpoints, counter %i -> %s', (count, counter, expected) => {
    expect(roundRobinIndex(count, counter)).toBe(expected);
  });

  it.each([
    [4, 0, 0],
    [4, 0.24, 0],
    [4, 0.25, 1],
    [4, 0.999999, 3],
    [0, 0.5, undefined],
  ])('random over %i endpoints at %d -> %s', (count, random, expected) => {
    expect(randomIndex(count, random)).toBe(expected);
  });

  it.each([
    // active per endpoint, first draw, second draw, winner
    [[0, 0], 0, 0, 0], // two distinct endpoints, tie: the first drawn
    [[5, 1], 0, 0, 1], // 0 vs 1: 1 has fewer
    [[1, 5], 0.9, 0, 0], // first draw 1, second over the others = 0: 0 has fewer
    [[3, 3, 0], 0, 0.99, 2], // 0 vs 2
    [[3, 3, 0], 0.5, 0, 1], // 1 vs 0: tie, the first drawn
    [[7], 0.3, 0.8, 0],
    [[], 0.3, 0.8, undefined],
  ])('least request %j draws %d,%d -> %s', (active, first, second, expected) => {
    expect(leastRequestIndex(active.length, (i) => active[i]!, first, second)).toBe(expected);
  });

  it('least request never draws the same endpoint twice', () => {
    for (let first = 0; first < 1; first += 0.05) {
      for (let second = 0; second < 1; second += 0.05) {
        // With the drawn endpoint loaded and the other idle, p2c must pick the other one.
        const result = leastRequestIndex(2, (i) => (i === Math.floor(first * 2) ? 1 : 0), first, second);
        expect(result).toBe(1 - Math.floor(first * 2));
      }
    }
  });
});

describe('consistent hashing', () => {
  it('hash32 is stable and spreads similar keys', () => {
    expect(hash32('user-1')).toBe(hash32('user-1'));
    expect(hash32('user-1')).not.toBe(hash32('user-2'));
    const buckets = new Array(8).fill(0);
    for (let i = 0; i < 8000; i++) buckets[hash32(`key-${i}`) % 8]++;
    for (const count of buckets) expect(count).toBeGreaterThan(800);
  });

  it.each([
    [
      'ring hash',
      (k: string[]) => {
        const r = buildRing(k, 1024);
        return (h: number) => ringLookup(r, h);
      },
    ],
    [
      'maglev',
      (k: string[]) => {
        const t = buildMaglevTable(k, 65537);
        return (h: number) => maglevLookup(t, h);
      },
    ],
  ])('%s balances keys and moves few of them when an endpoint goes', (_name, build) => {
    const five = build(keys(5));
    const four = build(keys(4));
    const counts = new Array(5).fill(0);
    let moved = 0;
    const n = 10_000;
    for (let i = 0; i < n; i++) {
      const h = hash32(`request-${i}`);
      const before = five(h)!;
      counts[before]++;
      const after = four(h)!;
      if (before !== 4 && after !== before) moved++;
    }
    // Each of five endpoints gets roughly a fifth.
    for (const count of counts) {
      expect(count).toBeGreaterThan(n / 5 / 2);
      expect(count).toBeLessThan((n / 5) * 1.6);
    }
    // Keys that were not on the removed endpoint mostly stay where they were.
    expect(moved / n).toBeLessThan(0.1);
  });

  it('lookups on empty tables find nothing', () => {
    expect(ringLookup(buildRing([], 1024), 123)).toBeUndefined();
    expect(maglevLookup(buildMaglevTable([], 7), 123)).toBeUndefined();
  });

  it('the ring wraps: a hash past the last point goes to the first', () => {
    const ring = buildRing(['a', 'b'], 4);
    expect(ringLookup(ring, 0xffffffff)).toBe(ring.owners[0]);
  });

  it('maglev fills every slot, each endpoint about equally', () => {
    const table = buildMaglevTable(keys(3), 101);
    const counts = [0, 0, 0];
    for (const owner of table) counts[owner]!++;
    expect(counts.reduce((a, b) => a + b)).toBe(101);
    for (const count of counts) expect(count).toBeGreaterThanOrEqual(33);
  });
});

describe('hash keys', () => {
  const inputs = {
    header: (name: string) => ({ 'x-user': 'alice', cookie: 'a=1; sticky="abc"; b=2' })[name],
    queryParam: (name: string) => ({ tenant: 't1' })[name as 'tenant'],
    sourceIp: '10.1.2.3',
  };
  const generate = () => 'generated';

  it.each([
    [{ kind: 'header', name: 'x-user' }, 'alice', undefined],
    [{ kind: 'header', name: 'x-missing' }, undefined, undefined],
    [{ kind: 'queryParameter', name: 'tenant' }, 't1', undefined],
    [{ kind: 'sourceIp' }, '10.1.2.3', undefined],
    [{ kind: 'cookie', name: 'sticky', ttlMs: 1000 }, 'abc', undefined],
    [
      { kind: 'cookie', name: 'absent', ttlMs: 90_000, path: '/' },
      'generated',
      'absent="generated"; Max-Age=90; Path=/; HttpOnly',
    ],
    [{ kind: 'cookie', name: 'absent', ttlMs: 0 }, 'generated', 'absent="generated"; HttpOnly'],
    [{ kind: 'cookie', name: 'absent' }, undefined, undefined],
  ] as const)('%j -> %s', (key, value, setCookie) => {
    expect(hashKeyValue(key, inputs, generate)).toEqual({ value, ...(setCookie ? { setCookie } : {}) });
  });

  it.each([
    [undefined, 'a', undefined],
    ['a=1', 'a', '1'],
    ['a=1; b=2', 'b', '2'],
    ['ab=1; b=2', 'b', '2'],
    ['b="quoted"', 'b', 'quoted'],
    ['flag; c=3', 'c', '3'],
    ['a=1', 'b', undefined],
  ])('cookie %j, %s -> %s', (header, name, expected) => {
    expect(cookieValue(header, name)).toBe(expected);
  });

  it('Set-Cookie without a path has none', () => {
    expect(setCookieValue('s', 'v', undefined, 5_000)).toBe('s="v"; Max-Age=5; HttpOnly');
  });
});

describe('ClusterBalancer', () => {
  const endpoint = (n: number, ready = true): ClusterEndpoint => ({
    workloadUid: `w${n}`,
    ip: `10.0.0.${n}`,
    port: 8080,
    ready,
  });
  const clusterWith = (loadBalancer: LoadBalancer, endpoints: ClusterEndpoint[]): Cluster => ({
    name: 'c',
    hostname: 'svc.default.svc.cluster.local',
    port: 80,
    subset: '',
    protocol: 'http',
    selector: {},
    endpoints,
    policy: { loadBalancer },
  });

  it('chooses among ready endpoints only, and none when none is ready', () => {
    const balancer = new ClusterBalancer(
      clusterWith({ kind: 'ROUND_ROBIN' }, [endpoint(1), endpoint(2, false), endpoint(3)]),
      new EndpointLoad(),
      () => 0,
    );
    const picked = Array.from({ length: 4 }, () => balancer.pick({ random: () => 0 })!.ip);
    expect(picked).toEqual(['10.0.0.1', '10.0.0.3', '10.0.0.1', '10.0.0.3']);
    const none = new ClusterBalancer(
      clusterWith({ kind: 'RANDOM' }, [endpoint(1, false)]),
      new EndpointLoad(),
    );
    expect(none.pick({ random: Math.random })).toBeUndefined();
  });

  it('least request reads the shared in-flight counts', () => {
    const load = new EndpointLoad();
    const balancer = new ClusterBalancer(
      clusterWith({ kind: 'LEAST_REQUEST' }, [endpoint(1), endpoint(2)]),
      load,
    );
    const finish = load.begin(endpointKey(endpoint(1)));
    for (let i = 0; i < 10; i++) expect(balancer.pick({ random: Math.random })!.ip).toBe('10.0.0.2');
    finish();
    finish(); // a second call is a no-op
    expect(load.get(endpointKey(endpoint(1)))).toBe(0);
  });

  it('consistent hash sticks a hash to one endpoint whatever order the endpoints came in, and falls back to random without one', () => {
    const policy: LoadBalancer = {
      kind: 'consistentHash',
      hashOn: { kind: 'sourceIp' },
      table: { kind: 'ringHash', minimumRingSize: 64 },
    };
    const a = new ClusterBalancer(
      clusterWith(policy, [endpoint(1), endpoint(2), endpoint(3)]),
      new EndpointLoad(),
    );
    const b = new ClusterBalancer(
      clusterWith(policy, [endpoint(3), endpoint(1), endpoint(2)]),
      new EndpointLoad(),
    );
    for (let i = 0; i < 50; i++) {
      const hash = hash32(`client-${i}`);
      expect(a.pick({ hash, random: Math.random })).toEqual(b.pick({ hash, random: Math.random }));
    }
    expect(a.pick({ random: () => 0 })!.ip).toBe('10.0.0.1');
  });
});
