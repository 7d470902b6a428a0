/**
 * The simple load-balancing choices as pure functions of their inputs (the caller owns the state and draws
 * the random numbers), so each is table-tested: round robin, random, and Envoy's default least request with
 * the power of two choices (two endpoints drawn at random, the one with fewer requests in flight wins).
 */

/** Round robin: the endpoint after the last one, by a counter the caller increments. */
export function roundRobinIndex(count: number, counter: number): number | undefined {
  return count === 0 ? undefined : counter % count;
}

/** Random: `random` in [0, 1). */
export function randomIndex(count: number, random: number): number | undefined {
  return count === 0 ? undefined : Math.min(count - 1, Math.floor(random * count));
}

/**
 * Least request, power of two choices: two distinct endpoints from `first` and `second` (each in [0, 1)),
 * the one with fewer active requests wins; on a tie the first drawn. With one endpoint, that one.
 */
export function leastRequestIndex(
  count: number,
  active: (index: number) => number,
  first: number,
  second: number,
): number | undefined {
  if (count === 0) return undefined;
  if (count === 1) return 0;
  const a = Math.min(count - 1, Math.floor(first * count));
  // The second draw is over the other count-1 endpoints, so the two are always distinct.
  let b = Math.min(count - 2, Math.floor(second * (count - 1)));
  if (b >= a) b++;
  return active(b) < active(a) ? b : a;
}
