/**
 * The waypoint's HTTP endpoints besides the data path, on the core server kit: readiness `/healthz/ready`
 * (15021), Prometheus `/metrics` (15020), and the admin API (127.0.0.1:15000 and a unix socket):
 * `/config_dump` (the snapshot as received), `/routes` and `/clusters` (endpoints with health and requests
 * in flight). The admin API reads through `WaypointAdminSource`, never into the request path.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { AmbitError } from '../core/errors.ts';
import type { HostPort } from '../core/net/host-port.ts';
import {
  type HttpEndpoint,
  metricsHandler,
  type Readiness,
  readinessHandler,
  sendJson,
  serveHttp,
} from '../core/server/http.ts';

export interface WaypointAdminSource {
  configDump(): unknown;
  routes(): unknown;
  clusters(): unknown;
}

export interface WaypointEndpointSource extends WaypointAdminSource {
  readonly metrics: { readonly registry: Registry };
  readiness(): Readiness;
}

export interface WaypointEndpointAddresses {
  admin?: HostPort | undefined;
  adminSocket?: string | undefined;
  metrics?: HostPort | undefined;
  readiness?: HostPort | undefined;
}

export const WAYPOINT_ADMIN_PATHS = ['/config_dump', '/routes', '/clusters'];

export function waypointAdminHandler(source: WaypointAdminSource): RequestListener {
  return (request, response) => {
    try {
      serveAdmin(source, request, response);
    } catch (error) {
      sendJson(response, 500, { error: error instanceof Error ? error.message : String(error) });
    }
  };
}

function serveAdmin(source: WaypointAdminSource, request: IncomingMessage, response: ServerResponse): void {
  if (request.method !== 'GET') {
    sendJson(response, 405, { error: 'GET only' });
    return;
  }
  switch (new URL(request.url ?? '/', 'http://admin').pathname) {
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

/** Serves every endpoint that has an address; closes the ones already up if a later one fails. */
export async function serveWaypointEndpoints(
  source: WaypointEndpointSource,
  at: WaypointEndpointAddresses,
): Promise<HttpEndpoint[]> {
  const endpoints: HttpEndpoint[] = [];
  try {
    if (at.admin) endpoints.push(await serveHttp(waypointAdminHandler(source), at.admin));
    if (at.adminSocket) {
      endpoints.push(
        await serveHttp(
          waypointAdminHandler(source),
          { path: at.adminSocket },
          {
            directoryMode: 0o700,
            inUse: (path) => new AmbitError('CONFLICT', `another waypoint serves ${path}`),
          },
        ),
      );
    }
    if (at.metrics)
      endpoints.push(
        await serveHttp(
          metricsHandler(source.metrics.registry, ['/metrics', '/stats/prometheus']),
          at.metrics,
        ),
      );
    if (at.readiness)
      endpoints.push(
        await serveHttp(
          readinessHandler(() => source.readiness()),
          at.readiness,
        ),
      );
  } catch (error) {
    await Promise.all(endpoints.map((endpoint) => endpoint.close()));
    throw error;
  }
  return endpoints;
}
