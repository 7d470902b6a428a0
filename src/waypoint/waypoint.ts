/**
 * One waypoint's data path: the HBONE listener (15008) that source ztunnels tunnel L7-bound traffic into,
 * the state it routes by, the upstream HBONE pool, and its metrics. Built by `app.ts` (or directly by tests,
 * with a certificate provider and snapshots of their own); knows nothing of how snapshots are fetched.
 */

import { type BackoffPolicy, backoffDelay } from '../core/backoff.ts';
import { errorMessage } from '../core/errors.ts';
import { type HboneRequest, HboneServer, respond } from '../core/hbone/server.ts';
import { DEFAULT_HBONE_TIMEOUTS, DEFAULT_POOL } from '../core/hbone/settings.ts';
import type { Logger } from '../core/log.ts';
import type { WaypointRef, WaypointSnapshot } from '../core/model/index.ts';
import type { CertificateProvider } from '../core/tls/certificates.ts';
import { listenTcp, type Readiness, type WaypointAdminSource } from './endpoints.ts';
import { WaypointMetrics } from './metrics.ts';
import { WaypointState, withRouteTable } from './state.ts';

const CERTIFICATE_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 15_000 };

export interface WaypointOptions {
  waypoint: WaypointRef;
  /** The waypoint's own SPIFFE identity: its HBONE server presents it, and so does its upstream client. */
  identity: string;
  certificates: CertificateProvider;
  trustDomains: readonly string[];
  log: Logger;
}

export class Waypoint implements WaypointAdminSource {
  readonly metrics = new WaypointMetrics();
  readonly #options: WaypointOptions;
  readonly #trustDomains: ReadonlySet<string>;
  #state: WaypointState | undefined;
  #hbone: HboneServer | undefined;
  #unsubscribe: (() => void) | undefined;
  #certificateProblem: string | undefined;
  #closed = false;

  constructor(options: WaypointOptions) {
    this.#options = options;
    this.#trustDomains = new Set(options.trustDomains);
  }

  get identity(): string {
    return this.#options.identity;
  }

  /** Installs a snapshot that passed `snapshotProblems`. */
  applySnapshot(snapshot: WaypointSnapshot): void {
    this.#state = new WaypointState(withRouteTable(snapshot));
    this.#options.log.info('configuration applied', {
      version: snapshot.version,
      services: this.#state.snapshot.servedServices.length,
      clusters: this.#state.snapshot.clusters.length,
    });
  }

  readiness(): Readiness {
    if (this.#state === undefined)
      return { ready: false, reason: 'no configuration from the control plane yet' };
    if (this.#hbone === undefined)
      return { ready: false, reason: `HBONE listener not up yet: ${this.#certificateProblem ?? 'starting'}` };
    return { ready: true };
  }

  /**
   * Listens for HBONE on `host:port` once the waypoint's certificate is issued. Until then (the CA may refuse
   * while the pod is not yet known to the control plane) it retries with backoff and stays unready.
   */
  async listen(host: string, port: number): Promise<void> {
    const { certificates, identity, log } = this.#options;
    for (let attempt = 0; ; attempt++) {
      if (this.#closed) return;
      try {
        const certificate = await certificates.get(identity);
        this.#certificateProblem = undefined;
        const server = new HboneServer({
          certificate,
          trustBundle: certificates.trustBundle(),
          trustDomains: this.#trustDomains,
          timeouts: DEFAULT_HBONE_TIMEOUTS,
          windows: DEFAULT_POOL,
          onConnect: (request) => this.#onTunnel(request),
          onRefused: (reason) => this.metrics.refused.inc({ reason }),
        });
        await listenTcp(server.server, host, port);
        this.#hbone = server;
        this.#unsubscribe = certificates.subscribe(() => void this.#refreshCertificate());
        return;
      } catch (error) {
        this.#certificateProblem = errorMessage(error);
        const delay = backoffDelay(attempt, CERTIFICATE_BACKOFF);
        // The certificate manager logs each failed request; say once why the waypoint is not ready.
        if (attempt === 0)
          log.warn('HBONE listener waits for the certificate', {
            error: this.#certificateProblem,
            retryInMs: delay,
          });
        await new Promise((resolve) => setTimeout(resolve, delay).unref());
      }
    }
  }

  /** Stops taking new tunnels and waits (up to `deadlineMs`) for requests in flight to finish. */
  async drain(_deadlineMs: number): Promise<void> {
    this.#hbone?.server.close();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#unsubscribe?.();
    await this.#hbone?.close();
    this.#hbone = undefined;
  }

  configDump(): unknown {
    return { waypoint: this.#options.waypoint, identity: this.identity, snapshot: this.#state?.snapshot };
  }

  routes(): unknown {
    return this.#state?.snapshot.servedServices ?? [];
  }

  clusters(): unknown {
    return this.#state?.snapshot.clusters ?? [];
  }

  #onTunnel(request: HboneRequest): void {
    // The request engine is not wired yet: refuse rather than pass traffic around policy.
    respond(request.stream, 503);
  }

  async #refreshCertificate(): Promise<void> {
    const { certificates, identity, log } = this.#options;
    try {
      this.#hbone?.updateCertificate(await certificates.get(identity), certificates.trustBundle());
    } catch (error) {
      log.error('could not install a renewed certificate', { error: errorMessage(error) });
    }
  }
}
