import { describe, expect, it } from 'vitest';
import {
  cidrContains,
  cidrsOverlap,
  formatCidr,
  formatIPv4,
  hostAddress,
  hostCount,
  macForIPv4,
  parseCidr,
  parseIPv4,
  subnet,
} from '../../src/local/addresses.ts';

const cidr = (text: string) => {
  const parsed = parseCidr(text);
  if ('error' in parsed) throw new Error(parsed.error);
  return parsed.cidr;
};

describe('IPv4 addresses', () => {
  it.each(['0.0.0.0', '10.244.1.2', '255.255.255.255'])('round-trips %s', (text) => {
    expect(formatIPv4(parseIPv4(text)!)).toBe(text);
  });

  it.each(['10.244.1', '10.244.1.256', '010.1.1.1', '1.2.3.4 ', 'a.b.c.d', ''])('rejects %j', (text) => {
    expect(parseIPv4(text)).toBeUndefined();
  });
});

describe('interface MACs of addresses', () => {
  it.each([
    ['10.244.0.1', '02:ab:0a:f4:00:01'],
    ['10.244.1.17', '02:ab:0a:f4:01:11'],
    ['0.0.0.0', '02:ab:00:00:00:00'],
    ['255.255.255.254', '02:ab:ff:ff:ff:fe'],
  ])('%s has %s (locally administered, unicast)', (ip, mac) => {
    expect(macForIPv4(ip)).toBe(mac);
  });

  it.each(['10.244.1', 'fd00::1', ''])('refuses %j', (ip) => {
    expect(() => macForIPv4(ip)).toThrow(RangeError);
  });
});

describe('CIDRs', () => {
  it('parses networks and says what is wrong with bad ones', () => {
    expect(formatCidr(cidr('10.244.0.0/16'))).toBe('10.244.0.0/16');
    expect(parseCidr('10.244.0.1/16')).toEqual({
      error: 'invalid CIDR "10.244.0.1/16": host bits are set (did you mean 10.244.0.0/16?)',
    });
    expect(parseCidr('10.244.0.0/33')).toHaveProperty('error');
    expect(parseCidr('10.244.0.0')).toHaveProperty('error');
    expect(parseCidr('10.244.0.0/016x')).toHaveProperty('error');
  });

  it('knows containment and overlap', () => {
    const pods = cidr('10.244.0.0/16');
    expect(cidrContains(pods, parseIPv4('10.244.255.255')!)).toBe(true);
    expect(cidrContains(pods, parseIPv4('10.245.0.0')!)).toBe(false);
    expect(cidrsOverlap(pods, cidr('10.244.3.0/24'))).toBe(true);
    expect(cidrsOverlap(cidr('10.0.0.0/8'), pods)).toBe(true);
    expect(cidrsOverlap(pods, cidr('10.96.0.0/16'))).toBe(false);
  });

  it('carves node subnets and host addresses', () => {
    const pods = cidr('10.244.0.0/16');
    expect(formatCidr(subnet(pods, 24, 0))).toBe('10.244.0.0/24');
    expect(formatCidr(subnet(pods, 24, 255))).toBe('10.244.255.0/24');
    expect(() => subnet(pods, 24, 256)).toThrow(RangeError);
    expect(() => subnet(pods, 8, 0)).toThrow(RangeError);
    const node = subnet(pods, 24, 1);
    expect(formatIPv4(hostAddress(node, 1))).toBe('10.244.1.1');
    expect(formatIPv4(hostAddress(node, 254))).toBe('10.244.1.254');
    expect(() => hostAddress(node, 255)).toThrow(RangeError);
    expect(() => hostAddress(node, 0)).toThrow(RangeError);
    expect(hostCount(node)).toBe(254);
    expect(hostCount(cidr('10.0.0.0/32'))).toBe(0);
  });
});
