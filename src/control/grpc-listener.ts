/**
 * The control plane's 15012 listener: a TCP server of our own in front of grpc-js, so that what a peer
 * without credentials can make the control plane hold is bounded before TLS even starts. Every pod that can
 * route to the control plane can open connections; each costs a descriptor and TLS state until it is
 * refused. So: at most `maxConnections` in total and `maxConnectionsPerSource` per source address (the rest
 * are reset at once and counted), a TLS handshake deadline (in the credentials), an idle deadline for an
 * HTTP/2 connection without calls (one whose calls were all refused, or a slow-loris after the handshake),
 * a maximum age after which even a healthy connection is drained and the client reconnects (Istio's default),
 * and a small receive limit per message (a data-plane request is an ACK, a NACK, a CSR, or on reconnect the list of resource versions it holds).
 * Accepted sockets are handed to grpc-js through its connection injector, which serves them as if it had
 * accepted them itself.
 */
import { createServer, type Server as NetServer } from 'node:net';
import type { Server as GrpcServer, ServerCredentials } from '@grpc/grpc-js';
import { errorMessage } from '../core/errors.ts';
import { KeyedCounter } from '../core/hbone/limits.ts';
import type { Logger } from '../core/log.ts';
import { type HostPort, joinHostPort } from '../core/net/host-port.ts';
import { plainAddress } from '../core/net/ip.ts';

export interface ControlListenerLimits {
  /** Open connections on the listener, from everyone. */
  maxConnections: number;
  /** Open connections from one source address (one node's ztunnel and waypoints need a handful). */
  maxConnectionsPerSource: number;
  /** An HTTP/2 connection with no call for this long is closed. */
  idleTimeoutMs: number;
  /** Any connection is drained (GOAWAY) at this age; the client reconnects and resyncs. */
  maxConnectionAgeMs: number;
  /** The largest gRPC message a client may send. */
  maxRequestBytes: number;
}

export const DEFAULT_CONTROL_LISTENER_LIMITS: ControlListenerLimits = {
  maxConnections: 2048,
  maxConnectionsPerSource: 64,
  idleTimeoutMs: 60_000,
  maxConnectionAgeMs: 30 * 60_000,
  maxRequestBytes: 8 * 1024 * 1024,
};

/** Why a connection was turned away before TLS: the label of `ambit_control_connections_refused_total`. */
export type ConnectionRefusal = 'connection_limit' | 'source_limit';

/** Whether a new connection from a source with `fromSource` open (of `open` in all) may stay. */
export function admitConnection(
  open: number,
  fromSource: number,
  limits: Pick<ControlListenerLimits, 'maxConnections' | 'maxConnectionsPerSource'>,
): ConnectionRefusal | undefined {
  if (open >= limits.maxConnections) return 'connection_limit';
  if (fromSource >= limits.maxConnectionsPerSource) return 'source_limit';
  return undefined;
}

/** The grpc-js server options that carry the limits grpc-js itself enforces. */
export function grpcServerLimits(limits: ControlListenerLimits): Record<string, number> {
  return {
    'grpc.max_connection_idle_ms': limits.idleTimeoutMs,
    'grpc.max_connection_age_ms': limits.maxConnectionAgeMs,
    'grpc.max_connection_age_grace_ms': 10_000,
    'grpc.max_receive_message_length': limits.maxRequestBytes,
  };
}

export interface ControlListener {
  /** `host:port` actually bound. */
  address: string;
  /** Connections open now (for tests and status). */
  readonly connections: number;
  close(): Promise<void>;
}

export async function listenControl(options: {
  grpc: GrpcServer;
  credentials: ServerCredentials;
  address: HostPort;
  limits: ControlListenerLimits;
  onRefused: (reason: ConnectionRefusal, source: string) => void;
  log: Logger;
}): Promise<ControlListener> {
  const { limits } = options;
  const injector = options.grpc.createConnectionInjector(options.credentials);
  const perSource = new KeyedCounter(limits.maxConnectionsPerSource);
  let open = 0;
  const server: NetServer = createServer({ noDelay: true }, (socket) => {
    const source = plainAddress(socket.remoteAddress);
    const refusal = admitConnection(open, perSource.count(source), limits);
    if (refusal !== undefined) {
      options.onRefused(refusal, source);
      socket.resetAndDestroy();
      return;
    }
    open++;
    perSource.acquire(source);
    socket.once('close', () => {
      open--;
      perSource.release(source);
    });
    socket.on('error', () => {}); // a reset by the peer; grpc-js sees the close
    injector.injectConnection(socket);
  });
  server.on('error', (error) => options.log.error('control listener error', { error: errorMessage(error) }));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.address.host, port: options.address.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address();
  const port = typeof bound === 'object' && bound ? bound.port : options.address.port;
  return {
    address: joinHostPort(options.address.host, port),
    get connections() {
      return open;
    },
    close: async () => {
      injector.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
