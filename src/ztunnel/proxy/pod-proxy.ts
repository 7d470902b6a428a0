/**
 * The listeners of one enrolled pod, opened inside the pod through its `PodSockets`: outbound capture
 * (15001) and inbound plaintext (15006) at once, so that captured connections are never refused while the
 * pod's config is on its way (they wait for it instead), and inbound HBONE (15008) as soon as the pod's
 * identity is known and its certificate issued. Renewed certificates reach the HBONE listener as they come.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { errorMessage } from '../../core/errors.ts';
import { type HboneServerLimits, KeyedCounter } from '../../core/hbone/limits.ts';
import { type HboneRefusal, HboneServer } from '../../core/hbone/server.ts';
import { plainAddress } from '../../core/net/ip.ts';
import { abort } from '../../core/net/splice.ts';
import { ZTUNNEL_PORTS } from '../../core/ports.ts';
import { type DrainResult, drainSessions, socketSession, totalDrained } from '../../core/server/drain.ts';
import type { CertificateProvider } from '../../core/tls/certificates.ts';
import type { Listener, PodContext, ProxyContext } from './context.ts';
import { handleInbound } from './inbound.ts';
import { handleInboundPlaintext } from './inbound-plaintext.ts';
import { handleOutbound } from './outbound.ts';

export interface PodProxyDeps {
  certificates: CertificateProvider;
  trustDomains: ReadonlySet<string>;
  limits: HboneServerLimits;
  /** Streams per peer identity, shared by every pod's HBONE listener. */
  identityStreams: KeyedCounter;
  onRefused(reason: HboneRefusal, detail: string, remote: string | undefined, pod: string): void;
}

/** How long to wait before asking again for a certificate that could not be had. */
const CERTIFICATE_RETRY_MS = 2_000;

export class PodProxy {
  readonly pod: PodContext;
  readonly #ctx: ProxyContext;
  readonly #deps: PodProxyDeps;
  readonly #servers: Server[] = [];
  /** Accepted sockets, so that removing the pod closes its connections. */
  readonly #sockets = new Set<Socket>();
  #hbone: HboneServer | undefined;
  #hboneStarting = false;
  #identity: string | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #stopped = false;
  readonly #unsubscribe: (() => void)[] = [];

  constructor(ctx: ProxyContext, pod: PodContext, deps: PodProxyDeps) {
    this.#ctx = ctx;
    this.pod = pod;
    this.#deps = deps;
  }

  /**
   * Opens 15001 and 15006, and 15008 once the pod's identity and certificate are there. When the
   * configuration already knows the pod, 15008 is open when this resolves, or it rejects: the enrollment
   * is acknowledged on return, and a pod started before its inbound listener would see mesh traffic to it
   * refused (its start is retried instead). A pod the configuration does not know yet gets 15008 later.
   */
  async start(): Promise<void> {
    await this.#listen(ZTUNNEL_PORTS.outbound, 'outbound', (socket) =>
      handleOutbound(this.#ctx, this.pod, socket),
    );
    await this.#listen(ZTUNNEL_PORTS.inboundPlaintext, 'inbound-plaintext', (socket) =>
      handleInboundPlaintext(this.#ctx, this.pod, socket),
    );
    this.#unsubscribe.push(this.#ctx.state.subscribe(() => void this.#ensureHbone()));
    this.#unsubscribe.push(this.#deps.certificates.subscribe(() => void this.#refreshCertificate()));
    await this.#ensureHbone({ retry: false });
  }

  /** Whether the inbound HBONE listener is up (the pod can receive mesh traffic). */
  get hboneReady(): boolean {
    return this.#hbone !== undefined;
  }

  get identity(): string | undefined {
    return this.#identity;
  }

