/**
 * The waypoint's HTTP endpoints besides the data path, on the core server kit: readiness `/healthz/ready`
 * (15021), Prometheus `/metrics` (15020), and the admin API (127.0.0.1:15000 and a unix socket):
 * `/config_dump` (the snapshot as received), `/routes` and `/clusters` (endpoints with health and requests
 * in flight). The admin API reads through `WaypointAdminSource`, never into the request path.
 */
import type { RequestListener } from 'node:http';
import type { Registry } from 'prom-client';
import { AmbitError } from '../core/errors.ts';
import type { HostPort } from '../core/net/host-port.ts';
import {
  adminViewsHandler,
  type HttpEndpoint,
  metricsHandler,
  type Readiness,
  readinessHandler,
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

export function waypointAdminHandler(source: WaypointAdminSource): RequestListener {
  const serve = adminViewsHandler({
    '/config_dump': () => source.configDump(),
    '/routes': () => source.routes(),
    '/clusters': () => source.clusters(),
  });
  return (request, response) => void serve(request, response);
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
