/** The one-pass IPv4 parser agrees with `net.isIPv4` and with splitting the text, on tables and seeded input. */
import { isIPv4 } from 'node:net';
import { describe, expect, it } from 'vitest';
import { canonicalIp, parseIp, parseIpv4 } from '../../src/core/net/ip.ts';

/** What the parser replaced: the regular expression, then a split. */
const reference = (text: string) => (isIPv4(text) ? Array.from(text.split('.'), Number) : undefined);
const parsed = (text: string) => {
  const bytes = parseIpv4(text);
  return bytes && [...bytes];
};

describe('parseIpv4', () => {
  it.each([
    ['10.244.1.7', [10, 244, 1, 7]],
    ['0.0.0.0', [0, 0, 0, 0]],
    ['255.255.255.255', [255, 255, 255, 255]],
    ['256.1.1.1', undefined],
    ['01.2.3.4', undefined],
    ['1.2.3.00', undefined],
    ['1.2.3', undefined],
    ['1.2.3.4.5', undefined],
    ['1..3.4', undefined],
    ['.1.2.3', undefined],
    ['1.2.3.4.', undefined],
    ['1.2.3.-4', undefined],
    [' 1.2.3.4', undefined],
    ['1.2.3.4 ', undefined],
    ['::ffff:1.2.3.4', undefined],
    ['1000.2.3.4', undefined],
    ['', undefined],
  ])('%s', (text, expected) => {
    expect(parsed(text)).toEqual(expected);
    expect(reference(text)).toEqual(expected);
  });

  it('agrees with the reference on seeded random text', () => {
    let seed = 18;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const pick = (chars: string, count: number) => {
      let text = '';
      for (let c = 0; c < count; c++) text += chars[Math.floor(random() * chars.length)];
      return text;
    };
    let valid = 0;
    for (let i = 0; i < 20_000; i++) {
      // Mostly dotted parts of 0-4 digits (valid often enough), sometimes any of the characters.
      const text =
        random() < 0.8
          ? Array.from({ length: 3 + Math.floor(random() * 3) }, () =>
              pick('0123456789', Math.floor(random() * 5)),
            ).join('.')
          : pick('0123456789.a: ', Math.floor(random() * 17));
      expect(parsed(text), text).toEqual(reference(text));
      if (reference(text)) valid++;
    }
    expect(valid).toBeGreaterThan(100);
  });

  it('keeps parseIp and canonicalIp as they were for both families', () => {
    expect(parseIp('10.0.0.1')).toEqual({ family: 4, bytes: Uint8Array.from([10, 0, 0, 1]) });
    expect(parseIp('::ffff:10.0.0.1')).toEqual({ family: 4, bytes: Uint8Array.from([10, 0, 0, 1]) });
    expect(parseIp('10.0.0.01')).toBeUndefined();
    expect(canonicalIp('10.0.0.1')).toBe('10.0.0.1');
    expect(canonicalIp('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(canonicalIp('fd00:0::1')).toBe('fd00::1');
    expect(canonicalIp('10.0.0.256')).toBeUndefined();
  });
});
