import { describe, expect, it } from 'vitest';
import { joinHostPort, parsePort, splitHostPort } from '../../src/core/net/host-port.ts';
import { plainAddress } from '../../src/core/net/ip.ts';
import { spiffeIdentitiesOfSan, uriSans } from '../../src/core/tls/spiffe.ts';

describe('host:port', () => {
  it.each([
    ['10.0.0.1:80', { host: '10.0.0.1', port: 80 }],
    ['[fd00::1]:443', { host: 'fd00::1', port: 443 }],
    ['example.com:15012', { host: 'example.com', port: 15012 }],
    ['10.0.0.1:65535', { host: '10.0.0.1', port: 65535 }],
    ['10.0.0.1:0', undefined],
    ['10.0.0.1:65536', undefined],
    ['fd00::1:80', undefined],
    ['10.0.0.1', undefined],
    [':80', undefined],
    ['[fd00::1]', undefined],
    ['10.0.0.1:8x', undefined],
    ['', undefined],
  ])('%j splits to %j', (text, expected) => {
    expect(splitHostPort(text)).toEqual(expected);
  });

  it('accepts port 0 only when asked (listen addresses)', () => {
    expect(splitHostPort('127.0.0.1:0', { allowPortZero: true })).toEqual({ host: '127.0.0.1', port: 0 });
    expect(splitHostPort('127.0.0.1:0')).toBeUndefined();
  });

  it.each([
    ['80', false, 80],
    ['65535', false, 65535],
    ['0', false, undefined],
    ['0', true, 0],
    ['65536', false, undefined],
    ['0x50', false, undefined],
    ['1e3', false, undefined],
    [' 80', false, undefined],
    ['80.0', false, undefined],
    ['-1', true, undefined],
    ['', true, undefined],
    ['000080', false, undefined],
  ])('parsePort(%j, allowPortZero %s) is %j', (text, allowPortZero, expected) => {
    expect(parsePort(text, { allowPortZero })).toBe(expected);
  });

  it.each([
    ['10.0.0.1', 80, '10.0.0.1:80'],
    ['fd00::1', 80, '[fd00::1]:80'],
    ['example.com', 1, 'example.com:1'],
  ])('joins %s and %d as %s, and splits it back', (host, port, text) => {
    expect(joinHostPort(host, port)).toBe(text);
    expect(splitHostPort(text)).toEqual({ host, port });
  });

  it.each([
    ['::ffff:10.0.0.1', '10.0.0.1'],
    ['10.0.0.1', '10.0.0.1'],
    ['fd00::1', 'fd00::1'],
    ['::ffff:abcd', '::ffff:abcd'],
    [undefined, ''],
  ])('plainAddress(%j) is %j', (address, expected) => {
    expect(plainAddress(address)).toBe(expected);
  });
});

describe('subjectAltName parsing', () => {
  it.each([
    [undefined, []],
    ['', []],
    ['DNS:a.example', []],
    ['URI:spiffe://cluster.local/ns/a/sa/b', ['spiffe://cluster.local/ns/a/sa/b']],
    ['DNS:x, URI:spiffe://td/ns/a/sa/b, URI:https://other', ['spiffe://td/ns/a/sa/b', 'https://other']],
    // Node JSON-quotes values with special characters: the comma inside must not split the value.
    [
      'URI:"spiffe://td/ns/a,URI:spiffe://td/ns/x/sa/y", DNS:z',
      ['spiffe://td/ns/a,URI:spiffe://td/ns/x/sa/y'],
    ],
    ['URI:"spiffe://td/\\"q\\"", URI:spiffe://td/ns/b/sa/c', ['spiffe://td/"q"', 'spiffe://td/ns/b/sa/c']],
    // A malformed quoted value ends parsing: what came before it stands, nothing after is trusted.
    ['URI:spiffe://td/ns/a/sa/b, URI:"spiffe://broken\\', ['spiffe://td/ns/a/sa/b']],
  ])('URI SANs of %j: %j', (san, expected) => {
    expect(uriSans(san)).toEqual(expected);
  });

  it('keeps only spiffe:// URIs as identities', () => {
    expect(spiffeIdentitiesOfSan('URI:https://x, URI:spiffe://td/ns/a/sa/b, DNS:spiffe://td/no')).toEqual([
      'spiffe://td/ns/a/sa/b',
    ]);
  });
});
