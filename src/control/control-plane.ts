/**
 * The control plane process: config store (validation, persistence, watched files, the API socket), pod
 * source, mesh model, discovery push and CA over gRPC/TLS, and metrics. `ambit control` runs one; tests
 * start one in-process or as a child process.
 */
import { chmodSync, mkdirSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { experimental, Server } from '@grpc/grpc-js';
import type { GatewaySpec } from '../core/config/kinds/gateway.ts';
import { displayName, type Resource } from '../core/config/resource.ts';
import type { ConfigFile, ControlStatus, RolloutReport, StoredResource } from '../core/control-api/types.ts';
import { AmbitError, errorMessage, UsageError } from '../core/errors.ts';
import { CONTROL_PLANE_SERVER_NAME, CONTROL_PLANE_SERVICE_ACCOUNT } from '../core/grpc/credentials.ts';
import {
  CONTROL_HANDSHAKE_TIMEOUT_MS,
  GRPC_MESSAGE_LIMITS,
  withHandshakeTimeout,
} from '../core/grpc/limits.ts';
import { DEFAULT_TRUST_DOMAIN, spiffeUri } from '../core/identity.ts';
import { ROOT_NAMESPACE } from '../core/labels.ts';
import { createLogger, type Logger } from '../core/log.ts';
import { LogLimiter } from '../core/log-limit.ts';
import { type HostPort, joinHostPort, splitHostPort } from '../core/net/host-port.ts';
import { CONTROL_PLANE_PORTS } from '../core/ports.ts';
import { type HttpEndpoint, metricsHandler, serveHttp } from '../core/server/http.ts';
import { type ApiHandlers, claimSocket, serveApi } from './api/server.ts';
import { type NodeAuthenticator, TokenFileAuthenticator } from './auth/node-authenticator.ts';
import { CertificateAuthority } from './ca/authority.ts';
import { RotatingServerCertificate } from './ca/server-certificate.ts';
import { CertificateService } from './ca/service.ts';
import { FileSource } from './config/files.ts';
import { ConfigStore } from './config/store.ts';
import { Debouncer } from './debounce.ts';
import { DiscoveryServer } from './discovery/server.ts';
import {
  type ControlListener,
  type ControlListenerLimits,
  DEFAULT_CONTROL_LISTENER_LIMITS,
  grpcServerLimits,
  listenControl,
} from './grpc-listener.ts';
import { CONTROL_KINDS, resolveKind } from './kinds.ts';
import { ControlMetrics } from './metrics.ts';
import { gatewayStatus } from './model/gateway-status.ts';
import { isIngressGateway } from './model/ingress/gateways.ts';
import { ingressGatewayStatus, ingressRouteStatus } from './model/ingress/status.ts';

/** The route kinds whose documents carry their status toward ingress Gateways. */
const INGRESS_ROUTE_KINDS = ['HTTPRoute', 'GRPCRoute', 'TCPRoute', 'TLSRoute'];

import { IncrementalMesh, type MeshUpdate } from './model/incremental.ts';
import type { Mesh } from './model/mesh.ts';
import { joinPodSources, type PodSource, parsePodInfo, ReportedPods } from './pods/pod-source.ts';
import type { SliceEndpointSource } from './pods/slice-endpoints.ts';
import { type StatePaths, statePaths } from './state/files.ts';
import { FileLease, type LeaderLease } from './state/lease.ts';
import { StateLock } from './state/lock.ts';
import { watchSharedFiles } from './state/shared-file.ts';

export const DEFAULT_GRPC_PORT = CONTROL_PLANE_PORTS.grpc;
export const DEFAULT_METRICS_PORT = CONTROL_PLANE_PORTS.metrics;
export const DEFAULT_LISTEN = `127.0.0.1:${DEFAULT_GRPC_PORT}`;

export interface ControlPlaneOptions {
  stateDir: string;
  /** Config files and directories to load and watch. */
  configPaths?: readonly string[] | undefined;
  /** gRPC listener, `host:port` (port 0 picks a free one). */
  listen?: string | undefined;
  /**
   * The API socket (default `<state>/control.sock`). Replicas sharing one state directory each serve their
   * own (the local cluster's first replica keeps the default).
   */
  apiSocket?: string | undefined;
  /** Metrics port on the listener's host (0 picks a free one). */
  metricsPort?: number | undefined;
  trustDomain?: string | undefined;
  caCertFile?: string | undefined;
  caKeyFile?: string | undefined;
  defaultCertTtlSeconds?: number | undefined;
  maxCertTtlSeconds?: number | undefined;
  /** Push debounce: quiet period and maximum delay (ms). */
  debounceMs?: number | undefined;
  maxDebounceMs?: number | undefined;
  /** The largest push sent to a data-plane client (default: `MAX_SNAPSHOT_BYTES`). */
  maxPushBytes?: number | undefined;
  /** TLS handshake timeout on the gRPC listener (default `CONTROL_HANDSHAKE_TIMEOUT_MS`). */
  handshakeTimeoutMs?: number | undefined;
  /** Bounds of the gRPC listener (defaults `DEFAULT_CONTROL_LISTENER_LIMITS`). */
  listenerLimits?: Partial<ControlListenerLimits> | undefined;
  log?: Logger | undefined;
  /** Pods from another source besides those runtimes report (on Kubernetes: the API's). */
  pods?: PodSource | undefined;
  /** Endpoints of Services without a selector (on Kubernetes: their EndpointSlices). */
  sliceEndpoints?: SliceEndpointSource | undefined;
  /** How data-plane callers prove their node (default: the token files of `<state-dir>/nodes`). */
  authenticator?: NodeAuthenticator | undefined;
}

export function parseListenAddress(text: string): HostPort {
  const address = splitHostPort(text, { allowPortZero: true });
  if (!address) {
    throw new UsageError(
      `invalid listen address ${JSON.stringify(text)}: use host:port, e.g. 10.0.0.1:${DEFAULT_GRPC_PORT} or [::1]:${DEFAULT_GRPC_PORT}`,
    );
  }
  return address;
}

export class ControlPlane {
  readonly paths: StatePaths;
  readonly trustDomain: string;
  readonly store: ConfigStore;
  /** Every pod the mesh is built from: those reported over the API socket and `options.pods`. */
  readonly pods: PodSource;
  private readonly reportedPods: ReportedPods;
  private readonly sliceEndpoints: SliceEndpointSource | undefined;
  readonly ca: CertificateAuthority;
  readonly metrics = new ControlMetrics();
  private readonly log: Logger;
  private readonly discovery: DiscoveryServer;
  private readonly grpc: Server;
  private readonly listenerLimits: ControlListenerLimits;
  private listener: ControlListener | undefined;
  /** Refusals a peer can cause at will: logged once per kind and window, counted always. */
  private readonly refusals: LogLimiter;
  private readonly debouncer: Debouncer;
  private readonly fileSource: FileSource | undefined;
  private readonly startedAt = new Date();
  private generation = 0;
  /** The config revision the last published generation was built from. */
  private builtRevision = -1;
  /** The last mesh published: what computed status (a Gateway's) is read from. */
  private mesh: Mesh | undefined;
  /** What each rebuild keeps for the next, so that a change rebuilds only the objects it touches. */
  private readonly model = new IncrementalMesh();
  private api: HttpServer | undefined;
  private metricsServer: HttpEndpoint | undefined;
  private serverCertificate: RotatingServerCertificate | undefined;
  /** Serializes writers of the state directory among replicas; held for one file write at a time. */
  private readonly lock: StateLock;
  private sharedFiles: { close(): void } | undefined;
  private readonly apiSocket: string;
  /** Which replica makes the single-writer changes (see `lease.ts`). */
  readonly lease: LeaderLease;
  grpcAddress = '';

  private constructor(options: ControlPlaneOptions) {
    this.log = options.log ?? createLogger('control');
    this.refusals = new LogLimiter(this.log.child('listener'));
    this.listenerLimits = { ...DEFAULT_CONTROL_LISTENER_LIMITS, ...options.listenerLimits };
    this.grpc = new Server({
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      ...GRPC_MESSAGE_LIMITS,
      // What a client sends is small (ACKs, NACKs, CSRs); pushes keep the large send limit.
      ...grpcServerLimits(this.listenerLimits),
    });
    this.trustDomain = options.trustDomain ?? DEFAULT_TRUST_DOMAIN;
    mkdirSync(options.stateDir, { recursive: true, mode: 0o700 });
    // Only the owner may enter the state dir: it holds the CA key, node tokens and the API socket.
    chmodSync(options.stateDir, 0o700);
    this.paths = statePaths(options.stateDir);
    this.apiSocket = options.apiSocket ?? this.paths.socket;
    this.lock = new StateLock(this.paths.lock);
    this.store = new ConfigStore(CONTROL_KINDS, this.trustDomain, this.paths.config, undefined, this.lock);
    this.reportedPods = new ReportedPods(this.paths.pods, this.lock, this.log.child('pods'));
    this.pods = options.pods ? joinPodSources([this.reportedPods, options.pods]) : this.reportedPods;
    // Under the lock: replicas starting together on an empty directory must end up with one root, not two.
    this.ca = this.lock.run(() =>
      CertificateAuthority.loadOrCreate({
        trustDomain: this.trustDomain,
        keyFile: this.paths.caKey,
        certFile: this.paths.rootCert,
        providedCertFile: options.caCertFile,
        providedKeyFile: options.caKeyFile,
        defaultTtlSeconds: options.defaultCertTtlSeconds,
        maxTtlSeconds: options.maxCertTtlSeconds,
      }),
    );
    this.lease = new FileLease({
      stateDir: options.stateDir,
      lock: this.lock,
      identity: `${hostname()}/${process.pid}`,
      log: this.log.child('lease'),
    });
    const authenticator: NodeAuthenticator =
      options.authenticator ?? new TokenFileAuthenticator(this.paths.nodeTokens);
    authenticator.registerMetrics?.(this.metrics.registry);
    this.discovery = new DiscoveryServer({
      authenticator,
      pods: this.pods,
      maxPushBytes: options.maxPushBytes,
      metrics: this.metrics,
      log: this.log.child('discovery'),
    });
    this.discovery.register(this.grpc);
    new CertificateService({
      ca: this.ca,
      authenticator,
      pods: this.pods,
      metrics: this.metrics,
      log: this.log.child('ca'),
    }).register(this.grpc);
    this.debouncer = new Debouncer(
      (firstChangeAt) => this.rebuild(firstChangeAt),
      options.debounceMs ?? 100,
      options.maxDebounceMs ?? 1000,
    );
    this.store.onChange(() => this.debouncer.trigger());
    this.pods.onChange(() => this.debouncer.trigger());
    this.sliceEndpoints = options.sliceEndpoints;
    this.sliceEndpoints?.onChange(() => this.debouncer.trigger());
    if (options.configPaths && options.configPaths.length > 0) {
      this.fileSource = new FileSource(this.store, options.configPaths, this.log.child('files'), {
        onApplied: () => this.metrics.validationPassed.inc({ source: 'file' }),
        onRejected: () => this.metrics.validationFailed.inc({ source: 'file' }),
      });
    }
  }

  static async start(options: ControlPlaneOptions): Promise<ControlPlane> {
    await claimSocket(options.apiSocket ?? statePaths(options.stateDir).socket);
    const plane = new ControlPlane(options);
    try {
      await plane.serve(options);
    } catch (error) {
      await plane.stop();
      throw error;
    }
    return plane;
  }

  private async serve(options: ControlPlaneOptions): Promise<void> {
    const listen = parseListenAddress(options.listen ?? DEFAULT_LISTEN);
    this.fileSource?.start();
    // Another replica's writes (config applied through it, pods its runtime reported) reach this one here.
    this.sharedFiles = watchSharedFiles([this.paths.config, ...this.reportedPods.files], () =>
      this.takeInSharedState(),
    );
    // The first model is published before any client can connect, so every stream starts from a snapshot.
    this.rebuild(Date.now());
    const ips = [
      '127.0.0.1',
      '::1',
      ...(isIP(listen.host) && !['0.0.0.0', '::'].includes(listen.host) ? [listen.host] : []),
    ];
    this.serverCertificate = new RotatingServerCertificate(
      this.ca,
      {
        spiffeId: spiffeUri({
          trustDomain: this.trustDomain,
          namespace: ROOT_NAMESPACE,
          serviceAccount: CONTROL_PLANE_SERVICE_ACCOUNT,
        }),
        dnsNames: [CONTROL_PLANE_SERVER_NAME, 'ambit-control', 'localhost'],
        ips: [...new Set(ips)],
      },
      this.ca.defaultTtlSeconds,
      this.log.child('tls'),
    );
    // The provider goes first (grpc-js takes it as the identity provider); clients are not asked for certificates.
    const credentials = withHandshakeTimeout(
      experimental.createCertificateProviderServerCredentials(this.serverCertificate, null, false),
      options.handshakeTimeoutMs ?? CONTROL_HANDSHAKE_TIMEOUT_MS,
    );
    this.listener = await listenControl({
      grpc: this.grpc,
      credentials,
      address: listen,
      limits: this.listenerLimits,
      onRefused: (reason, source) => {
        this.metrics.connectionsRefused.inc({ reason });
        this.refusals.warn(reason, 'control connection refused', { reason, source });
      },
      log: this.log,
    }).catch((error: Error) => {
      throw new AmbitError(
        'SYSTEM',
        `cannot listen on ${joinHostPort(listen.host, listen.port)} for gRPC: ${error.message}`,
      );
    });
    this.grpcAddress = this.listener.address;
    this.lease.start();
    this.api = await serveApi(this.apiSocket, this.apiHandlers(), this.log.child('api'));
    this.metricsServer = await serveHttp(metricsHandler(this.metrics.registry), {
      host: listen.host,
      port: options.metricsPort ?? DEFAULT_METRICS_PORT,
    });
    this.log.info('control plane ready', {
      grpc: this.grpcAddress,
      metrics: this.metricsServer.address,
      socket: this.apiSocket,
      rootCert: this.paths.rootCert,
      trustDomain: this.trustDomain,
      revision: this.store.revision,
      pods: this.pods.list().length,
    });
  }

  /** Connections open on the gRPC listener now. */
  get listenerConnections(): number {
    return this.listener?.connections ?? 0;
  }

  get metricsAddress(): string {
    return this.metricsServer?.address ?? '';
  }

  status(): ControlStatus {
    const resources: Record<string, number> = {};
    for (const resource of this.store.resources())
      resources[resource.kind] = (resources[resource.kind] ?? 0) + 1;
    return {
      revision: this.store.revision,
      version: this.discovery.version,
      trustDomain: this.trustDomain,
      grpcAddress: this.grpcAddress,
      metricsAddress: this.metricsAddress,
      startedAt: this.startedAt.toISOString(),
      resources,
      pods: this.pods.list().length,
      clients: this.discovery.clients(),
      replica: {
        identity: this.lease.identity,
        leader: this.lease.record()?.holderIdentity || undefined,
        leading: this.lease.leading(),
      },
    };
  }

  async stop(): Promise<void> {
    this.debouncer.cancel();
    this.lease.stop();
    this.serverCertificate?.stop();
    this.fileSource?.stop();
    this.sharedFiles?.close();
    this.discovery.closeAll();
    await this.listener?.close();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.grpc.forceShutdown();
        resolve();
      }, 2000);
      this.grpc.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    const api = this.api;
    if (api) {
      api.closeAllConnections();
      await new Promise<void>((resolve) => api.close(() => resolve()));
    }
    await this.metricsServer?.close();
    this.reportedPods.flush();
    this.lock.close();
  }

  /** Reloads the shared files another replica replaced; what does not validate is logged and not taken. */
  private takeInSharedState(): void {
    for (const source of [this.store, this.reportedPods]) {
      try {
        source.refresh();
      } catch (error) {
        this.log.error('shared state written by another replica cannot be used; keeping ours', {
          error: errorMessage(error),
        });
      }
    }
  }

  private rebuild(firstChangeAt: number): void {
    const started = performance.now();
    let update: MeshUpdate;
    try {
      update = this.model.update({
        resources: this.store.resources(),
        pods: this.pods.list(),
        sliceEndpoints: this.sliceEndpoints?.byService(),
        trustDomain: this.trustDomain,
        trustBundle: this.ca.trustBundle(),
      });
    } catch (error) {
      // A bug here must not take the process down: clients keep the last pushed snapshot.
      this.log.error('mesh rebuild failed; the previous snapshot stays in force', {
        error: errorMessage(error),
      });
      return;
    }
    this.generation++;
    this.builtRevision = this.store.revision;
    const { mesh } = update;
    this.mesh = mesh;
    this.discovery.publish(mesh, String(this.generation), firstChangeAt, update.changes);
    this.metrics.configRevision.set(this.store.revision);
    this.log.debug('mesh rebuilt', {
      version: this.generation,
      workloads: mesh.workloads.length,
      services: mesh.services.length,
      ms: Math.round(performance.now() - started),
    });
  }

  /**
   * Waits (at most `timeoutMs`) until every data-plane client has ACKed or NACKed a mesh version built from
   * config `revision` or later. A change still in the debounce window is built now rather than waited for.
   */
  async rollout(revision: number, timeoutMs: number): Promise<RolloutReport> {
    // Applied through another replica a moment ago: take it in now rather than at the next file event.
    if (revision > this.store.revision) this.takeInSharedState();
    if (revision > this.store.revision)
      throw new AmbitError(
        'NOT_FOUND',
        `config revision ${revision} does not exist yet (now ${this.store.revision})`,
      );
    if (this.builtRevision < revision) this.debouncer.flush();
    if (this.builtRevision < revision)
      throw new AmbitError(
        'UNAVAILABLE',
        `the mesh could not be built from config revision ${revision}; see the control plane's log`,
      );
    const version = this.generation;
    const { clients, timedOut } = await this.discovery.awaitRollout(version, timeoutMs);
    return { revision, version: String(version), timedOut, clients };
  }

  /**
   * Waits (at most `timeoutMs`) until every data-plane client has the mesh as it stands now, the reported pods
   * included: a pod that left its Services is known to have left everywhere before its runtime stops it. A
   * change still in the debounce window is built now rather than waited for.
   */
  async awaitPushed(timeoutMs: number): Promise<RolloutReport> {
    this.debouncer.flush();
    const version = this.generation;
    const { clients, timedOut } = await this.discovery.awaitRollout(version, timeoutMs);
    return { revision: this.builtRevision, version: String(version), timedOut, clients };
  }

  /** A Gateway's document carries its status (computed from the mesh), as the API server shows it. */
  private withStatus(resource: Resource, document: unknown): unknown {
    const status = this.statusOf(resource);
    return status === undefined ? document : { ...(document as Record<string, unknown>), status };
  }

  private statusOf(resource: Resource): unknown {
    const namespace = resource.metadata.namespace ?? 'default';
    const mesh = this.mesh;
    if (resource.kind === 'Gateway') {
      const gateway = resource as Resource<GatewaySpec>;
      if (mesh && isIngressGateway(gateway.spec))
        return ingressGatewayStatus({ name: gateway.metadata.name, namespace, spec: gateway.spec }, mesh);
      return gatewayStatus(gateway, mesh?.services ?? []);
    }
    if (mesh && INGRESS_ROUTE_KINDS.includes(resource.kind))
      return ingressRouteStatus(resource.kind, namespace, resource.metadata.name, mesh);
    return undefined;
  }

  private apiHandlers(): ApiHandlers {
    const counted = <T>(run: () => T): T => {
      try {
        const result = run();
        this.metrics.validationPassed.inc({ source: 'api' });
        return result;
      } catch (error) {
        this.metrics.validationFailed.inc({ source: 'api' });
        throw error;
      }
    };
    return {
      status: () => this.status(),
      rollout: (revision: number, timeoutMs: number) => this.rollout(revision, timeoutMs),
      awaitPushed: (timeoutMs: number) => this.awaitPushed(timeoutMs),
      apply: (files: ConfigFile[]) => counted(() => this.store.apply(files)),
      delete: (files: ConfigFile[]) => counted(() => this.store.delete(files)),
      get: (kind: string, name: string | undefined, namespace: string | undefined): StoredResource[] => {
        const resolved = resolveKind(kind);
        if (!resolved)
          throw new AmbitError(
            'USAGE',
            `unknown kind ${JSON.stringify(kind)}: known kinds are ${[...CONTROL_KINDS.keys()].join(', ')}`,
          );
        const stored = this.store
          .list()
          .filter(({ resource }) => resource.kind === resolved)
          .filter(({ resource }) => name === undefined || resource.metadata.name === name)
          .filter(
            ({ resource }) =>
              namespace === undefined ||
              resource.metadata.namespace === undefined ||
              resource.metadata.namespace === namespace,
          )
          .sort((a, b) => displayName(a.resource).localeCompare(displayName(b.resource)))
          .map(({ resource, document, origin }) => ({
            apiVersion: resource.apiVersion,
            kind: resource.kind,
            name: resource.metadata.name,
            namespace: resource.metadata.namespace,
            source: resource.source,
            origin,
            document: this.withStatus(resource, document),
          }));
        // Pods that no document defines (a Deployment's, reported by the runtime) are listed too, as kubectl does.
        if (resolved !== 'Pod') return stored;
        const defined = new Set(stored.map((resource) => `${resource.namespace}/${resource.name}`));
        const reported = this.pods
          .list()
          .filter((pod) => !defined.has(`${pod.namespace}/${pod.name}`))
          .filter((pod) => name === undefined || pod.name === name)
          .filter((pod) => namespace === undefined || pod.namespace === namespace)
          .map((pod) => reportedPodResource(pod));
        return [...stored, ...reported].sort((a, b) =>
          `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`),
        );
      },
      reportPod: (pod: unknown) => {
        this.reportedPods.upsert(parsePodInfo(pod));
        return { pods: this.pods.list().length };
      },
      removePod: (namespace: string, name: string) => ({
        removed: this.reportedPods.remove(namespace, name),
      }),
      syncNodePods: (node: string, pods: unknown) => {
        if (!Array.isArray(pods)) throw new AmbitError('BAD_REQUEST', 'expected {"pods": [...]}');
        this.reportedPods.replaceNode(node, pods.map(parsePodInfo));
        return { pods: this.pods.list().length };
      },
      listPods: () => ({ pods: [...this.pods.list()] }),
    };
  }
}

/** A pod the runtime reported, as `get` shows it: a Pod document with its placement and status. */
function reportedPodResource(pod: ReturnType<ReportedPods['list']>[number]): StoredResource {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    name: pod.name,
    namespace: pod.namespace,
    source: { file: `reported by node ${pod.node}`, document: 0 },
    origin: 'runtime',
    document: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: pod.name, namespace: pod.namespace, labels: pod.labels },
      spec: { nodeName: pod.node, serviceAccountName: pod.serviceAccount },
      status: { podIP: pod.ips[0], podIPs: pod.ips.map((ip) => ({ ip })), ready: pod.ready },
    },
  };
}
