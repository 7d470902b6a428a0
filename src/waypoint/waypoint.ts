/**
 * One waypoint's data path: the HBONE listener (15008) that source ztunnels tunnel L7-bound traffic into,
 * the state it routes by, the upstream HBONE pool, and its metrics. Built by `app.ts` (or directly by tests,
 * with a certificate provider and snapshots of their own); knows nothing of how snapshots are fetched.
 */

import type { Duplex, Writable } from 'node:stream';
import { type BackoffPolicy, backoffDelay } from '../core/backoff.ts';
import { systemClock } from '../core/clock.ts';
import { errorMessage } from '../core/errors.ts';
import type { HboneServerLimits } from '../core/hbone/limits.ts';
import { HbonePool } from '../core/hbone/pool.ts';
import { type HboneRequest, HboneServer } from '../core/hbone/server.ts';
import { DEFAULT_HBONE_TIMEOUTS, DEFAULT_POOL } from '../core/hbone/settings.ts';
import type { Logger } from '../core/log.ts';
import type { WaypointRef, WaypointSnapshot } from '../core/model/index.ts';
import { WAYPOINT_PORTS } from '../core/ports.ts';
import type { Readiness } from '../core/server/http.ts';
import { listen } from '../core/server/listen.ts';
import type { CertificateProvider } from '../core/tls/certificates.ts';
import { SecureContextCache } from '../core/tls/contexts.ts';
import { AccessLog } from './access-log.ts';
import type { WaypointEndpointSource } from './admin.ts';
import { clustersView, redactedSnapshot, routesView } from './admin-views.ts';
import { EndpointLoad } from './balance/balancer.ts';
import { RequestEngine, type TunnelContext } from './engine.ts';
import { type DownstreamArrival, IngressListeners } from './gateway/listeners.ts';
import { DEFAULT_INBOUND_LIMITS, InboundHttpServers, type InboundLimits } from './inbound/http-servers.ts';
import { proxyTcp } from './inbound/tcp.ts';
import { acceptTunnel, serveStream } from './inbound/tunnel.ts';
import { WaypointMetrics } from './metrics.ts';
import { OutlierTracker } from './resilience/outlier.ts';
import { WaypointState } from './state.ts';
import { RequestTracer } from './telemetry/tracing.ts';
import { DnsCache } from './upstream/dns-cache.ts';
import { Http1Upstream } from './upstream/http1.ts';
import { Http2Upstream } from './upstream/http2.ts';
import { isLookupOverflow, LookupLimiter, type LookupLimits } from './upstream/lookup-limits.ts';
import { UpstreamTunnels } from './upstream/tunnels.ts';

const CERTIFICATE_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 15_000 };

/** What peers may make a waypoint hold; each absent limit has its default. */
export interface WaypointLimits {
  /** The HBONE listener's (`DEFAULT_HBONE_SERVER_LIMITS`). */
  hbone?: Partial<HboneServerLimits> | undefined;
  /** The HBONE listener's TLS handshake, and the time to the first CONNECT. */
  handshakeMs?: number | undefined;
  /** The HTTP inside the tunnels (`DEFAULT_INBOUND_LIMITS`). */
  inbound?: Partial<InboundLimits> | undefined;
  /** The DNS lookups that requests to DYNAMIC_DNS entries cause (`DEFAULT_LOOKUP_LIMITS`). */
  dnsLookups?: Partial<LookupLimits> | undefined;
}

export interface WaypointOptions {
  waypoint: WaypointRef;
  /** The waypoint's own SPIFFE identity: its HBONE server presents it, and so does its upstream client. */
  identity: string;
  certificates: CertificateProvider;
  trustDomains: readonly string[];
  log: Logger;
  /** Where endpoints' ztunnels take HBONE (15008; tests on loopback may differ). */
  upstreamHbonePort?: number | undefined;
  /** The address upstream tunnels leave from (default: the kernel's choice, the pod IP in a pod). */
  upstreamLocalAddress?: string | undefined;
  /** Access log sink (default: stdout); `null` turns access logging off. */
  accessLog?: Writable | null | undefined;
  random?: () => number;
  /** Requests in flight beyond which new ones get 503 `UO` (default `DEFAULT_MAX_ACTIVE_REQUESTS`). */
  maxActiveRequests?: number | undefined;
  /** Where an ingress gateway's listener ports listen (default: every address, `0.0.0.0`). */
  ingressHost?: string | undefined;
  limits?: WaypointLimits | undefined;
}

