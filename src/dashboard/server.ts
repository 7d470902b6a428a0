/**
 * `ambit dashboard`'s web server, on the host's loopback only: the built UI (dist/dashboard, made by
 * `npm run build:dashboard`), and one JSON API per view (`/api/graph`, `/api/workloads`...), each answered
 * afresh every time it is asked (the page asks every few seconds). A listener any local user may reach, so
 * it bounds what it holds: GET only, few connections, short timeouts, and it serves nothing but its own
 * files and views.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AmbitError, errorMessage, UsageError } from '../core/errors.ts';
import { createLogger } from '../core/log.ts';
import { boundAddress, closeServer, listen } from '../core/server/listen.ts';

/** Where `npm run build:dashboard` puts the UI. */
export const DASHBOARD_ASSETS = fileURLToPath(new URL('../../dist/dashboard/', import.meta.url));

const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};

const API_PREFIX = '/api/';

const LIMITS = { maxConnections: 64, headersTimeoutMs: 5000, requestTimeoutMs: 10_000, keepAliveMs: 5000 };

const log = createLogger('dashboard');

/** One view's data: `/api/<name>?<query>` answers what it resolves to, as JSON. */
export type ViewHandler = (query: URLSearchParams) => Promise<unknown>;

export interface DashboardOptions {
  /** The views by name (`graph`, `workloads`...). */
  views: Readonly<Record<string, ViewHandler>>;
  /** Shown in the page's title. */
  cluster: string;
  host?: string | undefined;
  port: number;
}

export interface Dashboard {
  url: string;
  close(): Promise<void>;
}

function loadAssets(): Map<string, Buffer> {
  const missing = Object.values(ASSETS).filter((asset) => !existsSync(join(DASHBOARD_ASSETS, asset.file)));
  if (missing.length > 0) {
    throw new AmbitError(
      'NOT_FOUND',
      `the dashboard's UI is not built (${missing.map((a) => a.file).join(', ')} missing in ${DASHBOARD_ASSETS}): run \`npm run build:dashboard\``,
    );
  }
  return new Map(
    Object.entries(ASSETS).map(([path, asset]) => [path, readFileSync(join(DASHBOARD_ASSETS, asset.file))]),
  );
}

export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const assets = loadAssets();
  const server: Server = createServer(
    {
      headersTimeout: LIMITS.headersTimeoutMs,
      requestTimeout: LIMITS.requestTimeoutMs,
      keepAliveTimeout: LIMITS.keepAliveMs,
    },
    (request: IncomingMessage, response: ServerResponse) => {
      const url = new URL(request.url ?? '/', 'http://dashboard');
      const path = url.pathname;
      if (request.method !== 'GET') {
        response.writeHead(405, { allow: 'GET' }).end();
        return;
      }
      if (path.startsWith(API_PREFIX)) {
        const name = path.slice(API_PREFIX.length);
        const view = Object.hasOwn(options.views, name) ? options.views[name] : undefined;
        if (!view) {
          sendJson(response, 404, { error: `no view ${JSON.stringify(name)}` });
          return;
        }
        view(url.searchParams).then(
          (body) => sendJson(response, 200, { cluster: options.cluster, time: Date.now(), view: body }),
          // A bad query (no such node) is the asker's; anything else is the mesh not answering.
          (error: unknown) =>
            sendJson(response, error instanceof UsageError ? 400 : 502, { error: errorMessage(error) }),
        );
        return;
      }
      const asset = ASSETS[path];
      if (!asset) {
        response.writeHead(404).end();
        return;
      }
      response
        .writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-cache' })
        .end(assets.get(path));
    },
  );
  server.maxConnections = LIMITS.maxConnections;
  server.on('drop', () => log.debug('connection refused: too many open'));
  await listen(server, { host: options.host ?? '127.0.0.1', port: options.port });
  return { url: `http://${boundAddress(server)}/`, close: () => closeServer(server) };
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response
    .writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    .end(JSON.stringify(body));
}
