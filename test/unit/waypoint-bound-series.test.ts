/**
 * The waypoint's bound metric series (`telemetry/bound-series.ts`) against prom-client's own children: the
 * same observations give the same exposition, byte for byte, including values on a bucket's bound, above the
 * last bound and zero; binding a label set again keeps what it counted; and `WaypointMetrics` keeps counting
 * after a Telemetry override turns a metric off and on again.
 */
import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ENVOY_DURATION_BUCKETS_MS, REQUEST_LABELS, WaypointMetrics } from '../../src/waypoint/metrics.ts';
import { bindCounter, bindHistogram } from '../../src/waypoint/telemetry/bound-series.ts';
import { sumOf } from '../support/metric-values.ts';

const LABELS = ['source', 'destination', 'response_code'] as const;
type Label = (typeof LABELS)[number];

function metricsIn(registry: Registry) {
  return {
    counter: new Counter({ name: 'requests_total', help: 'h', labelNames: LABELS, registers: [registry] }),
    histogram: new Histogram({
      name: 'duration_ms',
      help: 'h',
      labelNames: LABELS,
      buckets: ENVOY_DURATION_BUCKETS_MS,
      registers: [registry],
    }),
  };
}

const A: Record<Label, string> = { source: 'a', destination: 'b', response_code: '200' };
const B: Record<Label, string> = { source: 'a', destination: 'b', response_code: '503' };

describe('bound series', () => {
  it.each([
    ['one value inside a bucket', [[A, 3]]],
    [
      'values on bucket bounds',
      [
        [A, 0.5],
        [A, 1],
        [A, 3600000],
      ],
    ],
    ['a value above the last bound (only +Inf)', [[A, 7200000]]],
    [
      'zero and fractions',
      [
        [A, 0],
        [A, 0.25],
        [A, 12.5],
      ],
    ],
    [
      'two label sets interleaved',
      [
        [A, 1],
        [B, 40],
        [A, 250],
        [B, 0.1],
      ],
    ],
  ] as [string, [Record<Label, string>, number][]][])(
    '%s: the exposition is prom-client own',
    async (_name, observations) => {
      const own = new Registry();
      const bound = new Registry();
      const reference = metricsIn(own);
      const tested = metricsIn(bound);
      const series = new Map<Record<Label, string>, ReturnType<typeof bindHistogram>>();
      const counters = new Map<Record<Label, string>, ReturnType<typeof bindCounter>>();
      for (const [labels, value] of observations) {
        reference.counter.labels(labels).inc();
        reference.histogram.labels(labels).observe(value);
        if (!series.has(labels)) {
          series.set(labels, bindHistogram(tested.histogram, labels));
          counters.set(labels, bindCounter(tested.counter, labels));
        }
        counters.get(labels)!.inc();
        series.get(labels)!.observe(value);
      }
      expect(await bound.metrics()).toBe(await own.metrics());
    },
  );

  it("binds to prom-client's store, not to its slower children (which hash the labels on every call)", () => {
    const { counter, histogram } = metricsIn(new Registry());
    // prom-client's children carry `startTimer` (histograms) and are its `inc` bound to the labels (counters).
    expect('startTimer' in bindHistogram(histogram, A)).toBe(false);
    expect(bindCounter(counter, A).inc.name).not.toMatch(/^bound /);
  });

  it('binding a label set again keeps its counts (a cleared cache rebinds, never zeroes)', async () => {
    const registry = new Registry();
    const { counter, histogram } = metricsIn(registry);
    bindCounter(counter, A).inc();
    bindHistogram(histogram, A).observe(5);
    bindCounter(counter, A).inc();
    bindHistogram(histogram, A).observe(7);
    expect(await sumOf(counter, A)).toBe(2);
    const { values } = await histogram.get();
    expect(values.find((v) => v.metricName === 'duration_ms_sum')?.value).toBe(12);
    expect(values.find((v) => v.metricName === 'duration_ms_count')?.value).toBe(2);
  });
});

describe('WaypointMetrics request series', () => {
  const labels = () =>
    Object.fromEntries(
      REQUEST_LABELS.map((name) => [name, name === 'response_code' ? '200' : 'x']),
    ) as Record<(typeof REQUEST_LABELS)[number], string>;

  it('counts through a metric turned off and on again (the store it was bound to is reset)', async () => {
    const metrics = new WaypointMetrics();
    metrics.recordRequest('k', labels, 3, 100, 200);
    metrics.disableRequestMetrics(['istio_requests_total']);
    metrics.recordRequest('k', labels, 3, 100, 200);
    expect(await sumOf(metrics.requests)).toBe(0);
    metrics.disableRequestMetrics([]);
    metrics.recordRequest('k', labels, 3, 100, 200);
    metrics.recordRequest('k', labels, 3, 100, 200);
    expect(await sumOf(metrics.requests, { response_code: '200' })).toBe(2);
    const text = await metrics.registry.metrics();
    expect(text).toContain('istio_request_duration_milliseconds_count{');
    expect(text).toMatch(/istio_request_bytes_count\{[^}]*response_code="200"[^}]*\} 4/);
  });
});