  /**
   * Stops accepting on every listener of the pod and lets live connections finish: HBONE tunnels after
   * GOAWAY, captured TCP connections when their ends close them. What is still open at the deadline is
   * reset. The pod stays served until `stop`.
   */
  async drain(deadlineMs: number): Promise<DrainResult> {
    for (const server of this.#servers) if (server.listening) server.close();
    const results = await Promise.all([
      drainSessions([...this.#sockets].map(socketSession), deadlineMs),
      this.#hbone ? this.#hbone.close(deadlineMs) : { finished: 0, cut: 0 },
    ]);
    return totalDrained(results);
  }

  /** Closes the listeners and every connection of the pod. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    for (const socket of this.#sockets) abort(socket);
    const closing = this.#servers.map(
      (server) => new Promise<void>((resolve) => server.close(() => resolve())),
    );
    // The pod is gone: its tunnels are reset, not drained (nothing may run on for it).
    if (this.#hbone) closing.push(this.#hbone.close(0).then(() => undefined));
    await Promise.all(closing);
  }

  async #listen(port: number, listener: Listener, handle: (socket: Socket) => Promise<void>): Promise<void> {
    // Every connection on 15001 comes from the pod itself: there the pod's tunnel limit is the bound.
    const perSource = new KeyedCounter(
      listener === 'outbound' ? Infinity : this.#deps.limits.maxConnectionsPerSourceIp,
    );
    const server = createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: false }, (socket) => {
      const source = plainAddress(socket.remoteAddress);
      if (!perSource.acquire(source)) {
        this.#ctx.refused(listener, 'connection-limit', { pod: this.pod.uid, src: source });
        abort(socket);
        return;
      }
      this.#sockets.add(socket);
      socket.once('close', () => {
        this.#sockets.delete(socket);
        perSource.release(source);
      });
      handle(socket).catch((error: unknown) => {
        // A bug in one connection's handling must not take the process down: close it and say so.
        this.#ctx.log.error('connection handler failed', {
          pod: this.pod.uid,
          port,
          error: errorMessage(error),
        });
        abort(socket);
      });
    });
    server.on('error', (error) =>
      this.#ctx.log.error('listener error', { pod: this.pod.uid, port, error: errorMessage(error) }),
    );
    await this.pod.sockets.listen(server, port);
    this.#servers.push(server);
  }

  /** Starts the inbound HBONE listener if it can; a failure is retried later, or thrown without `retry`. */
  async #ensureHbone(options = { retry: true }): Promise<void> {
    if (this.#hbone || this.#hboneStarting || this.#stopped) return;
    const workload = this.#ctx.state.workloadByUid(this.pod.uid);
    if (!workload) return;
    this.#hboneStarting = true;
    try {
      const certificate = await this.#deps.certificates.get(workload.identity);
      if (this.#stopped) return;
      const server = new HboneServer({
        certificate,
        trustBundle: this.#deps.certificates.trustBundle(),
        trustDomains: this.#deps.trustDomains,
        timeouts: this.#ctx.timeouts,
        windows: this.#ctx.pool.settings,
        limits: this.#deps.limits,
        identityStreams: this.#deps.identityStreams,
        implementation: this.#ctx.pool.implementation,
        onConnect: (request) => {
          handleInbound(this.#ctx, this.pod, request).catch((error: unknown) => {
            this.#ctx.log.error('inbound handler failed', { pod: this.pod.uid, error: errorMessage(error) });
            request.stream.destroy();
          });
        },
        onRefused: (reason, detail, remote) => this.#deps.onRefused(reason, detail, remote, this.pod.uid),
      });
      await this.pod.sockets.listen(server.server, ZTUNNEL_PORTS.hbone);
      this.#hbone = server;
      this.#identity = workload.identity;
      if (this.#stopped) await server.close(0);
    } catch (error) {
      if (!options.retry) throw error;
      this.#ctx.log.warn('inbound HBONE listener not started yet; retrying', {
        pod: this.pod.uid,
        error: errorMessage(error),
      });
      this.#retryTimer = setTimeout(() => void this.#ensureHbone(), CERTIFICATE_RETRY_MS);
      this.#retryTimer.unref();
    } finally {
      this.#hboneStarting = false;
    }
  }

  async #refreshCertificate(): Promise<void> {
    const identity = this.#identity;
    if (!this.#hbone || identity === undefined) return;
    try {
      this.#hbone.updateCertificate(
        await this.#deps.certificates.get(identity),
        this.#deps.certificates.trustBundle(),
      );
    } catch (error) {
      this.#ctx.log.error('could not install a renewed certificate', {
        pod: this.pod.uid,
        error: errorMessage(error),
      });
    }
  }
}
