/**
 * Maglev consistent hashing (Eisenbud et al., NSDI 2016), as Envoy's `MAGLEV` balancer: each endpoint fills
 * the slots of its own permutation of a prime-sized table in turn until the table is full, so every endpoint
 * owns an almost equal share and a change of the endpoint set moves few keys. Lookup is `table[hash % size]`.
 */
import { hash32 } from './hash.ts';

/** `size` should be prime (Envoy's default 65537); the permutation needs it to visit every slot. */
export function buildMaglevTable(keys: readonly string[], size: number): Int32Array {
  const table = new Int32Array(size).fill(-1);
  const n = keys.length;
  if (n === 0) return table;
  const offsets = keys.map((key) => hash32(key, 0x9e3779b9) % size);
  const skips = keys.map((key) => (hash32(key, 0x7f4a7c15) % (size - 1)) + 1);
  const next = new Array<number>(n).fill(0);
  let filled = 0;
  for (;;) {
    for (let i = 0; i < n; i++) {
      let slot = (offsets[i]! + next[i]! * skips[i]!) % size;
      while (table[slot]! >= 0) {
        next[i]!++;
        slot = (offsets[i]! + next[i]! * skips[i]!) % size;
      }
      table[slot] = i;
      next[i]!++;
      if (++filled === size) return table;
    }
  }
}

export function maglevLookup(table: Int32Array, hash: number): number | undefined {
  if (table.length === 0) return undefined;
  const owner = table[hash % table.length]!;
  return owner < 0 ? undefined : owner;
}
