/**
 * The dashboard without Prometheus, by tables: the text exposition format as prom-client writes it (what the
 * ztunnels and waypoints serve), rates between two scrapes (new series, counter resets), target labels as
 * Prometheus adds them, `sum by` with the queries' matchers, and `histogram_quantile` as PromQL computes it.
 */
import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  type Bucket,
  evaluate,
  histogramQuantile,
  seriesRates,
  withTargetLabels,
} from '../../src/dashboard/evaluate.ts';
import { type ExpositionSample, parseExposition } from '../../src/dashboard/exposition.ts';
import { GRAPH_QUERIES, GRAPH_SERIES, promql } from '../../src/dashboard/queries.ts';

const s = (name: string, labels: Record<string, string>, value: number): ExpositionSample => ({
  name,
  labels,
  value,
});

describe('the exposition format', () => {
  it('reads what prom-client writes: counters, histograms with `le` first, escaped label values', async () => {
    const registry = new Registry();
    new Counter({
      name: 'istio_requests_total',
      help: 'h',
      labelNames: ['a', 'b'],
      registers: [registry],
    }).inc({ a: 'x', b: 'say "hi"\\\n' }, 3);
    new Histogram({
      name: 'istio_request_duration_milliseconds',
      help: 'd',
      labelNames: ['a'],
      buckets: [1, 10],
      registers: [registry],
    }).observe({ a: 'x' }, 5);
    const samples = parseExposition(await registry.metrics());
    expect(samples).toEqual([
      s('istio_requests_total', { a: 'x', b: 'say "hi"\\\n' }, 3),
      s('istio_request_duration_milliseconds_bucket', { le: '1', a: 'x' }, 0),
      s('istio_request_duration_milliseconds_bucket', { le: '10', a: 'x' }, 1),
      s('istio_request_duration_milliseconds_bucket', { le: '+Inf', a: 'x' }, 1),
      s('istio_request_duration_milliseconds_sum', { a: 'x' }, 5),
      s('istio_request_duration_milliseconds_count', { a: 'x' }, 1),
    ]);
  });

  it.each([
    ['plain', 'up 1', s('up', {}, 1)],
    ['timestamp', 'up 1 1700000000000', s('up', {}, 1)],
    ['exponent', 'x{a="b",} 1.5e3', s('x', { a: 'b' }, 1500)],
    ['spaces', 'x{ a = "b" , c="d" } -2', s('x', { a: 'b', c: 'd' }, -2)],
    ['+Inf', 'x +Inf', s('x', {}, Number.POSITIVE_INFINITY)],
    ['NaN', 'x NaN', s('x', {}, Number.NaN)],
  ])('%s', (_what, line, sample) => {
    expect(parseExposition(`# HELP x y\n${line}\n`)).toEqual([sample]);
  });

  it.each([
    ['no value', 'x{a="b"}'],
    ['bad value', 'x 1,5'],
    ['unterminated label', 'x{a="b} 1'],
    ['bad escape', 'x{a="\\q"} 1'],
    ['no name', '{a="b"} 1'],
    ['missing quote', 'x{a=b} 1'],
  ])('refuses %s, naming the line', (_what, line) => {
    expect(() => parseExposition(`up 1\n${line}\n`)).toThrow(/^line 2: /);
  });
});

describe('rates between two scrapes', () => {
  it.each([
    ['an increase', [s('c', {}, 10)], [s('c', {}, 40)], 3],
    ['a series new since the first scrape', [], [s('c', {}, 9)], 0.9],
    ['a counter reset (restart)', [s('c', {}, 100)], [s('c', {}, 20)], 2],
    [
      'labels in another order are the same series',
      [s('c', { a: '1', b: '2' }, 5)],
      [s('c', { b: '2', a: '1' }, 15)],
      1,
    ],
  ])('%s', (_what, earlier, later, rate) => {
    expect(seriesRates({ time: 0, samples: earlier }, { time: 10_000, samples: later })).toEqual([
      { ...later[0], value: rate },
    ]);
  });

  it('gives nothing for scrapes at the same time', () => {
    expect(seriesRates({ time: 5, samples: [s('c', {}, 1)] }, { time: 5, samples: [s('c', {}, 2)] })).toEqual(
      [],
    );
  });

  it('adds the target labels, keeping a clashing served label as exported_<name>', () => {
    expect(
      withTargetLabels([s('c', { namespace: 'x', a: '1' }, 1)], { namespace: 'web', app: 'wp' }),
    ).toEqual([s('c', { exported_namespace: 'x', a: '1', namespace: 'web', app: 'wp' }, 1)]);
  });
});

