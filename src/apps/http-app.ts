/**
 * What every HTTP stand-in shares: a server on `0.0.0.0:<port>` with bounded request handling (headers and
 * time, bodies capped), JSON and text replies, and a clean stop on SIGTERM. Each app only routes requests.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { APP_STOP_GRACE_MS, closeHttpServer } from '../core/server/drain.ts';
import { stopSignal } from '../core/stop-signal.ts';

export type Handler = (request: AppRequest, response: ServerResponse) => void | Promise<void>;

export interface AppRequest {
  message: IncomingMessage;
  method: string;
  url: URL;
  body: Buffer;
}

/** Stand-ins are test apps: bodies beyond this are refused (413) rather than buffered. */
const MAX_BODY_BYTES = 1024 * 1024;

export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}

export function sendText(response: ServerResponse, status: number, text: string, type = 'text/plain'): void {
  response.writeHead(status, {
    'content-type': `${type}; charset=utf-8`,
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}

/** The pod this app runs as, from the environment the local cluster gives every pod. */
export function podName(env: NodeJS.ProcessEnv = process.env): string {
  return env.POD_NAME ?? env.HOSTNAME ?? 'unknown';
}

export interface RunningApp {
  port: number;
  close(): Promise<void>;
}

/** Starts serving `handler` on `0.0.0.0:<port>` (0: any free port, read back from `port`). */
export async function startHttp(port: number, handler: Handler, host = '0.0.0.0'): Promise<RunningApp> {
  const server = createServer({ headersTimeout: 10_000, requestTimeout: 60_000 }, (message, response) => {
    const chunks: Buffer[] = [];
    let size = 0;
    message.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        sendText(response, 413, 'request body too large\n');
        message.destroy();
        return;
      }
      chunks.push(chunk);
    });
    message.on('end', () => {
      const request: AppRequest = {
        message,
        method: message.method ?? 'GET',
        url: new URL(message.url ?? '/', 'http://app'),
        body: Buffer.concat(chunks),
      };
      Promise.resolve(handler(request, response)).catch((error: unknown) => {
        if (!response.headersSent) sendText(response, 500, `${(error as Error).message}\n`);
        else response.destroy();
      });
    });
    message.on('error', () => response.destroy());
  });
  server.on('clientError', (_error, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => closeHttpServer(server, APP_STOP_GRACE_MS),
  };
}

/** Serves `handler` until SIGTERM or SIGINT; resolves with the exit status. */
export async function serveHttp(port: number, handler: Handler): Promise<number> {
  const app = await startHttp(port, handler);
  await stopSignal();
  await app.close();
  return 0;
}
