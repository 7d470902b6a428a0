/**
 * The ztunnel's HTTP endpoints in its own network namespace: the admin API (127.0.0.1:15000 and a unix
 * socket in the state directory), Prometheus `/metrics` (15020) and readiness `/healthz/ready` (15021).
 * The admin API reads everything through `AdminSource`, so it never reaches into the data path.
 */
import { chmod, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { getLogLevel, parseLevel, setLogLevel } from '../core/log.ts';
import type { CertificateRow, ConnectionsView, PolicyRow, ServiceRow, WorkloadRow } from './admin-views.ts';
import type { ZtunnelMetrics } from './metrics.ts';

export interface AdminSource {
  configDump(): unknown;
  workloads(): WorkloadRow[];
  services(): ServiceRow[];
  policies(): PolicyRow[];
  certificates(): Promise<CertificateRow[]>;
  connections(): ConnectionsView;
}

export const ADMIN_PATHS = [
  '/config_dump',
  '/workloads',
  '/services',
  '/policies',
  '/certs',
  '/connections',
  '/logging',
];

export function createAdminServer(source: AdminSource): Server {
  return createServer((request, response) => {
    serveAdmin(source, request, response).catch((error: unknown) => {
      sendJson(response, 500, { error: error instanceof Error ? error.message : String(error) });
    });
  });
}

async function serveAdmin(
  source: AdminSource,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://admin');
  const method = request.method ?? 'GET';
  if (url.pathname === '/logging') {
    if (method === 'POST' || method === 'PUT') {
      const requested = url.searchParams.get('level') ?? undefined;
      const level = parseLevel(requested);
      if (!level) {
        sendJson(response, 400, {
          error: `level must be one of debug, info, warn, error (got ${JSON.stringify(requested)})`,
        });
        return;
      }
      setLogLevel(level);
    } else if (method !== 'GET') {
      sendJson(response, 405, { error: 'GET or POST ?level=<level>' });
      return;
    }
    sendJson(response, 200, { level: getLogLevel() });
    return;
  }
  if (method !== 'GET') {
    sendJson(response, 405, { error: 'GET only' });
    return;
  }
  switch (url.pathname) {
    case '/':
      sendJson(response, 200, { endpoints: ADMIN_PATHS });
      return;
    case '/config_dump':
      sendJson(response, 200, source.configDump());
      return;
    case '/workloads':
      sendJson(response, 200, source.workloads());
      return;
    case '/services':
      sendJson(response, 200, source.services());
      return;
    case '/policies':
      sendJson(response, 200, source.policies());
      return;
    case '/certs':
      sendJson(response, 200, await source.certificates());
      return;
    case '/connections':
      sendJson(response, 200, source.connections());
      return;
    default:
      sendJson(response, 404, { error: `no such endpoint; try one of ${ADMIN_PATHS.join(', ')}` });
  }
}

export function createMetricsServer(metrics: ZtunnelMetrics): Server {
  return createServer((request, response) => {
    if (request.url !== '/metrics' && request.url !== '/stats/prometheus') {
      response.writeHead(404).end('try /metrics\n');
      return;
    }
    metrics.render().then(
      (body) => response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
      (error: unknown) =>
        response.writeHead(500).end(`${error instanceof Error ? error.message : String(error)}\n`),
    );
  });
}

export function createReadinessServer(
  readiness: () => { ready: boolean; reason?: string | undefined },
): Server {
  return createServer((request, response) => {
    if (request.url !== '/healthz/ready') {
      response.writeHead(404).end();
      return;
    }
    const state = readiness();
    response
      .writeHead(state.ready ? 200 : 503, { 'content-type': 'text/plain' })
      .end(state.ready ? 'ready\n' : `not ready: ${state.reason}\n`);
  });
}

export function listenTcp(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Listens on a unix socket readable by its owner only (replacing a stale socket file of a previous run). */
export async function listenUnix(server: Server, path: string): Promise<void> {
  await rm(path, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await chmod(path, 0o600);
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response
    .writeHead(status, { 'content-type': 'application/json' })
    .end(`${JSON.stringify(body, null, 2)}\n`);
}
