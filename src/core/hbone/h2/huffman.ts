/**
 * HPACK Huffman decoding (RFC 7541 section 5.2 and appendix B). The code is canonical: codes of one length
 * are consecutive in symbol order, and lengths grow down the table, so the code lengths alone define it.
 * We only decode (peers such as nghttp2 and Rust's h2 Huffman-encode header strings); our encoder sends raw
 * strings, which every decoder must accept.
 */

/** Code length in bits of symbols 0..255 and of EOS (256), from RFC 7541 appendix B. */
const CODE_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28,
  28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7,
  8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19,
  13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13,
  28, 20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21,
  22, 23, 22, 23, 23, 24, 22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23,
  22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25,
  25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
];

const EOS = 256;
/** Longest padding a string may end with: fewer than 8 bits, all ones (a prefix of EOS). */
const MAX_PADDING_BITS = 7;

/**
 * The decoding tree as a flat array: node n has children at [2n] (bit 0) and [2n + 1] (bit 1). A positive
 * entry is the next node; a negative one is a leaf, -(symbol + 1); 0 is no code (unreachable for a
 * complete code like this one).
 */
const TREE = buildTree();

function buildTree(): Int32Array {
  const symbols = CODE_LENGTHS.map((length, symbol) => ({ length, symbol })).sort(
    (a, b) => a.length - b.length || a.symbol - b.symbol,
  );
  // A complete binary code over 257 symbols has 256 internal nodes.
  const tree = new Int32Array(2 * 256);
  let nodes = 1;
  let code = 0;
  let previousLength = symbols[0]!.length;
  for (const [index, { length, symbol }] of symbols.entries()) {
    if (index > 0) code = (code + 1) << (length - previousLength);
    previousLength = length;
    let node = 0;
    for (let bit = length - 1; bit > 0; bit--) {
      const slot = 2 * node + ((code >>> bit) & 1);
      if (tree[slot] === 0) tree[slot] = nodes++;
      node = tree[slot]!;
    }
    tree[2 * node + (code & 1)] = -(symbol + 1);
  }
  return tree;
}

/**
 * Decodes `length` bytes of `source` from `offset` into a latin1 string; undefined when the input is not a
 * valid Huffman string (EOS inside, padding longer than 7 bits or not all ones). Output is at most 8/5 of the
 * input (the shortest code is 5 bits), so a peer cannot make this allocate more than it sent.
 */
export function huffmanDecode(source: Uint8Array, offset: number, length: number): string | undefined {
  const out = Buffer.allocUnsafe(Math.ceil((length * 8) / 5));
  let written = 0;
  let node = 0;
  // Bits read since the last symbol, and whether they were all ones (a valid padding so far).
  let pendingBits = 0;
  let pendingAllOnes = true;
  const end = offset + length;
  for (let i = offset; i < end; i++) {
    const byte = source[i]!;
    for (let bit = 7; bit >= 0; bit--) {
      const one = (byte >>> bit) & 1;
      const next = TREE[2 * node + one]!;
      pendingBits++;
      if (one === 0) pendingAllOnes = false;
      if (next < 0) {
        const symbol = -next - 1;
        if (symbol === EOS) return undefined;
        out[written++] = symbol;
        node = 0;
        pendingBits = 0;
        pendingAllOnes = true;
      } else {
        node = next;
      }
    }
  }
  if (pendingBits > MAX_PADDING_BITS || !pendingAllOnes) return undefined;
  return out.toString('latin1', 0, written);
}
