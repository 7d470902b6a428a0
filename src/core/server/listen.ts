/**
 * Binding a server, TCP or unix socket, as one awaited step: resolves once it listens, rejects with the
 * bind error (EADDRINUSE, EACCES...) instead of leaving it to an 'error' event nobody waits for.
 */
import type { AddressInfo, Server } from 'node:net';
import { type HostPort, joinHostPort } from '../net/host-port.ts';

export type ListenAddress = HostPort | { path: string };

export function listen(server: Server, address: ListenAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const bound = () => {
      server.off('error', reject);
      resolve();
    };
    if ('path' in address) server.listen(address.path, bound);
    else server.listen({ host: address.host, port: address.port }, bound);
  });
}

/** `host:port` a TCP server is bound to (the real port when it asked for 0), or its socket path. */
export function boundAddress(server: Server): string {
  const address = server.address();
  if (address === null) return '';
  if (typeof address === 'string') return address;
  const { address: host, port } = address as AddressInfo;
  return joinHostPort(host, port);
}

/** Closes a server and waits for it (the callback's "not running" error counts as closed). */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
