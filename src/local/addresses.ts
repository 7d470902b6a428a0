/**
 * IPv4 address arithmetic for the local cluster's address plan: parsing and checking CIDRs, carving node
 * subnets out of the pod range, and picking host addresses. Addresses are unsigned 32-bit numbers inside;
 * everything that leaves this module is text.
 */
import { parseIp } from '../core/net/ip.ts';

export interface Cidr {
  /** Network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
}

/** A dotted quad as a number (parsed by the one IP parser, `core/net/ip.ts`); the mapped IPv6 form is no IPv4 text. */
export function parseIPv4(text: string): number | undefined {
  const ip = parseIp(text);
  if (ip?.family !== 4 || text.includes(':')) return undefined;
  return ip.bytes.reduce((acc, octet) => acc * 256 + octet, 0);
}

export function formatIPv4(address: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(address / 2 ** shift) % 256).join('.');
}

/**
 * The MAC address of the interface that holds `ip` on a pod segment: locally administered (02:ab:) and made
 * of the address's four bytes, so it is fixed for the life of the address. A bridge without a MAC of its own
 * takes the lowest of its ports' and changes it as pods come and go, which leaves every pod's cached
 * gateway entry pointing nowhere until ARP gives up on it (tens of seconds without cross-node traffic); a
 * reused pod address with a new random MAC does the same to its neighbours' caches.
 */
export function macForIPv4(ip: string): string {
  const address = parseIPv4(ip);
  if (address === undefined) throw new RangeError(`${JSON.stringify(ip)} is not an IPv4 address`);
  const bytes = [24, 16, 8, 0].map((shift) => Math.floor(address / 2 ** shift) % 256);
  return ['02', 'ab', ...bytes.map((byte) => byte.toString(16).padStart(2, '0'))].join(':');
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIPv4(cidr.base)}/${cidr.prefix}`;
}

export function cidrSize(cidr: Cidr): number {
  return 2 ** (32 - cidr.prefix);
}

/** Parses `a.b.c.d/n`; the error says what is wrong (and, for host bits, which network was meant). */
export function parseCidr(text: string): { cidr: Cidr } | { error: string } {
  const match = /^([^/]+)\/(\d{1,2})$/.exec(text);
  const base = match ? parseIPv4(match[1]!) : undefined;
  const prefix = match ? Number(match[2]) : Number.NaN;
  if (base === undefined || !(prefix >= 0 && prefix <= 32)) {
    return { error: `invalid CIDR ${JSON.stringify(text)}: write an IPv4 network such as 10.244.0.0/16` };
  }
  const size = 2 ** (32 - prefix);
  const network = Math.floor(base / size) * size;
  if (network !== base) {
    return {
      error: `invalid CIDR ${JSON.stringify(text)}: host bits are set (did you mean ${formatCidr({ base: network, prefix })}?)`,
    };
  }
  return { cidr: { base, prefix } };
}

export function cidrContains(cidr: Cidr, address: number): boolean {
  return address >= cidr.base && address < cidr.base + cidrSize(cidr);
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return cidrContains(a, b.base) || cidrContains(b, a.base);
}

/** The `index`-th subnet of length `prefix` inside `cidr` (node `index`'s pod subnet, for instance). */
export function subnet(cidr: Cidr, prefix: number, index: number): Cidr {
  if (prefix < cidr.prefix || index < 0 || index >= 2 ** (prefix - cidr.prefix)) {
    throw new RangeError(`${formatCidr(cidr)} has no subnet /${prefix} number ${index}`);
  }
  return { base: cidr.base + index * 2 ** (32 - prefix), prefix };
}

/** The address at `offset` from the network address; offsets 0 and size-1 are network and broadcast. */
export function hostAddress(cidr: Cidr, offset: number): number {
  if (offset <= 0 || offset >= cidrSize(cidr) - 1) {
    throw new RangeError(`${formatCidr(cidr)} has no host address at offset ${offset}`);
  }
  return cidr.base + offset;
}

/** Usable host addresses of a subnet (without network and broadcast addresses). */
export function hostCount(cidr: Cidr): number {
  return Math.max(0, cidrSize(cidr) - 2);
}
