/**
 * The waypoint's composition root: builds every part of one waypoint process (control-plane connection,
 * certificates, discovery, the data path, its admin/metrics/readiness listeners), runs it, and stops it in
 * order (stop accepting, let requests in flight finish within the drain deadline, close the rest). The CLI
 * (`ambit waypoint run`) only parses flags and calls this.
 */
import { GrpcCertificateSigner } from '../core/certs/ca-client.ts';
import { CertificateManager } from '../core/certs/manager.ts';
import { waypointDiscovery } from '../core/discovery/client.ts';
import { refuseIfProblems } from '../core/discovery/refusal.ts';
import type { ControlPlaneConnection } from '../core/grpc/credentials.ts';
import { DEFAULT_HBONE_TIMEOUTS } from '../core/hbone/settings.ts';
import { spiffeUri } from '../core/identity.ts';
import type { Logger } from '../core/log.ts';
import type { WaypointRef } from '../core/model/index.ts';
import type { HostPort } from '../core/net/host-port.ts';
import type { HttpEndpoint } from '../core/server/http.ts';
import { ManagedCertificates } from '../core/tls/managed-certificates.ts';
import { accessLogProblems } from './access-log.ts';
import { serveWaypointEndpoints } from './admin.ts';
import { Waypoint, type WaypointLimits } from './waypoint.ts';

export interface WaypointAppOptions {
  waypoint: WaypointRef;
  node: string;
  trustDomain: string;
  connection: ControlPlaneConnection;
  listen: {
    hbone: HostPort;
    admin: HostPort;
    adminSocket?: string | undefined;
    metrics: HostPort;
    readiness: HostPort;
  };
  /** How long requests in flight may run on after a stop was asked for (default: the HBONE drain timeout). */
  drainMs?: number | undefined;
  /** What peers may make the waypoint hold (each absent one: its default). */
  limits?: WaypointLimits | undefined;
  log: Logger;
}

export interface WaypointApp {
  readonly waypoint: Waypoint;
  /** Listens everywhere and subscribes; resolves once the listeners are up (not when ready). */
  start(): Promise<void>;
  /** Drains and closes everything; safe to call more than once. */
  stop(): Promise<void>;
}

export function buildWaypointApp(options: WaypointAppOptions): WaypointApp {
  const { log } = options;
  const signer = new GrpcCertificateSigner(options.connection);
  const certificates = new ManagedCertificates(
    new CertificateManager({ signer, log: log.child('certificates') }),
  );
  const identity = spiffeUri({
    trustDomain: options.trustDomain,
    namespace: options.waypoint.namespace,
    serviceAccount: options.waypoint.name,
  });
  const waypoint = new Waypoint({
    waypoint: options.waypoint,
    identity,
    certificates,
    trustDomains: [options.trustDomain],
    limits: options.limits,
    log,
  });
  const discovery = waypointDiscovery({
    connection: options.connection,
    node: options.node,
    waypoint: options.waypoint,
    log: log.child('discovery'),
    validate: (snapshot) =>
      refuseIfProblems('telemetry', accessLogProblems(snapshot.telemetry?.accessLogs ?? [])),
  });
  discovery.onSnapshot((snapshot) => {
    certificates.setTrustBundle(snapshot.trustBundle);
    waypoint.applySnapshot(snapshot);
  });

  let endpoints: HttpEndpoint[] = [];
  let stopped: Promise<void> | undefined;

  return {
    waypoint,
    async start() {
      discovery.start();
      const { listen } = options;
      endpoints = await serveWaypointEndpoints(waypoint, listen);
      // In the background: the certificate may take a while (the CA knows the pod only once it is reported).
      void waypoint
        .listen(listen.hbone.host, listen.hbone.port)
        .then(() =>
          log.info('HBONE listening', { hbone: `${listen.hbone.host}:${listen.hbone.port}`, identity }),
        );
    },
    stop() {
      stopped ??= (async () => {
        // The data path drains first; the endpoints stay up meanwhile, so the drain can be watched on them.
        await waypoint.drain(options.drainMs ?? DEFAULT_HBONE_TIMEOUTS.drainMs);
        await waypoint.close();
        discovery.close();
        certificates.close();
        signer.close();
        await Promise.all(endpoints.map((endpoint) => endpoint.close()));
      })();
      return stopped;
    },
  };
}
