/**
 * The endpoints a mesh process (a ztunnel, a waypoint) serves beside its data path, each only when it has an
 * address: its admin API on TCP (127.0.0.1:15000) and again on a unix socket (exclusive, in a 0700
 * directory: what the CLI reads), Prometheus `/metrics` (also Istio's `/stats/prometheus`, 15020) and
 * readiness `/healthz/ready` (15021).
 */
import type { RequestListener } from 'node:http';
import type { Registry } from 'prom-client';
import { AmbitError } from '../errors.ts';
import type { HostPort } from '../net/host-port.ts';
import { type HttpEndpoint, metricsHandler, type Readiness, readinessHandler, serveHttp } from './http.ts';

/** Where each endpoint listens; an endpoint without an address is not served. */
export interface ProcessEndpointAddresses {
  admin?: HostPort | undefined;
  /** The admin API again on a unix socket, exclusive and 0600. */
  adminSocket?: string | undefined;
  metrics?: HostPort | undefined;
  readiness?: HostPort | undefined;
}

/** What the metrics and readiness endpoints read. */
export interface ProcessEndpointSource {
  readonly metrics: { readonly registry: Registry };
  readiness(): Readiness;
}

/**
 * Serves every endpoint that has an address, in the order admin, admin socket, metrics, readiness; closes
 * the ones already up if a later one fails. `kind` names the process in the error when another one already
 * serves the admin socket (`another ztunnel serves ...`).
 */
export async function serveProcessEndpoints(
  kind: string,
  admin: RequestListener,
  source: ProcessEndpointSource,
  at: ProcessEndpointAddresses,
): Promise<HttpEndpoint[]> {
  const endpoints: HttpEndpoint[] = [];
  try {
    if (at.admin) endpoints.push(await serveHttp(admin, at.admin));
    if (at.adminSocket)
      endpoints.push(
        await serveHttp(
          admin,
          { path: at.adminSocket },
          {
            directoryMode: 0o700,
            inUse: (path) => new AmbitError('CONFLICT', `another ${kind} serves ${path}`),
          },
        ),
      );
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
