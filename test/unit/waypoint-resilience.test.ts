/**
 * The resilience decisions as tables: which outcomes each `retryOn` condition retries, Envoy's jittered
 * backoff, the request deadline with `grpc-timeout`, fault selection by percentage, circuit-breaker
 * admission and its pending queue, outlier detection's counting, ejection, multiplier and expiry (on a fake
 * clock), and the body kept for replay.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { RetryPolicy } from '../../src/core/l7/types.ts';
import { pickRetry } from '../../src/waypoint/resilience/attempts.ts';
import { attemptBody, readForReplay } from '../../src/waypoint/resilience/body.ts';
import { decideFault, faultFlags } from '../../src/waypoint/resilience/fault.ts';
import { admission, ClusterLimits, limitsOf } from '../../src/waypoint/resilience/limits.ts';
import {
  countResult,
  eject,
  ejectionAllowed,
  expire,
  newRecord,
  OutlierTracker,
  outlierConfig,
  servingEndpoints,
  shouldEject,
} from '../../src/waypoint/resilience/outlier.ts';
import { type AttemptOutcome, backoffMs, isRetriable } from '../../src/waypoint/resilience/retry.ts';
import { parseGrpcTimeout, requestTimeoutMs } from '../../src/waypoint/resilience/timeout.ts';
import { FakeClock } from '../support/fake-clock.ts';

const ISTIO_DEFAULT_RETRY_ON = [
  'connect-failure',
  'refused-stream',
  'unavailable',
  'cancelled',
  'retriable-status-codes',
];
const policy = (retryOn: string[], codes: number[] = []): RetryPolicy => ({
  attempts: 2,
  retryOn,
  retriableStatusCodes: codes,
  backoffBaseMs: 25,
});
const status = (code: number, grpcStatus?: number): AttemptOutcome => ({
  kind: 'response',
  status: code,
  grpcStatus,
});
const failure = (flag: 'UF' | 'UC' | 'UR' | 'UT' | 'UO'): AttemptOutcome => ({ kind: 'failure', flag });

describe('retry conditions (retryOn)', () => {
  it.each<[string, string[], number[], AttemptOutcome, boolean]>([
    ['Istio default: connect failure', ISTIO_DEFAULT_RETRY_ON, [], failure('UF'), true],
    ['Istio default: refused stream', ISTIO_DEFAULT_RETRY_ON, [], failure('UR'), true],
    ['Istio default: 503 is not retried (since 1.24)', ISTIO_DEFAULT_RETRY_ON, [], status(503), false],
    ['Istio default: a broken connection is not retried', ISTIO_DEFAULT_RETRY_ON, [], failure('UC'), false],
    [
      'Istio default: a bound’s refusal (UO) is not retried',
      ISTIO_DEFAULT_RETRY_ON,
      [],
      failure('UO'),
      false,
    ],
    ['5xx: a bound’s refusal (UO) is not retried either', ['5xx', 'gateway-error'], [], failure('UO'), false],
    ['Istio default: gRPC UNAVAILABLE', ISTIO_DEFAULT_RETRY_ON, [], status(200, 14), true],
    ['Istio default: gRPC CANCELLED', ISTIO_DEFAULT_RETRY_ON, [], status(200, 1), true],
    ['Istio default: gRPC INTERNAL is not', ISTIO_DEFAULT_RETRY_ON, [], status(200, 13), false],
    ['5xx: any 5xx', ['5xx'], [], status(500), true],
    ['5xx: no answer at all', ['5xx'], [], failure('UC'), true],
    ['5xx: a per-try timeout', ['5xx'], [], failure('UT'), true],
    ['5xx: not a 4xx', ['5xx'], [], status(404), false],
    ['5xx: not a success', ['5xx'], [], status(200), false],
    ['gateway-error: 502', ['gateway-error'], [], status(502), true],
    ['gateway-error: 504', ['gateway-error'], [], status(504), true],
    ['gateway-error: not 500', ['gateway-error'], [], status(500), false],
    ['reset: broken connection', ['reset'], [], failure('UC'), true],
    ['reset: not a connect failure', ['reset'], [], failure('UF'), false],
    ['retriable-4xx: 409', ['retriable-4xx'], [], status(409), true],
    ['retriable-4xx: not 429', ['retriable-4xx'], [], status(429), false],
    ['retriable-status-codes: a listed code', ['retriable-status-codes'], [429, 503], status(429), true],
    ['retriable-status-codes: an unlisted code', ['retriable-status-codes'], [503], status(500), false],
    ['a bare code in retryOn', ['503'], [], status(503), true],
    ['deadline-exceeded', ['deadline-exceeded'], [], status(200, 4), true],
    ['resource-exhausted', ['resource-exhausted'], [], status(200, 8), true],
    ['internal', ['internal'], [], status(200, 13), true],
    ['no conditions: nothing', [], [], status(503), false],
    ['retriable-headers without header matchers: nothing', ['retriable-headers'], [], status(503), false],
  ])('%s', (_name, retryOn, codes, outcome, expected) => {
    expect(isRetriable(policy(retryOn, codes), outcome)).toBe(expected);
  });
});

describe('backoff (full jitter, capped at 10x base)', () => {
  it.each([
    // [base, retry, random, delay]
    [25, 1, 0, 0],
    [25, 1, 0.999, 24],
    [25, 2, 0.5, 37],
    [25, 3, 0.999, 174],
    [25, 4, 0.999, 249],
    [25, 10, 0.999, 249],
    [100, 1, 0.5, 50],
  ])('base %i ms, retry %i, draw %f: %i ms', (base, retry, random, delay) => {
    expect(backoffMs(base, retry, random)).toBe(delay);
  });
});

describe('request timeout', () => {
  it.each([
    ['20S', 20_000],
    ['100m', 100],
    ['2M', 120_000],
    ['1H', 3_600_000],
    ['5000u', 5],
    ['0m', 0],
    ['123456789S', undefined],
    ['10s', undefined],
    ['', undefined],
    [undefined, undefined],
  ])('grpc-timeout %s is %s ms', (value, ms) => {
    expect(parseGrpcTimeout(value)).toBe(ms);
  });

  it.each<[string, number | undefined, string | undefined, boolean, boolean, number | undefined]>([
    ['no route timeout: none', undefined, undefined, false, false, undefined],
    ['the route timeout', 1500, undefined, false, false, 1500],
    ['route timeout 0: none', 0, undefined, false, false, undefined],
    ['gRPC: grpc-timeout replaces the route timeout', 1500, '200m', true, false, 200],
    ['gRPC: grpc-timeout without a route timeout', undefined, '3S', true, false, 3000],
    ['gRPC: grpc-timeout 0 is no deadline', 1500, '0S', true, false, undefined],
    ['gRPC: a malformed grpc-timeout leaves the route timeout', 1500, 'soon', true, false, 1500],
    ['not gRPC: grpc-timeout ignored', 1500, '200m', false, false, 1500],
    ['a fault on the route disables timeouts', 1500, undefined, false, true, undefined],
  ])('%s', (_name, route, header, grpc, faulted, expected) => {
    expect(requestTimeoutMs(route, header, grpc, faulted)).toBe(expected);
  });
});

describe('fault injection', () => {
  const delay = { fixedDelayMs: 300, percentage: 50 };
  it.each<[string, Parameters<typeof decideFault>[0], number, number, unknown, string | undefined]>([
    ['no fault', undefined, 0, 0, { delayMs: 0 }, undefined],
    ['delay selected', { delay }, 0.49, 0, { delayMs: 300 }, 'DI'],
    ['delay not selected', { delay }, 0.5, 0, { delayMs: 0 }, undefined],
    [
      'percentage 0 (unset) faults nothing',
      { delay: { fixedDelayMs: 300, percentage: 0 } },
      0,
      0,
      { delayMs: 0 },
      undefined,
    ],
    [
      '100% delay with the highest draw',
      { delay: { fixedDelayMs: 300, percentage: 100 } },
      0.9999,
      0,
      { delayMs: 300 },
      'DI',
    ],
    [
      'abort selected',
      { abort: { httpStatus: 418, percentage: 50 } },
      0,
      0.2,
      { delayMs: 0, abort: { httpStatus: 418 } },
      'FI',
    ],
    ['abort not selected', { abort: { httpStatus: 418, percentage: 50 } }, 0, 0.7, { delayMs: 0 }, undefined],
    [
      'fractional percentage',
      { abort: { httpStatus: 500, percentage: 0.1 } },
      0,
      0.0009,
      { delayMs: 0, abort: { httpStatus: 500 } },
      'FI',
    ],
    [
      'gRPC abort: HTTP 200 with the status code',
      { abort: { grpcStatus: 'UNAVAILABLE', percentage: 100 } },
      0,
      0.5,
      { delayMs: 0, abort: { httpStatus: 200, grpcStatus: 14 } },
      'FI',
    ],
    [
      'delay and abort both',
      { delay, abort: { httpStatus: 503, percentage: 100 } },
      0.1,
      0.1,
      { delayMs: 300, abort: { httpStatus: 503 } },
      'DI,FI',
    ],
  ])('%s', (_name, fault, delayDraw, abortDraw, decision, flags) => {
    const result = decideFault(fault, delayDraw, abortDraw);
    expect(result).toEqual(decision);
    expect(faultFlags(result)).toBe(flags);
  });
});

describe('circuit breaking', () => {
  const limits = (pool: Parameters<typeof limitsOf>[0], wire: 'http1' | 'http2' = 'http1') =>
    limitsOf(pool, wire);
  it.each<[string, Parameters<typeof limitsOf>[0], 'http1' | 'http2', number, number, string]>([
    ['defaults: unlimited', undefined, 'http1', 10_000, 0, 'admit'],
    ['under maxConnections', { tcp: { maxConnections: 2 } }, 'http1', 1, 0, 'admit'],
    ['at maxConnections: queue', { tcp: { maxConnections: 1 } }, 'http1', 1, 0, 'queue'],
    [
      'queue full: overflow',
      { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1 } },
      'http1',
      1,
      1,
      'overflow',
    ],
    [
      'queue with room',
      { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 2 } },
      'http1',
      1,
      1,
      'queue',
    ],
    [
      'http2MaxRequests: overflow at once, no queue',
      { http: { http2MaxRequests: 3 } },
      'http2',
      3,
      0,
      'overflow',
    ],
    [
      'HTTP/2: maxConnections does not bound requests',
      { tcp: { maxConnections: 1 } },
      'http2',
      5,
      0,
      'admit',
    ],
  ])('%s', (_name, pool, wire, active, pending, expected) => {
    expect(admission({ active, pending }, limits(pool, wire))).toBe(expected);
  });

  it('queues within http1MaxPendingRequests, refuses beyond, and admits the queue in order as slots free', async () => {
    const clusterLimits = new ClusterLimits();
    const bounds = limits({ tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1 } });
    const first = await clusterLimits.acquire('c', bounds);
    expect(first).toBeTypeOf('function');
    const queued = clusterLimits.acquire('c', bounds);
    expect(await clusterLimits.acquire('c', bounds)).toBeUndefined();
    expect(clusterLimits.counts('c')).toEqual(expect.objectContaining({ active: 1, pending: 1 }));
    first!();
    first!();
    const second = await queued;
    expect(second).toBeTypeOf('function');
    expect(clusterLimits.counts('c')).toEqual(expect.objectContaining({ active: 1, pending: 0 }));
    second!();
    expect(clusterLimits.counts('c')).toEqual(expect.objectContaining({ active: 0, pending: 0 }));
  });

  it('a queued request whose caller gives up leaves the queue', async () => {
    const clusterLimits = new ClusterLimits();
    const bounds = limits({ tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1 } });
    const first = await clusterLimits.acquire('c', bounds);
    const gone = new AbortController();
    const queued = clusterLimits.acquire('c', bounds, gone.signal);
    gone.abort();
    expect(await queued).toBeUndefined();
    expect(clusterLimits.counts('c').pending).toBe(0);
    first!();
  });

  it('maxRetries bounds concurrent retries per cluster', () => {
    const clusterLimits = new ClusterLimits();
    const bounds = limits({ http: { maxRetries: 1 } });
    const retry = clusterLimits.beginRetry('c', bounds);
    expect(retry).toBeTypeOf('function');
    expect(clusterLimits.beginRetry('c', bounds)).toBeUndefined();
    retry!();
    expect(clusterLimits.beginRetry('c', bounds)).toBeTypeOf('function');
  });
});

describe('outlier detection', () => {
  const config = outlierConfig({
    consecutive5xxErrors: 3,
    consecutiveGatewayErrors: 2,
    interval: 1000,
    baseEjectionTime: 30_000,
  });
  const counted = (results: Parameters<typeof countResult>[1][], spec = config) =>
    results.reduce((record, result) => countResult(record, result, spec), newRecord(0));
  const s = (code: number) => ({ kind: 'status' as const, status: code });
  const local = { kind: 'localFailure' as const };

  it("applies Istio's defaults", () => {
    expect(outlierConfig({})).toEqual({
      consecutive5xx: 5,
      consecutiveGateway: 0,
      consecutiveLocalOrigin: 5,
      splitLocalOrigin: false,
      intervalMs: 10_000,
      baseEjectionMs: 30_000,
      maxEjectionPercent: 10,
      minHealthPercent: 0,
    });
  });

  it.each<[string, Parameters<typeof countResult>[1][], ReturnType<typeof outlierConfig>, boolean]>([
    ['three 500s reach consecutive5xxErrors 3', [s(500), s(500), s(500)], config, true],
    [
      'a success in between resets the count',
      [s(500), s(500), s(200), s(500)],
      { ...config, consecutiveGateway: 0 },
      false,
    ],
    ['two 503s reach consecutiveGatewayErrors 2', [s(503), s(503)], config, true],
    ['a 500 breaks a gateway-error run', [s(503), s(500), s(503)], { ...config, consecutive5xx: 0 }, false],
    ['local failures count as gateway errors', [local, local], config, true],
    [
      'split: local failures count only as local-origin',
      [local, local],
      { ...config, splitLocalOrigin: true, consecutiveLocalOrigin: 3 },
      false,
    ],
    [
      'split: enough local failures',
      [local, local, local],
      { ...config, splitLocalOrigin: true, consecutiveLocalOrigin: 3 },
      true,
    ],
    [
      'threshold 0 is off',
      [s(500), s(500), s(500), s(500)],
      { ...config, consecutive5xx: 0, consecutiveGateway: 0 },
      false,
    ],
    ['4xx are successes', [s(404), s(404), s(404)], config, false],
  ])('%s', (_name, results, spec, expected) => {
    expect(shouldEject(counted(results, spec), spec)).toBe(expected);
  });

  it.each([
    // [ejected, total, maxEjectionPercent, allowed]
    [0, 2, 10, true],
    [0, 100, 10, true],
    [9, 100, 10, true],
    [10, 100, 10, false],
    [1, 2, 50, false],
    [1, 3, 50, true],
    [1, 2, 100, true],
  ])('%i of %i ejected, max %i%%: another may go out = %s', (ejected, total, max, allowed) => {
    expect(ejectionAllowed(ejected, total, max)).toBe(allowed);
  });

  it.each([
    // [previous ejections, time in service since, now, ejection ms]
    [0, 0, 0, 30_000],
    [1, 0, 500, 60_000],
    [2, 0, 500, 90_000],
    [1, 0, 1000, 30_000],
    [3, 0, 1500, 90_000],
    [20, 0, 0, 300_000],
  ])('ejected before %i times, back since %i, at %i: out for %i ms', (ejections, since, now, duration) => {
    const record = { ...newRecord(since), ejections };
    const ejected = eject(record, config, now);
    expect(ejected.ejectedUntil! - now).toBe(duration);
    expect(ejected.consecutive5xx).toBe(0);
  });

  it('a base ejection time beyond 300 s is not capped below itself', () => {
    const long = { ...config, baseEjectionMs: 400_000 };
    expect(eject(newRecord(0), long, 0).ejectedUntil).toBe(400_000);
  });

  it('ejection ends when its time is up, not before', () => {
    const ejected = eject(newRecord(0), config, 0);
    expect(expire(ejected, 29_999)).toBe(ejected);
    expect(expire(ejected, 30_000)).toMatchObject({
      ejectedUntil: undefined,
      inServiceSince: 30_000,
      ejections: 1,
    });
  });

  it.each([
    // [ready, ejected, minHealthPercent, serving]
    [['a', 'b'], [], 0, ['a', 'b']],
    [['a', 'b'], ['b'], 0, ['a']],
    [['a', 'b'], ['a', 'b'], 0, []],
    [['a', 'b'], ['b'], 50, ['a']],
    [['a', 'b'], ['b'], 51, ['a', 'b']],
    [['a', 'b', 'c', 'd'], ['a', 'b', 'c'], 30, ['a', 'b', 'c', 'd']],
  ])('ready %j, ejected %j, minHealthPercent %i: %j serve', (ready, ejected, min, serving) => {
    expect(servingEndpoints(ready, (endpoint) => ejected.includes(endpoint), min)).toEqual(serving);
  });

  it('the tracker ejects on the threshold, keeps the endpoint out for the ejection time, then brings it back', async () => {
    const clock = new FakeClock(1_000_000);
    const tracker = new OutlierTracker(clock);
    const spec = outlierConfig({ consecutive5xxErrors: 2, baseEjectionTime: 5000, maxEjectionPercent: 50 });
    const before = tracker.version;
    tracker.record('c', 'a', 2, s(503), spec);
    expect(tracker.ejectedUntil('c', 'a')).toBeUndefined();
    tracker.record('c', 'a', 2, s(503), spec);
    expect(tracker.ejectedUntil('c', 'a')).toBe(1_005_000);
    expect(tracker.version).not.toBe(before);
    // At most 50% of 2: the second endpoint stays in however it fails.
    tracker.record('c', 'b', 2, s(503), spec);
    tracker.record('c', 'b', 2, s(503), spec);
    expect(tracker.ejectedUntil('c', 'b')).toBeUndefined();
    const ejectedVersion = tracker.version;
    await clock.advance(4999);
    expect(tracker.ejectedUntil('c', 'a')).toBe(1_005_000);
    expect(tracker.version).toBe(ejectedVersion);
    await clock.advance(1);
    expect(tracker.ejectedUntil('c', 'a')).toBeUndefined();
    expect(tracker.version).not.toBe(ejectedVersion);
    // Ejected again soon after: twice the base.
    tracker.record('c', 'a', 2, s(500), spec);
    tracker.record('c', 'a', 2, s(500), spec);
    expect(tracker.ejectedUntil('c', 'a')).toBe(clock.now() + 10_000);
  });
});

describe('request body for replay', () => {
  const text = async (stream: Readable | undefined) => {
    const chunks: Buffer[] = [];
    for await (const chunk of stream ?? []) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString();
  };
  it('keeps a body within the limit and replays it to every attempt', async () => {
    const body = await readForReplay(Readable.from([Buffer.from('abc'), Buffer.from('def')]), 10);
    expect(body.kind).toBe('buffered');
    expect(await text(attemptBody(body))).toBe('abcdef');
    expect(await text(attemptBody(body))).toBe('abcdef');
  });
  it('streams a body beyond the limit once, whole', async () => {
    const body = await readForReplay(
      Readable.from([Buffer.from('abcdef'), Buffer.from('ghij'), Buffer.from('kl')]),
      8,
    );
    expect(body.kind).toBe('streaming');
    expect(await text(attemptBody(body))).toBe('abcdefghijkl');
  });
});

describe('retry host selection (prefer a host not tried)', () => {
  const at = (ip: string) => ({ endpoint: { workloadUid: ip, ip, port: 80, ready: true } });
  it.each<[string, string[], string[], string | undefined, number]>([
    // [name, picks in order, tried, chosen, picks used]
    ['the first pick when untried', ['10.0.0.2'], ['10.0.0.1'], '10.0.0.2', 1],
    ['skips tried hosts', ['10.0.0.1', '10.0.0.1', '10.0.0.2'], ['10.0.0.1'], '10.0.0.2', 3],
    ['gives up after five picks: the last one', Array(9).fill('10.0.0.1'), ['10.0.0.1'], '10.0.0.1', 5],
    ['nothing serving', [], ['10.0.0.1'], undefined, 1],
  ])('%s', (_name, picks, tried, chosen, used) => {
    let calls = 0;
    const result = pickRetry(
      () => {
        const ip = picks[calls++];
        return ip === undefined ? undefined : at(ip);
      },
      new Set(tried.map((ip) => `${ip}:80`)),
    );
    expect(result?.endpoint.ip).toBe(chosen);
    expect(calls).toBe(used);
  });
});
