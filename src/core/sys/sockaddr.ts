/**
 * sockaddr_in / sockaddr_in6 as bytes, for the libc calls that take or return them (bind, SO_ORIGINAL_DST).
 * Layouts (Linux, x86-64 and arm64 alike): family u16 in host order, port u16 in network order, then
 * the address (IPv4: 4 bytes + 8 bytes of zero; IPv6: flowinfo u32, 16 bytes, scope id u32).
 */
import { isIPv4, isIPv6 } from 'node:net';
import { UsageError } from '../errors.ts';
import { AF_INET, AF_INET6, addressBytes, addressText } from './libc.ts';

export type IpFamily = 4 | 6;

export interface SocketAddress {
  address: string;
  port: number;
  family: IpFamily;
}

export const SOCKADDR_IN_SIZE = 16;
export const SOCKADDR_IN6_SIZE = 28;

/** The family of an address literal; a UsageError for anything that is not one (host names included). */
export function familyOf(address: string): IpFamily {
  if (isIPv4(address)) return 4;
  if (isIPv6(address)) return 6;
  throw new UsageError(`${JSON.stringify(address)} is not an IPv4 or IPv6 address`);
}

export function addressFamilyConstant(family: IpFamily): number {
  return family === 4 ? AF_INET : AF_INET6;
}

export function encodeSockaddr(address: string, port: number): Buffer {
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`port ${port} is out of range`);
  const family = familyOf(address);
  const bytes = addressBytes(addressFamilyConstant(family), address);
  if (!bytes) throw new UsageError(`${JSON.stringify(address)} is not an IPv${family} address`);
  const buf = Buffer.alloc(family === 4 ? SOCKADDR_IN_SIZE : SOCKADDR_IN6_SIZE);
  buf.writeUInt16LE(addressFamilyConstant(family), 0);
  buf.writeUInt16BE(port, 2);
  bytes.copy(buf, family === 4 ? 4 : 8);
  return buf;
}

export function decodeSockaddr(buf: Buffer): SocketAddress {
  const family = buf.length >= 2 ? buf.readUInt16LE(0) : -1;
  if (family === AF_INET && buf.length >= 8) {
    return { address: addressText(AF_INET, buf.subarray(4, 8)), port: buf.readUInt16BE(2), family: 4 };
  }
  if (family === AF_INET6 && buf.length >= 24) {
    return { address: addressText(AF_INET6, buf.subarray(8, 24)), port: buf.readUInt16BE(2), family: 6 };
  }
  throw new UsageError(`not a sockaddr_in or sockaddr_in6 (family ${family}, ${buf.length} bytes)`);
}
