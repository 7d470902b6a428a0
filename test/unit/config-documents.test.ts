import { describe, expect, it } from 'vitest';
import { parseYamlText } from '../../src/core/config/documents.ts';

describe('YAML read as Kubernetes reads it', () => {
  it.each([
    // An IPv6 address ending in `::` in a flow sequence: a string, as Go's reader (kubectl, Istio) has it.
    ['addresses: [1.2.3.4, 2001:db8::]', { addresses: ['1.2.3.4', '2001:db8::'] }],
    ['addresses: [2001:db8::, fd00::1]', { addresses: ['2001:db8::', 'fd00::1'] }],
    ['addresses: [fd00::1, "2001:db8::"]', { addresses: ['fd00::1', '2001:db8::'] }],
    // Real pairs stay pairs: a space after the colon, a value, or braces.
    ['items: [a: ]', { items: [{ a: null }] }],
    ['items: [a: b]', { items: [{ a: 'b' }] }],
    ['items: [{a: }]', { items: [{ a: null }] }],
    ['items: ["a":]', { items: [{ a: null }] }],
    // In a block sequence a colon before the line's end is a pair for every reader, Go's too.
    ['addresses:\n- 2001:db8::\n', { addresses: [{ '2001:db8:': null }] }],
  ])('%j', (text, expected) => {
    const parsed = parseYamlText(text, 'f.yaml');
    expect(parsed.issues).toEqual([]);
    expect(parsed.documents.map((document) => document.value)).toEqual([expected]);
  });
});
