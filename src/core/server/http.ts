/**
 * The small HTTP endpoints every long-running part serves (Prometheus metrics, readiness, a JSON admin
 * API), on TCP or an exclusive unix socket: one way to bind them, one way to close them, one metrics and
 * one readiness handler. The ztunnel, the control plane, and next the waypoint and gateways use these.
 */
import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { Registry } from 'prom-client';
import { boundAddress, closeServer, type ListenAddress, listen } from './listen.ts';
import { listenUnixSocket, type UnixSocketOptions } from './unix-socket.ts';

export interface HttpEndpoint {
  server: Server;
  /** `host:port` actually bound (port 0 picks a free one), or the socket path. */
  address: string;
  close(): Promise<void>;
}

/**
 * Serves `handler` on `address`. A unix socket needs `unixSocket` (what to say when it is taken): it is
 * claimed exclusively and made 0600.
 */
export async function serveHttp(
  handler: RequestListener,
  address: ListenAddress,
  unixSocket?: UnixSocketOptions,
): Promise<HttpEndpoint> {
  const server = createServer(handler);
  if ('path' in address) {
    if (!unixSocket) throw new TypeError('serveHttp on a unix socket needs its UnixSocketOptions');
    await listenUnixSocket(server, address.path, unixSocket);
  } else {
    await listen(server, address);
  }
  return { server, address: boundAddress(server), close: () => closeServer(server) };
}

/** `GET /metrics` (and any other of `paths`) renders the registry in Prometheus text format; else 404. */
export function metricsHandler(registry: Registry, paths: readonly string[] = ['/metrics']): RequestListener {
  return (request, response) => {
    if (request.method !== 'GET' || !paths.includes(pathOf(request.url))) {
      sendText(response, 404, `not found: try ${paths[0]}\n`);
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error: unknown) =>
        sendText(response, 500, `${error instanceof Error ? error.message : String(error)}\n`),
    );
  };
}

export interface Readiness {
  ready: boolean;
  /** Why not, when not ready. */
  reason?: string | undefined;
}

/** `GET /healthz/ready`: 200 `ready` or 503 `not ready: <reason>` (Istio's readiness path). */
export function readinessHandler(check: () => Readiness, path = '/healthz/ready'): RequestListener {
  return (request, response) => {
    if (pathOf(request.url) !== path) {
      sendText(response, 404, `not found: try ${path}\n`);
      return;
    }
    const state = check();
    sendText(response, state.ready ? 200 : 503, state.ready ? 'ready\n' : `not ready: ${state.reason}\n`);
  };
}

/** The views of a read-only JSON admin API, by path; a view may be async. */
export type AdminViews = Readonly<Record<string, () => unknown>>;

/**
 * A read-only JSON admin API (the ztunnel's and the waypoint's): `GET <path>` answers that view, `/` lists
 * the paths, other paths 404 and other methods 405; a view that throws answers 500. `extraPaths` are listed
 * too, for endpoints the caller serves itself before this handler (the ztunnel's `/logging`).
 */
export function adminViewsHandler(
  views: AdminViews,
  extraPaths: readonly string[] = [],
): (request: IncomingMessage, response: ServerResponse) => Promise<void> {
  const paths = [...Object.keys(views), ...extraPaths];
  return async (request, response) => {
    if ((request.method ?? 'GET') !== 'GET') {
      sendJson(response, 405, { error: 'GET only' });
      return;
    }
    const path = pathOf(request.url);
    if (path === '/') {
      sendJson(response, 200, { endpoints: paths });
      return;
    }
    const view = Object.hasOwn(views, path) ? views[path] : undefined;
    if (!view) {
      sendJson(response, 404, { error: `no such endpoint; try one of ${paths.join(', ')}` });
      return;
    }
    try {
      sendJson(response, 200, await view());
    } catch (error) {
      sendJson(response, 500, { error: error instanceof Error ? error.message : String(error) });
    }
  };
}

export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response
    .writeHead(status, { 'content-type': 'application/json' })
    .end(`${JSON.stringify(body, null, 2)}\n`);
}

export function sendText(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { 'content-type': 'text/plain' }).end(text);
}

function pathOf(url: string | undefined): string {
  const query = url?.indexOf('?') ?? -1;
  return url === undefined ? '/' : query < 0 ? url : url.slice(0, query);
}
