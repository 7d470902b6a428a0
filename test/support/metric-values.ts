/** Reads counter values from a prom-client metric by label subset (for asserting what the code counted). */
import type { Counter } from 'prom-client';

export async function sumOf<T extends string>(
  counter: Counter<T>,
  match: Partial<Record<T, string>> = {},
): Promise<number> {
  const { values } = await counter.get();
  let sum = 0;
  for (const { labels, value } of values) {
    if (Object.entries(match).every(([key, expected]) => labels[key as T] === expected)) sum += value;
  }
  return sum;
}
