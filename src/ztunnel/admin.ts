/**
 * The ztunnel's HTTP endpoints in its own network namespace: the admin API (127.0.0.1:15000 and a unix
 * socket in the state directory), Prometheus `/metrics` (15020) and readiness `/healthz/ready` (15021).
 * The admin API reads everything through `AdminSource`, so it never reaches into the data path.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { AmbitError } from '../core/errors.ts';
import { getLogLevel, parseLevel, setLogLevel } from '../core/log.ts';
import type { HostPort } from '../core/net/host-port.ts';
import {
  type HttpEndpoint,
  metricsHandler,
  type Readiness,
  readinessHandler,
  sendJson,
  serveHttp,
} from '../core/server/http.ts';
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

export function adminHandler(source: AdminSource): RequestListener {
  return (request, response) => {
    serveAdmin(source, request, response).catch((error: unknown) => {
      sendJson(response, 500, { error: error instanceof Error ? error.message : String(error) });
    });
  };
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

/** What the endpoints read: the admin views, the metrics registry and readiness. */
export interface EndpointSource extends AdminSource {
  metrics: Pick<ZtunnelMetrics, 'registry'>;
  readiness(): Readiness;
}

/** Where each endpoint listens; an endpoint without an address is not served. */
export interface EndpointAddresses {
  admin?: HostPort | undefined;
  /** The admin API again on a unix socket (what `ambit ztunnel-config` reads), exclusive and 0600. */
  adminSocket?: string | undefined;
  metrics?: HostPort | undefined;
  readiness?: HostPort | undefined;
}

/** Serves the admin API, `/metrics` (also Istio's `/stats/prometheus`) and `/healthz/ready`. */
export async function serveEndpoints(source: EndpointSource, at: EndpointAddresses): Promise<HttpEndpoint[]> {
  const endpoints: HttpEndpoint[] = [];
  try {
    if (at.admin) endpoints.push(await serveHttp(adminHandler(source), at.admin));
    if (at.adminSocket) {
      endpoints.push(
        await serveHttp(
          adminHandler(source),
          { path: at.adminSocket },
          {
            directoryMode: 0o700,
            inUse: (path) => new AmbitError('CONFLICT', `another ztunnel serves ${path}`),
          },
        ),
      );
    }
    const metrics = metricsHandler(source.metrics.registry, ['/metrics', '/stats/prometheus']);
    if (at.metrics) endpoints.push(await serveHttp(metrics, at.metrics));
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
