/**
 * The ztunnel's HTTP endpoints in its own network namespace: the admin API (127.0.0.1:15000 and a unix
 * socket in the state directory), Prometheus `/metrics` (15020) and readiness `/healthz/ready` (15021).
 * The admin API reads everything through `AdminSource`, so it never reaches into the data path.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { getLogLevel, parseLevel, setLogLevel } from '../core/log.ts';
import { adminViewsHandler, type HttpEndpoint, sendJson } from '../core/server/http.ts';
import {
  type ProcessEndpointAddresses,
  type ProcessEndpointSource,
  serveProcessEndpoints,
} from '../core/server/process-endpoints.ts';
import type { CertificateRow, ConnectionsView, PolicyRow, ServiceRow, WorkloadRow } from './admin-views.ts';

export interface AdminSource {
  configDump(): unknown;
  workloads(): WorkloadRow[];
  services(): ServiceRow[];
  policies(): PolicyRow[];
  certificates(): Promise<CertificateRow[]>;
  connections(): ConnectionsView;
}

export function adminHandler(source: AdminSource): RequestListener {
  const views = adminViewsHandler(
    {
      '/config_dump': () => source.configDump(),
      '/workloads': () => source.workloads(),
      '/services': () => source.services(),
      '/policies': () => source.policies(),
      '/certs': () => source.certificates(),
      '/connections': () => source.connections(),
    },
    ['/logging'],
  );
  return (request, response) => {
    if (new URL(request.url ?? '/', 'http://admin').pathname === '/logging') serveLogging(request, response);
    else void views(request, response);
  };
}

/** `/logging`: GET the log level, POST/PUT `?level=<level>` to change it. */
function serveLogging(request: IncomingMessage, response: ServerResponse): void {
  const url = new URL(request.url ?? '/', 'http://admin');
  const method = request.method ?? 'GET';
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
}

/** What the endpoints read: the admin views, the metrics registry and readiness. */
export interface EndpointSource extends AdminSource, ProcessEndpointSource {}

/** Serves the admin API, `/metrics` (also Istio's `/stats/prometheus`) and `/healthz/ready`. */
export function serveEndpoints(
  source: EndpointSource,
  at: ProcessEndpointAddresses,
): Promise<HttpEndpoint[]> {
  return serveProcessEndpoints('ztunnel', adminHandler(source), source, at);
}
