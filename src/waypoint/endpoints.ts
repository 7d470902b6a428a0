/**
 * The waypoint's HTTP endpoints besides the data path: readiness `/healthz/ready` (15021) and the admin API
 * (127.0.0.1:15000 and a unix socket): `/config_dump`, `/routes`, `/clusters`, `/logging`. The admin API
 * reads everything through `WaypointAdminSource`, so it never reaches into the request path.
 */
import { chmod, mkdir, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Server as NetServer } from 'node:net';
import { dirname } from 'node:path';
import { getLogLevel, parseLevel, setLogLevel } from '../core/log.ts';

export interface WaypointAdminSource {
  configDump(): unknown;
  routes(): unknown;
  clusters(): unknown;
}

export interface Readiness {
  ready: boolean;
  reason?: string | undefined;
}

export const WAYPOINT_ADMIN_PATHS = ['/config_dump', '/routes', '/clusters', '/logging'];

export function createWaypointAdminServer(source: WaypointAdminSource): Server {
  return createServer((request, response) => {
    try {
      serveAdmin(source, request, response);
    } catch (error) {
      sendJson(response, 500, { error: error instanceof Error ? error.message : String(error) });
    }
  });
}

function serveAdmin(source: WaypointAdminSource, request: IncomingMessage, response: ServerResponse): void {
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
      sendJson(response, 200, { endpoints: WAYPOINT_ADMIN_PATHS });
      return;
    case '/config_dump':
      sendJson(response, 200, source.configDump());
      return;
    case '/routes':
      sendJson(response, 200, source.routes());
      return;
    case '/clusters':
      sendJson(response, 200, source.clusters());
      return;
    default:
      sendJson(response, 404, { error: `no such endpoint; try one of ${WAYPOINT_ADMIN_PATHS.join(', ')}` });
  }
}

export function createReadinessServer(readiness: () => Readiness): Server {
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

export function listenTcp(server: NetServer, host: string, port: number): Promise<void> {
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
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
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
