/**
 * Where a data-plane client dials the control plane: one `host:port`, or the replicas' addresses as a
 * comma-separated list (`10.0.0.1:15012,10.0.0.2:15012`). A list becomes one gRPC channel over all of them
 * with grpc-js's pick_first policy: the client holds one connection, to the first replica that answers in
 * list order, and when that connection is lost the channel tries the list again from the start, so a call
 * made after a replica died goes to a live one (a dead replica in a live namespace refuses at once; one
 * that does not answer is passed over after grpc-js's 250 ms connection delay). Order spreads the clients:
 * give each node a different first replica.
 */
import { isIP } from 'node:net';
import { AmbitError } from '../errors.ts';
import { type HostPort, joinHostPort, splitHostPort } from '../net/host-port.ts';

/** The addresses of a control-plane address list; throws USAGE naming the entry at fault. */
export function controlPlaneAddresses(text: string): HostPort[] {
  const entries = text.split(',').map((entry) => entry.trim());
  return entries.map((entry) => {
    const address = splitHostPort(entry);
    if (!address)
      throw new AmbitError(
        'USAGE',
        `invalid control-plane address ${JSON.stringify(entry)}: expected HOST:PORT, or several separated by commas`,
      );
    return address;
  });
}

/**
 * The gRPC target for `text`: a single address as given (a DNS name resolving to every replica works as
 * well), a list as an `ipv4:` or `ipv6:` target, which grpc-js takes only for IP addresses of one family.
 */
export function controlPlaneTarget(text: string): string {
  if (!text.includes(',')) return text;
  const addresses = controlPlaneAddresses(text);
  const families = new Set(addresses.map((address) => isIP(address.host)));
  const family = families.size === 1 ? [...families][0] : undefined;
  if (family !== 4 && family !== 6)
    throw new AmbitError(
      'USAGE',
      `control-plane addresses ${JSON.stringify(text)}: a list must be IP addresses of one family (or give one DNS name that resolves to every replica)`,
    );
  return `ipv${family}:${addresses.map((address) => joinHostPort(address.host, address.port)).join(',')}`;
}
