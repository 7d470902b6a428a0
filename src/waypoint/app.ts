/**
 * The waypoint's composition root: builds every part of one waypoint process (control-plane connection,
 * certificates, discovery, the data path, its admin/metrics/readiness listeners), runs it, and stops it in
 * order (stop accepting, let requests in flight finish within the drain deadline, close the rest). The CLI
 * (`ambit waypoint run`) only parses flags and calls this.
 */
import type { Server } from 'node:http';
import { GrpcCertificateSigner } from '../core/certs/ca-client.ts';
import { CertificateManager } from '../core/certs/manager.ts';
import { waypointDiscovery } from '../core/discovery/client.ts';
import type { ControlPlaneConnection } from '../core/grpc/credentials.ts';
import { spiffeUri } from '../core/identity.ts';
import type { Logger } from '../core/log.ts';
import { serveMetrics } from '../core/metrics-server.ts';
import type { WaypointRef } from '../core/model/index.ts';
import type { HostPort } from '../core/net/host-port.ts';
import { ManagedCertificates } from '../core/tls/managed-certificates.ts';
import { createReadinessServer, createWaypointAdminServer, listenTcp, listenUnix } from './endpoints.ts';
import { snapshotProblems } from './state.ts';
import { Waypoint } from './waypoint.ts';

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
  /** How long requests in flight may run on after a stop was asked for (Envoy's drain; default 5 s). */
  drainMs?: number | undefined;
  log: Logger;
}

export interface WaypointApp {
  readonly waypoint: Waypoint;
  /** Listens everywhere and subscribes; resolves once the listeners are up (not when ready). */
  start(): Promise<void>;
  /** Drains and closes everything; safe to call more than once. */
  stop(): Promise<void>;
}

const DEFAULT_DRAIN_MS = 5_000;

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
    log,
  });
  const discovery = waypointDiscovery({
    connection: options.connection,
    node: options.node,
    waypoint: options.waypoint,
    validate: (snapshot) => {
      const problems = snapshotProblems(snapshot);
      if (problems.length > 0) throw new Error(problems.slice(0, 10).join('; '));
    },
    log: log.child('discovery'),
  });
  discovery.onSnapshot((snapshot) => {
    certificates.setTrustBundle(snapshot.trustBundle);
    waypoint.applySnapshot(snapshot);
  });

  const servers: Server[] = [];
  let metricsClose: (() => Promise<void>) | undefined;
  let stopped: Promise<void> | undefined;
  const serve = async (server: Server, listen: (server: Server) => Promise<void>) => {
    await listen(server);
    servers.push(server);
  };

  return {
    waypoint,
    async start() {
      discovery.start();
      const { listen } = options;
      await serve(createWaypointAdminServer(waypoint), (s) =>
        listenTcp(s, listen.admin.host, listen.admin.port),
      );
      if (listen.adminSocket !== undefined) {
        const path = listen.adminSocket;
        // A unix socket and a TCP port cannot share a server: a second one serves the same admin API.
        await serve(createWaypointAdminServer(waypoint), (s) => listenUnix(s, path));
      }
      const metrics = await serveMetrics(waypoint.metrics.registry, listen.metrics.host, listen.metrics.port);
      metricsClose = metrics.close;
      await serve(
        createReadinessServer(() => waypoint.readiness()),
        (s) => listenTcp(s, listen.readiness.host, listen.readiness.port),
      );
      // In the background: the certificate may take a while (the CA knows the pod only once it is reported).
      void waypoint
        .listen(listen.hbone.host, listen.hbone.port)
        .then(() =>
          log.info('HBONE listening', { hbone: `${listen.hbone.host}:${listen.hbone.port}`, identity }),
        );
    },
    stop() {
      stopped ??= (async () => {
        await waypoint.drain(options.drainMs ?? DEFAULT_DRAIN_MS);
        discovery.close();
        await waypoint.close();
        certificates.close();
        signer.close();
        await metricsClose?.();
        await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
      })();
      return stopped;
    },
  };
}
