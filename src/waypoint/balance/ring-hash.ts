/**
 * Envoy's ring hash (Ketama-style): every endpoint is hashed onto a 32-bit ring many times (the ring holds at
 * least `minimumRingSize` points, spread evenly over the endpoints), and a request's key goes to the first
 * point at or after its hash, wrapping round. Adding or removing one endpoint moves only the keys of its
 * arcs. Built once per endpoint set; a lookup is a binary search.
 */
import { hash32 } from './hash.ts';

export interface HashRing {
  /** Point hashes, ascending. */
  hashes: Uint32Array;
  /** The endpoint index of each point. */
  owners: Uint32Array;
}

export function buildRing(keys: readonly string[], minimumRingSize: number): HashRing {
  if (keys.length === 0) return { hashes: new Uint32Array(0), owners: new Uint32Array(0) };
  const perKey = Math.max(1, Math.ceil(minimumRingSize / keys.length));
  const points: [number, number][] = [];
  keys.forEach((key, owner) => {
    for (let replica = 0; replica < perKey; replica++) points.push([hash32(`${key}_${replica}`), owner]);
  });
  // Equal hashes order by owner so that the ring is the same whatever order the endpoints came in.
  points.sort((a, b) => a[0] - b[0] || keys[a[1]]!.localeCompare(keys[b[1]]!));
  return {
    hashes: Uint32Array.from(points, (point) => point[0]),
    owners: Uint32Array.from(points, (point) => point[1]),
  };
}

/** The endpoint index for a key's hash; undefined on an empty ring. */
export function ringLookup(ring: HashRing, hash: number): number | undefined {
  const { hashes } = ring;
  if (hashes.length === 0) return undefined;
  let low = 0;
  let high = hashes.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (hashes[mid]! < hash) low = mid + 1;
    else high = mid;
  }
  return ring.owners[low === hashes.length ? 0 : low];
}