describe('the graph queries over rates', () => {
  it('renders each as the PromQL Prometheus is asked', () => {
    expect(GRAPH_QUERIES.tcpFailed).toBe(
      'sum(rate(istio_tcp_connections_closed_total{reporter="destination", response_flags!="-"}[60s])) by (source_workload, source_workload_namespace, destination_workload, destination_workload_namespace)',
    );
    expect(promql(GRAPH_SERIES.durationsP99)).toMatch(
      /^histogram_quantile\(0\.99, sum\(rate\(istio_request_duration_milliseconds_bucket\{reporter=~"waypoint\|destination"\}\[60s\]\)\) by \(le, source_workload, /,
    );
  });

  it('sums by the query labels, with its matchers (anchored regex, !=), dropping empty labels', () => {
    const rates = [
      s(
        'istio_tcp_connections_closed_total',
        { reporter: 'destination', response_flags: 'DENY', source_workload: 'a', pod: 'p1' },
        1,
      ),
      s(
        'istio_tcp_connections_closed_total',
        { reporter: 'destination', response_flags: 'CONNECT', source_workload: 'a', pod: 'p2' },
        2,
      ),
      s(
        'istio_tcp_connections_closed_total',
        { reporter: 'destination', response_flags: '-', source_workload: 'a' },
        4,
      ),
      s(
        'istio_tcp_connections_closed_total',
        { reporter: 'source', response_flags: 'DENY', source_workload: 'a' },
        8,
      ),
      s('istio_tcp_connections_opened_total', { reporter: 'destination', source_workload: 'a' }, 16),
      s(
        'istio_tcp_connections_closed_total',
        { reporter: 'destination', response_flags: 'DENY', source_workload: 'b', destination_workload: '' },
        32,
      ),
    ];
    expect(evaluate(GRAPH_SERIES.tcpFailed, rates)).toEqual([
      { metric: { source_workload: 'a' }, value: [0, '3'] },
      { metric: { source_workload: 'b' }, value: [0, '32'] },
    ]);
    const anchored = { ...GRAPH_SERIES.requests, by: ['reporter'] };
    expect(
      evaluate(anchored, [
        s('istio_requests_total', { reporter: 'waypoint' }, 1),
        s('istio_requests_total', { reporter: 'destinations' }, 2),
        s('istio_requests_total', { reporter: 'source' }, 4),
      ]),
    ).toEqual([{ metric: { reporter: 'waypoint' }, value: [0, '1'] }]);
  });

  it('takes the p99 of the summed bucket rates per group', () => {
    const bucket = (le: string, value: number, app = 'wp') =>
      s('istio_request_duration_milliseconds_bucket', { reporter: 'waypoint', app, le }, value);
    const rates = [
      bucket('10', 0),
      bucket('100', 6),
      bucket('+Inf', 10),
      bucket('100', 4),
      bucket('+Inf', 10),
    ];
    const [p99] = evaluate({ ...GRAPH_SERIES.durationsP99, by: ['app'] }, rates);
    // 20 observations, 10 at or below 100: the 19.8th is in the +Inf bucket: the highest finite bound.
    expect(p99).toEqual({ metric: { app: 'wp' }, value: [0, '100'] });
  });
});

describe('histogram_quantile (PromQL)', () => {
  const b = (le: number, count: number): Bucket => ({ le, count });
  const INF = Number.POSITIVE_INFINITY;
  it.each([
    ['inside the first bucket, from 0', 0.5, [b(10, 10), b(INF, 10)], 5],
    ['interpolated in a middle bucket', 0.75, [b(10, 10), b(20, 20), b(INF, 20)], 15],
    ['unsorted buckets', 0.75, [b(INF, 20), b(20, 20), b(10, 10)], 15],
    ['in +Inf: the highest finite bound', 0.99, [b(10, 5), b(INF, 10)], 10],
    ['no observations: NaN', 0.99, [b(10, 0), b(INF, 0)], Number.NaN],
    ['no +Inf bucket: NaN', 0.5, [b(10, 4)], Number.NaN],
    ['only +Inf: NaN', 0.5, [b(INF, 4)], Number.NaN],
    ['non-monotonic counts are evened out', 0.5, [b(10, 4), b(20, 3), b(INF, 8)], 10],
    ['q above 1', 1.5, [b(10, 4), b(INF, 4)], INF],
  ])('%s', (_what, q, buckets, expected) => {
    expect(histogramQuantile(q, buckets)).toBe(expected);
  });
});
