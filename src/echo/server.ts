/**
 * Starts the echo app (HTTP and optionally raw TCP) and stops it cleanly. Its identity comes from the
 * environment the local cluster gives every pod (POD_NAME, POD_NAMESPACE, NODE_NAME, POD_IP).
 */
import type { Server, Socket } from 'node:net';
import { APP_STOP_GRACE_MS, closeHttpServer } from '../core/server/drain.ts';
import { closeServer } from '../core/server/listen.ts';
import { createEchoHttpServer, type EchoIdentity } from './http.ts';
import { createEchoTcpServer } from './tcp.ts';

export interface EchoOptions {
  host: string;
  httpPort: number;
  tcpPort?: number | undefined;
  version: string;
}

export interface RunningEcho {
  httpAddress: string;
  tcpAddress?: string | undefined;
  /**
   * Stops: HTTP requests in progress may finish within `graceMs` (idle connections close at once), raw TCP
   * connections are cut.
   */
  close(graceMs?: number): Promise<void>;
}

export function identityFromEnv(version: string, env: NodeJS.ProcessEnv = process.env): EchoIdentity {
  return {
    pod: env.POD_NAME ?? env.HOSTNAME ?? 'unknown',
    namespace: env.POD_NAMESPACE ?? 'unknown',
    node: env.NODE_NAME ?? 'unknown',
    version,
    ip: env.POD_IP ?? 'unknown',
  };
}

export async function startEcho(options: EchoOptions, identity: EchoIdentity): Promise<RunningEcho> {
  const http = createEchoHttpServer(identity);
  const httpAddress = await listen(http, options.host, options.httpPort);
  let tcp: Server | undefined;
  let tcpAddress: string | undefined;
  const tcpConnections = new Set<Socket>();
  if (options.tcpPort !== undefined) {
    tcp = createEchoTcpServer();
    tcp.on('connection', (socket: Socket) => {
      tcpConnections.add(socket);
      socket.on('close', () => tcpConnections.delete(socket));
    });
    try {
      tcpAddress = await listen(tcp, options.host, options.tcpPort);
    } catch (error) {
      http.close();
      throw error;
    }
  }
  return {
    httpAddress,
    tcpAddress,
    async close(graceMs = APP_STOP_GRACE_MS) {
      for (const socket of tcpConnections) socket.destroy();
      await Promise.all([closeHttpServer(http, graceMs), tcp ? closeServer(tcp) : undefined]);
    },
  };
}

function listen(server: Server, host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(
        typeof address === 'object' && address ? `${address.address}:${address.port}` : String(address),
      );
    });
  });
}
