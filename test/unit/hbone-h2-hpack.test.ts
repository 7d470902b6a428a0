import { describe, expect, it } from 'vitest';
import { encodeHeaders, type HeaderField, HpackDecoder } from '../../src/core/hbone/h2/hpack.ts';
import { huffmanDecode } from '../../src/core/hbone/h2/huffman.ts';

const hex = (text: string) => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const decoder = () => new HpackDecoder({ maxTableSize: 4096, maxHeaderListSize: 64 << 10 });

describe('Huffman decoding (RFC 7541 appendix C.4 strings)', () => {
  it.each([
    ['f1e3 c2e5 f23a 6ba0 ab90 f4ff', 'www.example.com'],
    ['a8eb 1064 9cbf', 'no-cache'],
    ['25a8 49e9 5ba9 7d7f', 'custom-key'],
    ['25a8 49e9 5bb8 e8b4 bf', 'custom-value'],
    ['', ''],
  ])('%s -> %s', (encoded, text) => {
    const bytes = hex(encoded);
    expect(huffmanDecode(bytes, 0, bytes.length)).toBe(text);
  });

  it.each([
    ['padding of 8 ones (a whole byte of EOS prefix)', 'f1e3 c2e5 f23a 6ba0 ab90 f4ff ff'],
    ['padding with a zero bit', 'f1e3 c2e5 f23a 6ba0 ab90 f4fe'],
    ['EOS inside the string (30 ones)', 'ffff fffc'],
  ])('refuses %s', (_what, encoded) => {
    const bytes = hex(encoded);
    expect(huffmanDecode(bytes, 0, bytes.length)).toBeUndefined();
  });
});

describe('HPACK decoder', () => {
  it('decodes the RFC 7541 C.4 request sequence, dynamic table included', () => {
    const d = decoder();
    const first = d.decode(hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff'));
    expect(first).toEqual({
      ok: true,
      fields: [
        [':method', 'GET'],
        [':scheme', 'http'],
        [':path', '/'],
        [':authority', 'www.example.com'],
      ],
    });
    expect(d.tableSize).toBe(57);
    const second = d.decode(hex('8286 84be 5886 a8eb 1064 9cbf'));
    expect(second.ok && second.fields.at(-1)).toEqual(['cache-control', 'no-cache']);
    expect(second.ok && second.fields[3]).toEqual([':authority', 'www.example.com']);
    const third = d.decode(hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'));
    expect(third.ok && third.fields.at(-1)).toEqual(['custom-key', 'custom-value']);
    expect(d.tableSize).toBe(164);
  });

  it('evicts oldest entries and honours a size update to 0 at the start of a block', () => {
    const d = new HpackDecoder({ maxTableSize: 100, maxHeaderListSize: 64 << 10 });
    // Two literal-with-indexing fields of 32+1+30 = 63 bytes each: the second evicts the first.
    const field = (name: string) =>
      Buffer.concat([hex('40 01'), Buffer.from(name), hex('1e'), Buffer.alloc(30, 0x61)]);
    expect(d.decode(Buffer.concat([field('a'), field('b')])).ok).toBe(true);
    expect(d.tableSize).toBe(63);
    expect(d.decode(hex('be')).ok).toBe(true);
    expect(d.decode(hex('20')).ok).toBe(true);
    expect(d.tableSize).toBe(0);
    expect(d.decode(hex('be'))).toMatchObject({ ok: false, failure: 'compression' });
  });

  it.each([
    ['index 0', '80'],
    ['index beyond both tables', 'ff 10'],
    ['truncated integer', '7f'],
    ['string longer than the block', '00 05 61'],
    ['literal name index beyond the table', '0f 7f 00'],
    ['bad Huffman string', '00 01 61 81 00'],
    ['table size update above what we advertised', '3f e2 1f'],
    ['table size update after a field', '82 20'],
    ['integer of absurd size', '0f ff ff ff ff ff 0f'],
  ])('refuses %s as a compression error', (_what, block) => {
    expect(decoder().decode(hex(block))).toMatchObject({ ok: false, failure: 'compression' });
  });

  it('stops an HPACK bomb at the header list size limit (one table entry referenced many times)', () => {
    const d = new HpackDecoder({ maxTableSize: 4096, maxHeaderListSize: 16 << 10 });
    const value = Buffer.alloc(4000, 0x62);
    const insert = Buffer.concat([hex('40 01 78 7f a1 1e'), value]);
    // 4000 = 127 + 3873: 7f then 0xa1 0x1e (3873 = 0x21 + 0x1e << 7).
    const block = Buffer.concat([insert, Buffer.alloc(5000, 0xbe)]);
    const result = d.decode(block);
    expect(result).toMatchObject({ ok: false, failure: 'header-list-too-large' });
  });
});

describe('HPACK encoder', () => {
  const cases: [string, HeaderField[]][] = [
    [
      'a CONNECT request',
      [
        [':method', 'CONNECT'],
        [':authority', '10.1.2.3:8080'],
        ['forwarded', 'for="10.0.0.1:4321"'],
        ['baggage', 'k8s.namespace.name=default'],
      ],
    ],
    ['a 200 response (fully indexed)', [[':status', '200']]],
    ['a 503 response', [[':status', '503']]],
    ['a long value (multi-byte length)', [['x-long', 'v'.repeat(1000)]]],
  ];
  it.each(cases)('round-trips %s through the decoder', (_what, fields) => {
    expect(decoder().decode(encodeHeaders(fields))).toEqual({ ok: true, fields });
  });

  it('indexes exact static fields in one byte and starts with a table reset when asked', () => {
    expect(encodeHeaders([[':status', '200']])).toEqual(hex('88'));
    expect(encodeHeaders([[':status', '200']], true)).toEqual(hex('20 88'));
  });
});
