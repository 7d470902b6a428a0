/**
 * `ambit local port-forward`: a listener on the host's loopback whose connections are carried into a pod's
 * network namespace, to the pod's own loopback (what `kubectl port-forward` and kind's `extraPortMappings`
 * give), so that a gateway or Prometheus is reachable as `http://127.0.0.1:8080/` while the cluster's ranges
 * stay unroutable from the host (see guard-routes.ts): the socket to the pod is created inside its namespace.
 * Only loopback host addresses are accepted, so the cluster is never exposed beyond this machine.
 *
 * A forward is a listener anyone on the host may reach, so it bounds what it holds: at most
 * `maxConnections` at once (more are closed at once and counted), and a connection to the pod that does not
 * open within the connect timeout is dropped.
 */
import net from 'node:net';
import { errorMessage, UsageError } from '../core/errors.ts';
import { createLogger } from '../core/log.ts';
import { splice } from '../core/net/splice.ts';
import { boundAddress, closeServer, listen } from '../core/server/listen.ts';
import { connectTcp, Netns } from '../core/sys/netns-socket.ts';
import { isLoopback } from './port-mapping-spec.ts';

const log = createLogger('local.port-forward');

export interface PortMapping {
  /** 0 picks a free port. */
  hostPort: number;
  podPort: number;
}

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

export interface PortForwardOptions {
  /** The pod's namespace file (`/run/netns/...`). */
  netnsPath: string;
  mapping: PortMapping;
  /** The host side, on loopback (default 127.0.0.1). */
  localHost?: string | undefined;
  maxConnections?: number | undefined;
  connectTimeoutMs?: number | undefined;
}

export interface PortForward {
  /** `host:port` the forward listens on. */
  address: string;
  port: number;
  /** Connections refused because `maxConnections` were open, and connections the pod did not accept. */
  readonly refused: { overLimit: number; connectFailed: number };
  close(): Promise<void>;
}

export const DEFAULT_FORWARD_LIMITS = { maxConnections: 1000, connectTimeoutMs: 5000 } as const;

export async function startPortForward(options: PortForwardOptions): Promise<PortForward> {
  const localHost = options.localHost ?? '127.0.0.1';
  if (!isLoopback(localHost))
    throw new UsageError(`port-forward listens on loopback only (127.0.0.1, ::1), not ${localHost}`);
  const netns = Netns.open(options.netnsPath);
  const maxConnections = options.maxConnections ?? DEFAULT_FORWARD_LIMITS.maxConnections;
  const timeoutMs = options.connectTimeoutMs ?? DEFAULT_FORWARD_LIMITS.connectTimeoutMs;
  const refused = { overLimit: 0, connectFailed: 0 };
  const open = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (client) => {
    if (open.size >= maxConnections) {
      refused.overLimit++;
      client.destroy();
      return;
    }
    open.add(client);
    client.once('close', () => open.delete(client));
    client.on('error', () => {
      // The copy sees it.
    });
    connectTcp(netns, {
      address: '127.0.0.1',
      port: options.mapping.podPort,
      timeoutMs,
      allowHalfOpen: true,
    }).then(
      (upstream) => {
        if (client.destroyed) {
          upstream.destroy();
          return;
        }
        upstream.setNoDelay(true);
        open.add(upstream);
        upstream.once('close', () => open.delete(upstream));
        client.resume();
        void splice(client, upstream, { upstream: 0, downstream: 0 });
      },
      (error: unknown) => {
        refused.connectFailed++;
        log.debug('forwarded connection not accepted by the pod', { error: errorMessage(error) });
        client.destroy();
      },
    );
  });
  try {
    await listen(server, { host: localHost, port: options.mapping.hostPort });
  } catch (error) {
    netns.close();
    throw error;
  }
  return {
    address: boundAddress(server),
    port: (server.address() as net.AddressInfo).port,
    refused,
    async close() {
      for (const socket of open) socket.destroy();
      await closeServer(server);
      netns.close();
    },
  };
}
