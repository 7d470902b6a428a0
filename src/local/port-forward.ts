/**
 * `ambit local port-forward`: a port on the host's loopback that leads to a port inside a pod's network
 * namespace (what `kubectl port-forward` and kind's `extraPortMappings` give), so that a gateway is reachable
 * as `http://127.0.0.1:8080/` while the cluster's ranges stay unroutable from the root namespace: each
 * accepted connection is matched by one opened *inside* the pod's namespace to its loopback (the socket is
 * created there; no route leaves the host's namespace). Only loopback host addresses are accepted, so the
 * cluster is never exposed beyond this machine.
 */
import net from 'node:net';
import { UsageError } from '../core/errors.ts';
import { cidrContains, parseCidr, parseIp } from '../core/net/ip.ts';
import { splice } from '../core/net/splice.ts';
import { listen } from '../core/server/listen.ts';
import { connectTcp, type Netns } from '../core/sys/netns-socket.ts';

export interface PortMapping {
  hostPort: number;
  podPort: number;
}

/** Connections one forward holds at once; beyond, new ones are dropped (and counted in `refused`). */
export const MAX_FORWARDED_CONNECTIONS = 1000;
const CONNECT_TIMEOUT_MS = 5000;

/** `8080:80` (or `80`, the same port on both sides) as a mapping; a usage error names the bad value. */
export function parsePortMapping(text: string): PortMapping {
  const match = /^(\d{1,5})(?::(\d{1,5}))?$/.exec(text);
  const hostPort = Number(match?.[1]);
  const podPort = Number(match?.[2] ?? match?.[1]);
  if (!match || !(hostPort >= 0 && hostPort <= 65535) || !(podPort >= 1 && podPort <= 65535))
    throw new UsageError(
      `invalid port mapping ${JSON.stringify(text)}: use HOST_PORT:POD_PORT, e.g. 8080:80 (host port 0: any free one)`,
    );
  return { hostPort, podPort };
}

const LOOPBACK = [parseCidr('127.0.0.0/8')!, parseCidr('::1/128')!];

/** Whether a host address is on loopback (the only addresses a forward may listen on). */
export function isLoopback(address: string): boolean {
  const ip = parseIp(address);
  return ip !== undefined && LOOPBACK.some((cidr) => cidrContains(cidr, ip));
}

export interface PortForward {
  readonly address: string;
  readonly port: number;
  /** Connections dropped at the bound, or whose pod side could not be reached. */
  readonly refused: number;
  close(): Promise<void>;
}

export async function forwardPort(netns: Netns, address: string, mapping: PortMapping): Promise<PortForward> {
  if (!isLoopback(address))
    throw new UsageError(`port-forward listens on loopback only (127.0.0.1, ::1), not ${address}`);
  let refused = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => {
      // The copy sees it.
    });
    socket.pause();
    connectTcp(netns, {
      address: '127.0.0.1',
      port: mapping.podPort,
      timeoutMs: CONNECT_TIMEOUT_MS,
      allowHalfOpen: true,
    }).then(
      (upstream) => {
        upstream.setNoDelay(true);
        sockets.add(upstream);
        upstream.once('close', () => sockets.delete(upstream));
        socket.resume();
        void splice(socket, upstream, { upstream: 0, downstream: 0 });
      },
      () => {
        refused++;
        socket.destroy();
      },
    );
  });
  server.maxConnections = MAX_FORWARDED_CONNECTIONS;
  server.on('drop', () => refused++);
  await listen(server, { host: address, port: mapping.hostPort });
  const bound = server.address() as net.AddressInfo;
  return {
    address,
    port: bound.port,
    get refused() {
      return refused;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