export class Waypoint implements WaypointEndpointSource {
  readonly metrics = new WaypointMetrics();
  readonly #options: WaypointOptions;
  readonly #trustDomains: ReadonlySet<string>;
  readonly #load = new EndpointLoad();
  /** Outlier detection's records outlive snapshots, as the load counts do. */
  readonly #outliers = new OutlierTracker(systemClock);
  readonly #contexts: SecureContextCache;
  readonly #pool: HbonePool;
  readonly #tunnels: UpstreamTunnels;
  readonly #http1: Http1Upstream;
  readonly #http2: Http2Upstream;
  readonly #engine: RequestEngine;
  readonly #accessLog: AccessLog;
  readonly #tracer: RequestTracer;
  readonly #servers: InboundHttpServers;
  /** An ingress gateway's downstream ports (none for a waypoint: its pushes list no listeners). */
  readonly #ingress: IngressListeners;
  #state: WaypointState | undefined;
  #hbone: HboneServer | undefined;
  #unsubscribe: (() => void) | undefined;
  #certificateProblem: string | undefined;
  #closed = false;

  constructor(options: WaypointOptions) {
    this.#options = options;
    this.#trustDomains = new Set(options.trustDomains);
    this.#contexts = new SecureContextCache(options.certificates);
    this.#pool = new HbonePool({
      contexts: this.#contexts,
      trustDomains: this.#trustDomains,
      settings: DEFAULT_POOL,
      timeouts: DEFAULT_HBONE_TIMEOUTS,
    });
    this.#tunnels = new UpstreamTunnels(this.#pool, {
      sourceIdentity: options.identity,
      hbonePort: options.upstreamHbonePort ?? WAYPOINT_PORTS.hbone,
      localAddress: options.upstreamLocalAddress,
      contexts: this.#contexts,
      trustDomains: this.#trustDomains,
      dns: new DnsCache({
        limiter: new LookupLimiter(options.limits?.dnsLookups),
        onRefusal: (reason, requester) => {
          this.metrics.refused.inc({ reason: `dns-${reason}` });
          if (requester !== undefined && isLookupOverflow(reason))
            this.metrics.dnsLookupsRefused.inc({ reason, ...requester.labels });
        },
      }),
    });
    this.#http1 = new Http1Upstream(this.#tunnels);
    this.#http2 = new Http2Upstream(this.#tunnels);
    const random = options.random ?? Math.random;
    this.#accessLog = new AccessLog(
      options.accessLog === null ? undefined : (options.accessLog ?? process.stdout),
    );
    this.#tracer = new RequestTracer(`${options.waypoint.name}.${options.waypoint.namespace}`);
    this.metrics.spanCounts = () => this.#tracer.counts;
    this.#engine = new RequestEngine({
      tunnels: this.#tunnels,
      http1: this.#http1,
      http2: this.#http2,
      load: this.#load,
      metrics: this.metrics,
      accessLog: this.#accessLog,
      tracer: this.#tracer,
      random,
    });
    this.#servers = new InboundHttpServers(
      {
        request: (req, res, tunnel) => {
          const current = this.#current(tunnel);
          if (current === undefined) res.destroy();
          else this.#engine.handle(req, res, current);
        },
        upgrade: (req, socket, head, tunnel) => {
          const current = this.#current(tunnel);
          if (current === undefined) socket.destroy();
          else this.#engine.upgrade(req, socket, head, current);
        },
      },
      this.metrics,
      { ...DEFAULT_INBOUND_LIMITS, ...options.limits?.inbound },
    );
    this.#tcpDeps = { tunnels: this.#tunnels, metrics: this.metrics, load: this.#load, random };
    this.#ingress = new IngressListeners({
      host: options.ingressHost ?? '0.0.0.0',
      serve: (stream, arrival) => this.serveDownstream(stream, arrival),
      metrics: this.metrics,
      log: options.log,
    });
  }

  readonly #tcpDeps: Parameters<typeof proxyTcp>[2];

  get identity(): string {
    return this.#options.identity;
  }

  /** Installs an accepted snapshot (its route table checked at the client); requests from now on use it. */
  applySnapshot(snapshot: WaypointSnapshot): void {
    this.#state = new WaypointState(snapshot, this.#load, this.#outliers);
    // A control plane that predates telemetry config sends none: the waypoint keeps its defaults.
    if (snapshot.telemetry !== undefined) {
      this.#accessLog.configure(snapshot.telemetry.accessLogs);
      this.#tracer.configure(snapshot.telemetry.tracing);
      this.metrics.disableRequestMetrics(snapshot.telemetry.disabledMetrics);
    }
    // Failures are reported by readiness and logged by the listeners.
    this.#ingress.apply(snapshot.listeners ?? []).catch(() => {});
    this.#options.log.info('configuration applied', {
      version: snapshot.version,
      services: this.#state.snapshot.servedServices.length,
      workloads: this.#state.snapshot.servedWorkloads?.length ?? 0,
      clusters: this.#state.snapshot.clusters.length,
    });
  }

  readiness(): Readiness {
    if (this.#state === undefined)
      return { ready: false, reason: 'no configuration from the control plane yet' };
    if (this.#hbone === undefined)
      return { ready: false, reason: `HBONE listener not up yet: ${this.#certificateProblem ?? 'starting'}` };
    const listeners = this.#ingress.problem;
    if (listeners !== undefined) return { ready: false, reason: listeners };
    return { ready: true };
  }

  /**
   * Listens for HBONE on `host:port` once the waypoint's certificate is issued. Until then (the CA may refuse
   * while the pod is not yet known to the control plane) it retries with backoff and stays unready.
   */
  async listen(host: string, port: number): Promise<void> {
    const { certificates, identity, log } = this.#options;
    const handshakeMs = this.#options.limits?.handshakeMs;
    for (let attempt = 0; ; attempt++) {
      if (this.#closed) return;
      try {
        const certificate = await certificates.get(identity);
        this.#certificateProblem = undefined;
        const server = new HboneServer({
          certificate,
          trustBundle: certificates.trustBundle(),
          trustDomains: this.#trustDomains,
          timeouts: {
            ...DEFAULT_HBONE_TIMEOUTS,
            handshakeMs: handshakeMs ?? DEFAULT_HBONE_TIMEOUTS.handshakeMs,
          },
          windows: DEFAULT_POOL,
          limits: this.#options.limits?.hbone,
          onConnect: (request) => this.#onTunnel(request),
          onRefused: (reason) => this.metrics.refused.inc({ reason }),
        });
        await listen(server.server, { host, port });
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

  /**
   * Stops taking new tunnels, tells HTTP/2 clients to go away and idle HTTP/1.1 connections to close, and
   * waits (up to `deadlineMs`) for the requests in flight to finish.
   */
  async drain(deadlineMs: number): Promise<void> {
    this.#closed = true;
    await this.#ingress.close();
    this.#servers.drain();
    // Stops accepting, GOAWAY to every source ztunnel; tunnels still open at the deadline are reset.
    await this.#hbone?.close(deadlineMs);
    this.#hbone = undefined;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#unsubscribe?.();
    await this.#ingress.close();
    this.#servers.close();
    await this.#hbone?.close(0);
    this.#hbone = undefined;
    await Promise.all([this.#http1.close(), this.#http2.close(), this.#tracer.close()]);
    this.#accessLog.close();
    this.#pool.close();
    this.#contexts.close();
  }

  configDump(): unknown {
    const snapshot = this.#state?.snapshot;
    return {
      waypoint: this.#options.waypoint,
      identity: this.identity,
      snapshot: snapshot && redactedSnapshot(snapshot),
    };
  }

  routes(): unknown {
    return this.#state ? routesView(this.#state.snapshot) : [];
  }

  clusters(): unknown {
    return this.#state ? clustersView(this.#state.snapshot, this.#load, this.#outliers) : [];
  }

  /**
   * Serves a connection that reached an ingress gateway's listener (not a tunnel): addressed to the
   * Gateway's served port of that number, from a client with no mesh identity. Without a snapshot serving
   * that port, the connection is closed.
   */
  serveDownstream(stream: Duplex, arrival: DownstreamArrival): void {
    const state = this.#state;
    const gateway = state?.snapshot.servedServices[0];
    const target = gateway ? state?.target(gateway.hostname, arrival.port) : undefined;
    if (state === undefined || target === undefined) {
      this.metrics.refused.inc({ reason: 'not-served' });
      stream.destroy();
      return;
    }
    serveStream(stream, arrival.wire, this.#streamDeps, {
      state,
      target,
      destinationIp: arrival.local,
      destinationPort: arrival.port,
      peerIdentity: '',
      client: arrival.client,
      sni: arrival.sni,
    }).catch((error: unknown) => {
      this.#options.log.error('downstream handler failed', { error: errorMessage(error) });
      stream.destroy();
    });
  }

  get #streamDeps(): Parameters<typeof serveStream>[2] {
    return { servers: this.#servers, tcp: (stream, tunnel) => proxyTcp(stream, tunnel, this.#tcpDeps) };
  }

  #onTunnel(request: HboneRequest): void {
    acceptTunnel(request, { ...this.#streamDeps, state: () => this.#state, metrics: this.metrics }).catch(
      (error: unknown) => {
        this.#options.log.error('tunnel handler failed', { error: errorMessage(error) });
        request.stream.destroy();
      },
    );
  }

  /**
   * The tunnel's context under the current snapshot: a keep-alive connection's later requests see pushed
   * config; a service no longer served by this waypoint gets nothing.
   */
  #current(tunnel: TunnelContext): TunnelContext | undefined {
    const state = this.#state;
    if (state === undefined) return undefined;
    if (state === tunnel.state) return tunnel;
    // By the address dialled (a tunnel's VIP) or, for an ingress gateway's connection, by its served name.
    const target =
      state.target(tunnel.destinationIp, tunnel.destinationPort) ??
      state.target(tunnel.target.service.hostname, tunnel.target.port.port);
    if (target === undefined) return undefined;
    // Cached on the tunnel for its next requests.
    Object.assign(tunnel, { state, target, source: state.workloadByIp(tunnel.client.ip) });
    return tunnel;
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
