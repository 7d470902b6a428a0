/**
 * One node's ztunnel, assembled: the state (fed snapshots by the discovery client), the certificate source,
 * the HBONE pool, the connection tracker and metrics, and the per-pod listeners (proxy and DNS) that the
 * capture layer asks for as pods are enrolled and removed. No I/O of its own beyond those listeners: the
 * process wiring (discovery stream, enrollment socket, admin/metrics servers) lives with the CLI command.
 */

import type { NodeSnapshotChanges } from '../core/discovery/resources.ts';
import { errorMessage } from '../core/errors.ts';
import type { HboneImplementation } from '../core/hbone/implementation.ts';
import { KeyedCounter } from '../core/hbone/limits.ts';
import { HbonePool } from '../core/hbone/pool.ts';
import { DEFAULT_POOL, type PoolSettings } from '../core/hbone/settings.ts';
import { DEFAULT_TRUST_DOMAIN } from '../core/identity.ts';
import { createLogger, type Logger } from '../core/log.ts';
import { LogLimiter } from '../core/log-limit.ts';
import type { NodeSnapshot } from '../core/model/index.ts';
import { ZTUNNEL_PORTS } from '../core/ports.ts';
import { type DrainResult, totalDrained } from '../core/server/drain.ts';
import { type CertificateProvider, describeCertificate } from '../core/tls/certificates.ts';
import { SecureContextCache } from '../core/tls/contexts.ts';
import {
  type CertificateRow,
  type ConnectionsView,
  type PolicyRow,
  policyRows,
  type ServiceRow,
  serviceRows,
  type WorkloadRow,
  workloadRows,
} from './admin-views.ts';
import type { DnsForwarder } from './dns/forwarder.ts';
import { DnsServer } from './dns/server.ts';
import { ZtunnelMetrics } from './metrics.ts';
import { logConnections } from './proxy/access-log.ts';
import { countConnections } from './proxy/connection-metrics.ts';
import { ConnectionTracker } from './proxy/connections.ts';
import type { PodContext, ProxyContext } from './proxy/context.ts';
import { PodProxy } from './proxy/pod-proxy.ts';
import type { OriginalDestination } from './proxy/sockets.ts';
import { DEFAULT_TIMEOUTS, defaultLimits, type TimeoutSettings, type ZtunnelLimits } from './settings.ts';
import { StateStore } from './state/store.ts';

export interface ZtunnelOptions {
  /** The node this ztunnel serves (its pods are the workloads with this `node`). */
  node: string;
  certificates: CertificateProvider;
  /** `SO_ORIGINAL_DST` of captured connections (the syscall module's). */
  originalDestination: OriginalDestination;
  /** Trust domains whose identities are accepted from peers (default: `cluster.local`). */
  trustDomains?: readonly string[];
  /** Where names outside the mesh are resolved; without one they get NXDOMAIN. */
  dnsForwarder?: DnsForwarder | undefined;
  timeouts?: Partial<TimeoutSettings>;
  pool?: Partial<PoolSettings>;
  /** What peers and pods may make it hold (default: `defaultLimits()`, from the open-file limit). */
  limits?: Partial<ZtunnelLimits>;
  /** HTTP/2 for HBONE, out and in (default: `AMBIT_HBONE_IMPL`, else the framer). */
  hboneImplementation?: HboneImplementation;
  /** Dial apps from the original client's IP (needs transparent sockets from the pod sockets). Default true. */
  preserveSourceIp?: boolean;
  /** Run DNS proxies in pods (default true). */
  dns?: boolean;
  metrics?: ZtunnelMetrics;
  log?: Logger;
}

interface ServedPod {
  proxy: PodProxy;
  dns: DnsServer | undefined;
}

export class Ztunnel {
  readonly node: string;
  readonly state = new StateStore();
  readonly metrics: ZtunnelMetrics;
  readonly tracker: ConnectionTracker;
  readonly pool: HbonePool;
  readonly #options: ZtunnelOptions;
  readonly #contexts: SecureContextCache;
  readonly #ctx: ProxyContext;
  readonly #pods = new Map<string, ServedPod>();
  readonly #trustDomains: ReadonlySet<string>;
  readonly #log: Logger;
  readonly #refusals: LogLimiter;
  readonly #limits: ZtunnelLimits;
  /** Streams per peer identity over every pod's HBONE listener: the identity limit holds node-wide. */
  readonly #identityStreams: KeyedCounter;
  #draining = false;
  /** The metrics' and the access log's subscriptions to the tracker. */
  readonly #unobserve: (() => void)[];

