/**
 * prom-client series bound to one label set for good. prom-client's own `labels(...)` children hash and
 * validate every label on every `inc`/`observe` (23 labels for Istio's request metrics: ~4% of the
 * waypoint's CPU in a profile); a bound series finds its label set's entry in the metric once and then
 * only adds to it, so the exposition is still prom-client's, from the same entries.
 *
 * This reads prom-client's per-metric store (`hashMap`, keyed as its `hashObject` keys it, entries
 * `{ value }` for counters and `{ bucketValues, sum, count }` for histograms), which its public API does not
 * expose. Where that store is not as expected (another prom-client version), binding falls back to
 * prom-client's own `labels(...)` children, which are correct, only slower; the unit tests compare the
 * bound path's exposition with prom-client's own for the same observations.
 */
import { createRequire } from 'node:module';
import type { Counter, Histogram } from 'prom-client';

type Labels = Record<string, string>;

interface PromClientUtil {
  hashObject(labels: Labels, sortedLabelNames: readonly string[]): string;
}

const { hashObject } = createRequire(import.meta.url)('prom-client/lib/util.js') as PromClientUtil;

/** What a bound series offers: the same calls as prom-client's children. */
export interface CounterSeries {
  inc(): void;
}
export interface HistogramSeries {
  observe(value: number): void;
}

interface MetricStore<Entry> {
  hashMap?: Record<string, Entry | undefined>;
  sortedLabelNames?: readonly string[];
  upperBounds?: readonly number[];
}

interface CounterEntry {
  value: number;
}

interface HistogramEntry {
  bucketValues: Record<string, number>;
  sum: number;
  count: number;
}

/** The entry of `labels` in `metric`'s store, after `create` made sure it exists; undefined if none is found. */
function entryOf<Entry>(metric: MetricStore<Entry>, labels: Labels, create: () => void): Entry | undefined {
  const names = metric.sortedLabelNames;
  if (names === undefined || typeof metric.hashMap !== 'object') return undefined;
  const hash = hashObject(labels, names);
  if (metric.hashMap[hash] === undefined) create();
  return metric.hashMap[hash];
}

/** `counter`'s series for `labels`, bound (or prom-client's own child, should its store not be found). */
export function bindCounter<T extends string>(counter: Counter<T>, labels: Record<T, string>): CounterSeries {
  const entry = entryOf(counter as unknown as MetricStore<CounterEntry>, labels, () =>
    counter.inc(labels, 0),
  );
  if (entry === undefined || typeof entry.value !== 'number') return counter.labels(labels);
  return {
    inc() {
      entry.value += 1;
    },
  };
}

/** `histogram`'s series for `labels`, bound (or prom-client's own child, should its store not be found). */
export function bindHistogram<T extends string>(
  histogram: Histogram<T>,
  labels: Record<T, string>,
): HistogramSeries {
  const store = histogram as unknown as MetricStore<HistogramEntry>;
  const entry = entryOf(store, labels, () => histogram.zero(labels));
  const bounds = store.upperBounds;
  if (entry === undefined || bounds === undefined || !isHistogramEntry(entry, bounds)) {
    return histogram.labels(labels);
  }
  // The store's bucket keys are the bounds as property names: made once, not on every observation.
  const keys = bounds.map(String);
  return {
    observe(value: number) {
      // As prom-client observes: the first bucket whose bound holds the value (none: only `+Inf`, the count).
      for (let i = 0; i < bounds.length; i++) {
        if (value <= bounds[i]!) {
          entry.bucketValues[keys[i]!]! += 1;
          break;
        }
      }
      entry.sum += value;
      entry.count += 1;
    },
  };
}

function isHistogramEntry(entry: HistogramEntry, bounds: readonly number[]): boolean {
  return (
    typeof entry.sum === 'number' &&
    typeof entry.count === 'number' &&
    typeof entry.bucketValues === 'object' &&
    bounds.every((bound) => typeof entry.bucketValues[String(bound)] === 'number')
  );
}
