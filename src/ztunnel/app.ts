/**
 * The ztunnel process, composed: the control plane connection (certificates from its CA, snapshots from its
 * discovery), the data path, its admin/metrics/readiness endpoints and the node agent that enrolls pods into
 * it. `start` builds and runs them in order (the node agent only once a first snapshot was accepted, so no
 * pod starts before the ztunnel knows the mesh); `stop` drains and stops them in the reverse order. The
 * node agent is injected: it belongs to `src/redirect`, which the ztunnel does not import.
 */

import type { CaptureHandler } from '../core/capture-handler.ts';
import { GrpcCertificateSigner } from '../core/certs/ca-client.ts';
import { CertificateManager } from '../core/certs/manager.ts';
import { ztunnelDiscovery } from '../core/discovery/client.ts';
import type { ControlPlaneConnection } from '../core/grpc/credentials.ts';
import type { HboneImplementation } from '../core/hbone/implementation.ts';
import { DEFAULT_HBONE_TIMEOUTS } from '../core/hbone/settings.ts';
import type { Logger } from '../core/log.ts';
import type { HttpEndpoint } from '../core/server/http.ts';
import type { ProcessEndpointAddresses } from '../core/server/process-endpoints.ts';
import { originalDestination } from '../core/sys/netns-socket.ts';
import { ManagedCertificates } from '../core/tls/managed-certificates.ts';
import { serveEndpoints } from './admin.ts';
import { UdpDnsForwarder } from './dns/forwarder.ts';
import { ZtunnelCaptureHandler } from './inpod/capture-handler.ts';
import type { OriginalDestination } from './proxy/sockets.ts';
import type { TimeoutSettings, ZtunnelLimits } from './settings.ts';
import { Ztunnel } from './ztunnel.ts';

/** The node agent that captures pods into the ztunnel (`src/redirect`'s, wired by the caller). */
export interface NodeAgent {
  /** Refuses new enrollments (the first step of a shutdown). */
  stopEnrolling(): Promise<void>;
  /** Lets go of the pods (their capture rules stay: fail closed) and closes. */
  close(): Promise<void>;
}

export interface ZtunnelAppOptions {
  node: string;
  control: ControlPlaneConnection;
  endpoints: ProcessEndpointAddresses;
  /** Starts the node agent once the ztunnel can serve pods. */
  startNodeAgent: (handler: CaptureHandler) => Promise<NodeAgent>;
  /** `SO_ORIGINAL_DST` of captured connections (default: the syscall module's). */
  originalDestination?: OriginalDestination | undefined;
  /** Resolver for names outside the mesh; without one they get NXDOMAIN. */
  dnsUpstream?: string | undefined;
  /** HTTP/2 for HBONE (default: `AMBIT_HBONE_IMPL`, else the framer). */
  hboneImplementation?: HboneImplementation | undefined;
  /** How long live connections may run on at shutdown (default: the HBONE drain timeout). */
  drainMs?: number | undefined;
  /** Limits and timeouts that differ from the defaults (`ambit ztunnel`'s flags). */
  limits?: Partial<ZtunnelLimits> | undefined;
  timeouts?: Partial<TimeoutSettings> | undefined;
  log: Logger;
}

export class ZtunnelApp {
  readonly ztunnel: Ztunnel;
  readonly #options: ZtunnelAppOptions;
  readonly #signer: GrpcCertificateSigner;
  readonly #certificates: ManagedCertificates;
  readonly #discovery: ReturnType<typeof ztunnelDiscovery>;
  #endpoints: HttpEndpoint[] = [];
  #agent: NodeAgent | undefined;
  #stopping: Promise<void> | undefined;

  /** Builds every part; nothing listens or connects yet. */
  constructor(options: ZtunnelAppOptions) {
    this.#options = options;
    const { log } = options;
    this.#signer = new GrpcCertificateSigner(options.control);
    this.#certificates = new ManagedCertificates(
      new CertificateManager({ signer: this.#signer, log: log.child('certificates') }),
    );
    this.ztunnel = new Ztunnel({
      node: options.node,
      certificates: this.#certificates,
      originalDestination: options.originalDestination ?? redirectedDestination,
      dnsForwarder: options.dnsUpstream === undefined ? undefined : new UdpDnsForwarder(options.dnsUpstream),
      ...(options.hboneImplementation ? { hboneImplementation: options.hboneImplementation } : {}),
      limits: options.limits ?? {},
      timeouts: options.timeouts ?? {},
      log,
    });
    const { ztunnel } = this;
    // Each response goes to the store as changes: validated by what it brings, once, and indexed in place.
    this.#discovery = ztunnelDiscovery({
      connection: options.control,
      node: options.node,
      store: {
        applyChanges: (changes) => ztunnel.applyChanges(changes),
        get snapshot() {
          return ztunnel.state.snapshot;
        },
      },
      log: log.child('discovery'),
    });
    ztunnel.state.subscribe(() => this.#certificates.setTrustBundle(ztunnel.state.trustBundle));
  }

  /**
   * Connects to the control plane, serves the endpoints, waits for the first snapshot and then starts the
   * node agent. Resolves false when `stopped` settles first (nothing more is started). On a failure the
   * parts already started are stopped before it rejects.
   */
  async start(stopped: Promise<unknown>): Promise<boolean> {
    const { log } = this.#options;
    try {
      this.#discovery.start();
      this.#endpoints = await serveEndpoints(this.ztunnel, this.#options.endpoints);
      log.info('waiting for the first configuration', { control: this.#options.control.address });
      const first = await Promise.race([this.#firstSnapshot(), stopped.then(() => undefined)]);
      if (first === undefined) return false;
      this.#agent = await this.#options.startNodeAgent(
        new ZtunnelCaptureHandler(this.ztunnel, { log: log.child('inpod') }),
      );
      return true;
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /**
   * Stops in the order that keeps traffic safe: no new pods, then the data path drains (listeners stop
   * accepting, peers get GOAWAY, live connections run on up to the drain deadline), then the pods are let go
   * (their rules stay: fail closed), the data path closes, and last the control plane connection and the
   * endpoints (so the drain can be watched on them). Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    await this.#agent?.stopEnrolling();
    await this.ztunnel.drain(this.#options.drainMs ?? DEFAULT_HBONE_TIMEOUTS.drainMs);
    await this.#agent?.close();
    await this.ztunnel.close();
    this.#discovery.close();
    this.#certificates.close();
    this.#signer.close();
    await Promise.all(this.#endpoints.map((endpoint) => endpoint.close()));
  }

  /** The first accepted snapshot, however long the control plane takes (the client logs its retries). */
  async #firstSnapshot() {
    while (this.#stopping === undefined) {
      try {
        return await this.#discovery.ready(60_000);
      } catch {
        // Still nothing: keep waiting; the discovery client reconnects with backoff.
      }
    }
    return undefined;
  }
}

/** SO_ORIGINAL_DST of a captured connection; undefined when it was not redirected. */
export const redirectedDestination: OriginalDestination = (socket) => {
  try {
    const original = originalDestination(socket);
    return { ip: original.address, port: original.port };
  } catch {
    return undefined;
  }
};