  constructor(options: ZtunnelOptions) {
    this.node = options.node;
    this.#options = options;
    this.#log = options.log ?? createLogger('ztunnel', { node: options.node });
    this.#refusals = new LogLimiter(this.#log.child('hbone'));
    this.metrics = options.metrics ?? new ZtunnelMetrics();
    const timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    this.#limits = { ...defaultLimits(), ...options.limits };
    this.#identityStreams = new KeyedCounter(this.#limits.maxStreamsPerIdentity);
    this.tracker = new ConnectionTracker(timeouts.idleMs, {
      perPod: this.#limits.tunnelsPerPod,
      perNode: this.#limits.tunnelsPerNode,
    });
    const counting = countConnections(this.tracker, this.metrics);
    this.#unobserve = [counting.unsubscribe, logConnections(this.tracker, this.#log.child('access'))];
    this.#trustDomains = new Set(options.trustDomains ?? [DEFAULT_TRUST_DOMAIN]);
    this.#contexts = new SecureContextCache(options.certificates);
    this.pool = new HbonePool({
      contexts: this.#contexts,
      trustDomains: this.#trustDomains,
      settings: { ...DEFAULT_POOL, ...options.pool },
      timeouts,
      ...(options.hboneImplementation ? { implementation: options.hboneImplementation } : {}),
      onConnectionEvent: (event, key, detail) => {
        if (event === 'failed') {
          this.metrics.hboneConnectionFailures.inc({ reason: 'connect' });
          this.#refusals.warn(`connect:${key.peer}`, 'HBONE connection failed', {
            peer: key.peer,
            identity: key.peerIdentity,
            error: detail,
          });
        }
      },
    });
    this.#ctx = {
      state: this.state,
      pool: this.pool,
      tracker: this.tracker,
      originalDestination: options.originalDestination,
      timeouts,
      preserveSourceIp: options.preserveSourceIp ?? true,
      log: this.#log.child('proxy'),
      refused: (listener, reason, fields) => {
        this.metrics.connectionsRefused.inc({ listener, reason });
        this.#refusals.warn(`${listener}:${reason}`, 'connection refused', { listener, reason, ...fields });
      },
    };
    this.metrics.attach({
      pool: () => {
        const connections = this.pool.connections();
        return {
          connections: connections.length,
          streams: connections.reduce((sum, c) => sum + c.streams, 0),
        };
      },
      connections: () => this.tracker.countByDirection(),
      certificates: async () =>
        new Map(
          (await this.certificates())
            .filter((c) => c.kind === 'leaf')
            .map((c) => [c.identity, c.expiresInSeconds]),
        ),
      flushBytes: () => counting.flushBytes(),
    });
  }

  /**
   * Installs a snapshot from the control plane. Throws an `AmbitError` (code SNAPSHOT_INVALID) when it
   * is malformed: the caller NACKs it, and the previous snapshot keeps serving.
   */
  applySnapshot(snapshot: NodeSnapshot): void {
    this.#install(snapshot.version, () => this.state.apply(snapshot));
  }

  /** Applies a delta from the control plane (see `StateStore.applyChanges`); throws as `applySnapshot` does. */
  applyChanges(changes: NodeSnapshotChanges): void {
    this.#install(changes.version, () => this.state.applyChanges(changes));
  }

  #install(version: string, install: () => void): void {
    try {
      install();
    } catch (error) {
      this.metrics.snapshotUpdates.inc({ result: 'refused' });
      this.#log.error('configuration refused; keeping the previous one', {
        version,
        error: error instanceof Error ? error.message : String(error),
      });
      throw error;
    }
    this.metrics.snapshotUpdates.inc({ result: 'accepted' });
    this.#log.info('configuration accepted', { version, ...this.state.counts });
  }

  /**
   * Starts serving an enrolled pod: its outbound, inbound and DNS listeners, opened through its sockets.
   * Resolves once the capture listeners are up (HBONE follows as soon as the pod's certificate is issued).
   * Adding a pod already served replaces it.
   */
  async addPod(pod: PodContext): Promise<void> {
    if (this.#pods.has(pod.uid)) await this.removePod(pod.uid);
    const proxy = new PodProxy(this.#ctx, pod, {
      certificates: this.#options.certificates,
      trustDomains: this.#trustDomains,
      limits: this.#limits,
      identityStreams: this.#identityStreams,
      onRefused: (reason, detail, remote, podUid) => {
        this.metrics.hboneRefused.inc({ reason });
        this.#refusals.warn(reason, 'HBONE connection refused', { reason, detail, remote, pod: podUid });
      },
    });
    const dns = this.#options.dns === false ? undefined : this.#dnsFor(pod);
    const served: ServedPod = { proxy, dns };
    this.#pods.set(pod.uid, served);
    try {
      await proxy.start();
      await dns?.start(pod.sockets, ZTUNNEL_PORTS.dns);
    } catch (error) {
      this.#pods.delete(pod.uid);
      await proxy.stop();
      await dns?.stop();
      throw error;
    }
    this.#log.info('pod added', { pod: pod.uid });
  }

  /** Stops serving a pod: closes its listeners and its connections. */
  async removePod(uid: string): Promise<void> {
    const served = this.#pods.get(uid);
    if (!served) return;
    this.#pods.delete(uid);
    await Promise.all([served.proxy.stop(), served.dns?.stop()]);
    this.#log.info('pod removed', { pod: uid });
  }

  get podUids(): string[] {
    return [...this.#pods.keys()];
  }

  /** Ready when a snapshot was accepted and every served pod known to it receives HBONE. */
  readiness(): { ready: boolean; reason?: string } {
    if (this.#draining) return { ready: false, reason: 'draining' };
    if (!this.state.hasSnapshot) return { ready: false, reason: 'no configuration received yet' };
    const waiting = [...this.#pods.entries()]
      .filter(([uid, served]) => this.state.workloadByUid(uid) !== undefined && !served.proxy.hboneReady)
      .map(([uid]) => uid);
    if (waiting.length > 0)
      return { ready: false, reason: `inbound HBONE not ready for ${waiting.join(', ')}` };
    return { ready: true };
  }

  // The admin API's views.

  configDump(): unknown {
    return {
      node: this.node,
      version: this.state.version,
      pods: [...this.#pods.entries()].map(([uid, served]) => ({
        uid,
        identity: served.proxy.identity,
        hboneReady: served.proxy.hboneReady,
      })),
      settings: {
        timeouts: this.#ctx.timeouts,
        pool: this.pool.settings,
        limits: this.#limits,
        preserveSourceIp: this.#ctx.preserveSourceIp,
      },
      snapshot: this.state.snapshot,
    };
  }

  workloads(): WorkloadRow[] {
    return workloadRows(this.state.snapshot, new Set(this.#pods.keys()));
  }

  services(): ServiceRow[] {
    return serviceRows(this.state.snapshot);
  }

  policies(): PolicyRow[] {
    return policyRows(this.state.snapshot);
  }

  /** The certificate of every identity served here, and the roots of the trust bundle. */
  async certificates(): Promise<CertificateRow[]> {
    const identities = new Set<string>();
    for (const uid of this.#pods.keys()) {
      const identity = this.state.workloadByUid(uid)?.identity;
      if (identity) identities.add(identity);
    }
    const rows: CertificateRow[] = [];
    for (const identity of [...identities].sort()) {
      try {
        const cert = await this.#options.certificates.get(identity);
        rows.push({ kind: 'leaf', ...describeCertificate(identity, cert.certPem) });
      } catch (error) {
        this.#log.warn('no certificate to show', { identity, error: errorMessage(error) });
      }
    }
    for (const root of this.#options.certificates.trustBundle())
      rows.push({ kind: 'root', ...describeCertificate('root', root) });
    return rows;
  }

  connections(): ConnectionsView {
    return { connections: this.tracker.list(), pool: this.pool.connections() };
  }

  /**
   * Graceful shutdown of the data path: every pod stops accepting, HBONE peers get GOAWAY, live connections
   * run on for up to `deadlineMs` and are reset after it. Readiness reports the drain from its start. Pods
   * stay served (their DNS too) until `close`.
   */
  async drain(deadlineMs: number): Promise<DrainResult> {
    this.#draining = true;
    const result = totalDrained(
      await Promise.all([...this.#pods.values()].map((served) => served.proxy.drain(deadlineMs))),
    );
    this.#log.info('drained', { ...result, deadlineMs });
    return result;
  }

  /** Stops every pod's listeners and closes the pool. */
  async close(): Promise<void> {
    await Promise.all(this.podUids.map((uid) => this.removePod(uid)));
    this.tracker.cancelAll('ztunnel shutting down');
    this.tracker.stop();
    for (const unsubscribe of this.#unobserve) unsubscribe();
    this.pool.close();
    this.#contexts.close();
  }

  #dnsFor(pod: PodContext): DnsServer {
    return new DnsServer({
      lookup: (hostname) => this.state.serviceForDnsName(hostname)?.vips,
      context: () => {
        const workload = this.state.workloadByUid(pod.uid);
        return {
          namespace: workload?.namespace,
          asker: workload ? { workload: workload.canonicalName, namespace: workload.namespace } : undefined,
        };
      },
      forwarder: this.#options.dnsForwarder,
      metrics: this.metrics,
      log: this.#log.child('dns'),
    });
  }
}
