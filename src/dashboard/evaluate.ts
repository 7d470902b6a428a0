/**
 * The graph's queries (queries.ts) answered without Prometheus, from two scrapes of each mesh endpoint:
 * per-second rates of every counter series between them, the target's labels added as Prometheus adds them,
 * then `sum by` and `histogram_quantile` as PromQL defines them. Pure: scrapes in, Prometheus-shaped
 * vectors out, so buildGraph reads either source the same way.
 */
import { type ExpositionSample, parseValue } from './exposition.ts';
import type { PromSample } from './prometheus.ts';
import type { LabelMatcher, SeriesQuery } from './queries.ts';

/** One scrape of one target: when (ms since the epoch) and what it served. */
export interface TargetScrape {
  time: number;
  samples: readonly ExpositionSample[];
}

const seriesKey = (sample: ExpositionSample) =>
  `${sample.name}${JSON.stringify(Object.entries(sample.labels).sort(([a], [b]) => a.localeCompare(b)))}`;

/**
 * The per-second increase of each series from `earlier` to `later`. A series new in `later` started from
 * zero after `earlier` (the mesh creates a series at its first increment); one that went down was reset
 * (a restart), so all of its value is the increase, as PromQL's `rate` treats resets.
 */
export function seriesRates(earlier: TargetScrape, later: TargetScrape): ExpositionSample[] {
  const seconds = (later.time - earlier.time) / 1000;
  if (!(seconds > 0)) return [];
  const before = new Map(earlier.samples.map((sample) => [seriesKey(sample), sample.value]));
  return later.samples.map((sample) => {
    const previous = before.get(seriesKey(sample)) ?? 0;
    const increase = sample.value >= previous ? sample.value - previous : sample.value;
    return { name: sample.name, labels: sample.labels, value: increase / seconds };
  });
}

/**
 * The target's labels on each of its samples (`job`, `instance`, `namespace`, `pod`, `app`, `node`); a
 * label the target already served is kept as `exported_<name>`, as Prometheus does without honor_labels.
 */
export function withTargetLabels(
  samples: readonly ExpositionSample[],
  target: Readonly<Record<string, string>>,
): ExpositionSample[] {
  return samples.map((sample) => {
    const labels: Record<string, string> = {};
    for (const [name, value] of Object.entries(sample.labels)) {
      labels[name in target ? `exported_${name}` : name] = value;
    }
    return { ...sample, labels: { ...labels, ...target } };
  });
}

function matches(labels: Readonly<Record<string, string>>, matcher: LabelMatcher): boolean {
  const value = labels[matcher.label] ?? '';
  switch (matcher.op) {
    case '=':
      return value === matcher.value;
    case '!=':
      return value !== matcher.value;
    case '=~':
      // PromQL regexes are anchored.
      return new RegExp(`^(?:${matcher.value})$`).test(value);
  }
}

/** `sum(...) by (by)` of the selected rate series; with `quantile`, `histogram_quantile` per group. */
export function evaluate(query: SeriesQuery, rates: readonly ExpositionSample[]): PromSample[] {
  const name = query.quantile === undefined ? query.metric : `${query.metric}_bucket`;
  const groups = new Map<string, { metric: Record<string, string>; value: number; buckets: Bucket[] }>();
  for (const sample of rates) {
    if (sample.name !== name || !query.matchers.every((m) => matches(sample.labels, m))) continue;
    const metric: Record<string, string> = {};
    for (const label of query.by) {
      const value = sample.labels[label];
      // PromQL drops empty labels from the result.
      if (value !== undefined && value !== '') metric[label] = value;
    }
    const key = JSON.stringify(metric);
    let group = groups.get(key);
    if (!group) {
      group = { metric, value: 0, buckets: [] };
      groups.set(key, group);
    }
    if (query.quantile === undefined) group.value += sample.value;
    else addToBucket(group.buckets, parseValue(sample.labels.le ?? ''), sample.value);
  }
  return [...groups.values()].map((group) => ({
    metric: group.metric,
    value: [
      0,
      String(query.quantile === undefined ? group.value : histogramQuantile(query.quantile, group.buckets)),
    ],
  }));
}

export interface Bucket {
  /** Upper bound (`le`), +Inf for the last. */
  le: number;
  /** Cumulative count (or rate) of observations at or below `le`. */
  count: number;
}

function addToBucket(buckets: Bucket[], le: number | undefined, count: number): void {
  if (le === undefined || Number.isNaN(le)) return;
  const found = buckets.find((bucket) => bucket.le === le);
  if (found) found.count += count;
  else buckets.push({ le, count });
}

/**
 * PromQL's `histogram_quantile`: the bucket where the q-th observation falls, interpolated linearly within
 * it (from 0 for the first bucket); in the +Inf bucket, the highest finite bound. NaN without observations
 * or without a +Inf bucket.
 */
export function histogramQuantile(q: number, unsorted: readonly Bucket[]): number {
  const buckets = [...unsorted].sort((a, b) => a.le - b.le);
  const last = buckets.at(-1);
  if (!last || last.le !== Number.POSITIVE_INFINITY || !(last.count > 0)) return Number.NaN;
  if (q < 0) return Number.NEGATIVE_INFINITY;
  if (q > 1) return Number.POSITIVE_INFINITY;
  // Cumulative counts must not go down (rates of separately scraped series can be off by a little).
  for (let i = 1; i < buckets.length; i++) {
    if (buckets[i]!.count < buckets[i - 1]!.count)
      buckets[i] = { ...buckets[i]!, count: buckets[i - 1]!.count };
  }
  const rank = q * last.count;
  const index = buckets.findIndex((bucket) => bucket.count >= rank);
  if (index === buckets.length - 1) return buckets.length >= 2 ? buckets[index - 1]!.le : Number.NaN;
  const bucket = buckets[index]!;
  const start = index === 0 ? 0 : buckets[index - 1]!.le;
  const below = index === 0 ? 0 : buckets[index - 1]!.count;
  if (index === 0 && bucket.le <= 0) return bucket.le;
  const inBucket = bucket.count - below;
  return start + (bucket.le - start) * (inBucket > 0 ? (rank - below) / inBucket : 0);
}
