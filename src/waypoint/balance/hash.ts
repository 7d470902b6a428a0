/**
 * The 32-bit string hash behind consistent hashing (FNV-1a with murmur3's finaliser, so that similar keys
 * such as `10.0.0.1_0` and `10.0.0.1_1` spread over the whole range). Pure and allocation-free.
 */
export function hash32(text: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
