/**
 * IP addresses and CIDR blocks as policies and lookups need them: parse once, compare as bytes. IPv4-mapped
 * IPv6 addresses (`::ffff:10.0.0.1`, what a dual-stack socket reports) count as the IPv4 address they carry.
 */
import { isIPv6 } from 'node:net';

export interface IpAddress {
  family: 4 | 6;
  bytes: Uint8Array;
}

export interface CidrBlock {
  family: 4 | 6;
  bytes: Uint8Array;
  prefix: number;
}

/** The canonical text of an address (`::ffff:1.2.3.4` -> `1.2.3.4`), for map keys; undefined if not an IP. */
export function canonicalIp(text: string): string | undefined {
  // Dotted-quad text that parses is already canonical (no leading zeros): the ztunnel keys every address.
  if (parseIpv4(text) !== undefined) return text;
  const ip = parseIp(text);
  if (!ip) return undefined;
  return ip.family === 4 ? ip.bytes.join('.') : formatIpv6(ip.bytes);
}

/** `::ffff:10.0.0.1` -> `10.0.0.1`: what dual-stack sockets report for IPv4 peers; other text unchanged. */
export function plainAddress(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** The digit `0`, as a char code. */
const ZERO = 48;

/**
 * Dotted-quad text as its 4 bytes, by the rules of `net.isIPv4` (octets 0-255 without leading zeros), in one
 * pass: addresses arrive by the tens of thousands in a snapshot, and the regular expression and a split per
 * address were the ztunnel's largest cost in taking one.
 */
export function parseIpv4(text: string): Uint8Array | undefined {
  if (text.length < 7 || text.length > 15) return undefined;
  const bytes = new Uint8Array(4);
  let octet = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const code = i < text.length ? text.charCodeAt(i) : 46;
    if (code === 46) {
      if (digits === 0 || octet > 3) return undefined;
      bytes[octet++] = value;
      value = 0;
      digits = 0;
    } else if (code >= ZERO && code <= ZERO + 9) {
      if (digits === 1 && value === 0) return undefined; // a leading zero
      value = value * 10 + (code - ZERO);
      if (value > 255) return undefined;
      digits++;
    } else {
      return undefined;
    }
  }
  return octet === 4 ? bytes : undefined;
}

export function parseIp(text: string): IpAddress | undefined {
  const v4 = parseIpv4(text);
  if (v4 !== undefined) return { family: 4, bytes: v4 };
  if (!isIPv6(text)) return undefined;
  const bytes = parseIpv6(text);
  if (isV4Mapped(bytes)) return { family: 4, bytes: bytes.slice(12) };
  return { family: 6, bytes };
}

/** `10.0.0.0/8`, `fd00::/64`, or a bare address (a /32 or /128). */
export function parseCidr(text: string): CidrBlock | undefined {
  const slash = text.indexOf('/');
  const ip = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (!ip) return undefined;
  const max = ip.family === 4 ? 32 : 128;
  if (slash < 0) return { ...ip, prefix: max };
  const prefixText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > max) return undefined;
  return { ...ip, prefix };
}

export function cidrContains(block: CidrBlock, ip: IpAddress): boolean {
  if (block.family !== ip.family) return false;
  const whole = block.prefix >> 3;
  for (let i = 0; i < whole; i++) if (block.bytes[i] !== ip.bytes[i]) return false;
  const rest = block.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((block.bytes[whole]! ^ ip.bytes[whole]!) & mask) === 0;
}

function isV4Mapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/** Expands an address that `isIPv6` accepted (`::`, an embedded IPv4 tail, a zone id) into 16 bytes. */
function parseIpv6(text: string): Uint8Array {
  const zone = text.indexOf('%');
  const body = zone < 0 ? text : text.slice(0, zone);
  const gap = body.indexOf('::');
  const head = gap < 0 ? ipv6Words(body) : ipv6Words(body.slice(0, gap));
  const tail = gap < 0 ? [] : ipv6Words(body.slice(gap + 2));
  const words = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    bytes[i * 2] = words[i]! >> 8;
    bytes[i * 2 + 1] = words[i]! & 0xff;
  }
  return bytes;
}

function ipv6Words(part: string): number[] {
  if (part === '') return [];
  const words: number[] = [];
  for (const group of part.split(':')) {
    if (group.includes('.')) {
      const [a, b, c, d] = group.split('.').map(Number) as [number, number, number, number];
      words.push((a << 8) | b, (c << 8) | d);
    } else {
      words.push(Number.parseInt(group, 16));
    }
  }
  return words;
}

/** RFC 5952 text: lowercase, longest run of zero words (two or more) compressed to `::`. */
function formatIpv6(bytes: Uint8Array): string {
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}
