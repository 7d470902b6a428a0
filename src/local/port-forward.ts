/**
 * `ambit local port-forward`: a listener on the host's loopback whose connections are carried into a pod's
 * network namespace, to the pod's own loopback, as `kubectl port-forward` does. The cluster's ranges stay
 * unroutable from the host (see guard-routes.ts): the socket to the pod is created inside its namespace.
 *
 * A forward is a listener anyone on the host may reach, so it bounds what it holds: at most
 * `maxConnections` at once (more are closed at once and counted), and a connection to the pod that does not
 * open within the connect timeout is dropped.
 */
import net from 'node:net';
import { errorMessage } from '../core/errors.ts';
import { createLogger } from '../core/log.ts';
import { splice } from '../core/net/splice.ts';
import { boundAddress, closeServer, listen } from '../core/server/listen.ts';
import { connectTcp, Netns } from '../core/sys/netns-socket.ts';

const log = createLogger('local.port-forward');

export interface PortForwardOptions {
  /** The pod's namespace file (`/run/netns/...`). */
  netnsPath: string;
  remotePort: number;
  /** The host side: loopback only unless the caller says otherwise. */
  localHost?: string | undefined;
  /** 0 picks a free port. */
  localPort: number;
  maxConnections?: number | undefined;
  connectTimeoutMs?: number | undefined;
}

export interface PortForward {
  /** `host:port` the forward listens on. */
  address: string;
  /** Connections refused because `maxConnections` were open, and connections the pod did not accept. */
  readonly refused: { overLimit: number; connectFailed: number };
  close(): Promise<void>;
}

export const DEFAULT_FORWARD_LIMITS = { maxConnections: 256, connectTimeoutMs: 5000 } as const;

export async function startPortForward(options: PortForwardOptions): Promise<PortForward> {
  const netns = Netns.open(options.netnsPath);
  const maxConnections = options.maxConnections ?? DEFAULT_FORWARD_LIMITS.maxConnections;
  const timeoutMs = options.connectTimeoutMs ?? DEFAULT_FORWARD_LIMITS.connectTimeoutMs;
  const refused = { overLimit: 0, connectFailed: 0 };
  const open = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    if (open.size >= maxConnections) {
      refused.overLimit++;
      client.destroy();
      return;
    }
    open.add(client);
    client.once('close', () => open.delete(client));
    client.on('error', () => {});
    connectTcp(netns, {
      address: '127.0.0.1',
      port: options.remotePort,
      timeoutMs,
      allowHalfOpen: true,
    }).then(
      (upstream) => {
        if (client.destroyed) {
          upstream.destroy();
          return;
        }
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
    await listen(server, { host: options.localHost ?? '127.0.0.1', port: options.localPort });
  } catch (error) {
    netns.close();
    throw error;
  }
  return {
    address: boundAddress(server),
    refused,
    async close() {
      for (const socket of open) socket.destroy();
      await closeServer(server);
      netns.close();
    },
  };
}
