/**
 * The waypoint's HTTP endpoints besides the data path, on the core server kit: readiness `/healthz/ready`
 * (15021), Prometheus `/metrics` (15020), and the admin API (127.0.0.1:15000 and a unix socket):
 * `/config_dump` (the snapshot as received), `/routes` and `/clusters` (endpoints with health and requests
 * in flight). The admin API reads through `WaypointAdminSource`, never into the request path.
 */
import type { RequestListener } from 'node:http';
import { adminViewsHandler, type HttpEndpoint } from '../core/server/http.ts';
import {
  type ProcessEndpointAddresses,
  type ProcessEndpointSource,
  serveProcessEndpoints,
} from '../core/server/process-endpoints.ts';

export interface WaypointAdminSource {
  configDump(): unknown;
  routes(): unknown;
  clusters(): unknown;
}

export interface WaypointEndpointSource extends WaypointAdminSource, ProcessEndpointSource {}

export function waypointAdminHandler(source: WaypointAdminSource): RequestListener {
  const serve = adminViewsHandler({
    '/config_dump': () => source.configDump(),
    '/routes': () => source.routes(),
    '/clusters': () => source.clusters(),
  });
  return (request, response) => void serve(request, response);
}

/** Serves every endpoint that has an address; closes the ones already up if a later one fails. */
export function serveWaypointEndpoints(
  source: WaypointEndpointSource,
  at: ProcessEndpointAddresses,
): Promise<HttpEndpoint[]> {
  return serveProcessEndpoints('waypoint', waypointAdminHandler(source), source, at);
}
