/**
 * The HBONE server: HTTP/2 over mutual TLS, CONNECT only. It terminates the tunnel's TLS, learns the peer's
 * SPIFFE identity once per connection, parses each CONNECT (`:authority` ip:port, `forwarded`, `baggage`,
 * `traceparent`) and hands it to the caller, who answers 200 (and gets the stream to splice), 403 or 503.
 * Garbage (plain HTTP, random bytes, certificates from another CA, expired or foreign ones, handshakes that
 * never finish) is refused at the TLS layer with a bounded cost and reported through `onRefused`. HTTP/2
 * is our framer (src/core/hbone/h2) on a plain TLS server, or `node:http2`'s secure server, as
 * `implementation` says; what follows the TLS handshake is the same code for both.
 */
import type { IncomingHttpHeaders, ServerHttp2Session } from 'node:http2';
import type { Server, Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { errorMessage } from '../errors.ts';
import { splitHostPort } from '../net/host-port.ts';
import { plainAddress } from '../net/ip.ts';
import { type DrainableSession, type DrainResult, drainSessions } from '../server/drain.ts';
import { closeServer } from '../server/listen.ts';
import type { WorkloadCertificate } from '../tls/certificates.ts';
import { hboneServerOptions } from '../tls/contexts.ts';
import { peerIdentity } from '../tls/spiffe.ts';
import { KeyedRateLimiter } from '../token-bucket.ts';
import { H2Connection, HBONE_KEEPALIVE_MS } from './h2/connection.ts';
import { ErrorCode } from './h2/constants.ts';
import { parseForwardedFor, validTraceparent } from './headers.ts';
import { type HboneImplementation, parseHboneImplementation } from './implementation.ts';
import { DEFAULT_HBONE_SERVER_LIMITS, type HboneServerLimits, KeyedCounter } from './limits.ts';
import type { HboneTimeouts, PoolSettings } from './settings.ts';
import type { HboneServerStream } from './stream.ts';

export interface HboneRequest {
  /** The CONNECT target. */
  targetIp: string;
  targetPort: number;
  /** The verified SPIFFE identity of the peer (from its certificate). */
  peerIdentity: string;
  /** The address of the TCP connection the tunnel arrived on. */
  peerIp: string;
  peerPort: number;
  /** `forwarded: for=` as the peer claims it (trust it only from a waypoint). */
  forwardedFor: { ip: string; port: number } | undefined;
  baggage: string | undefined;
  traceparent: string | undefined;
  stream: HboneServerStream;
}

/**
 * `protocol-violation`: the framer refused something an HTTP/2 peer did (a flood, an overflow, bad frames);
 * the `*-limit` refusals: a peer wanted more than `HboneServerLimits` lets it hold; `no-connect`: an
 * authenticated connection that never sent a CONNECT within the handshake timeout (a slow loris).
 */
export type HboneRefusal =
  | 'tls-handshake'
  | 'no-h2'
  | 'bad-identity'
  | 'bad-request'
  | 'session-error'
  | 'protocol-violation'
  | 'connection-limit'
  | 'handshake-limit'
  | 'handshake-rate'
  | 'stream-limit'
  | 'identity-stream-limit'
  | 'no-connect';

export interface HboneServerOptions {
  certificate: WorkloadCertificate;
  trustBundle: readonly string[];
  trustDomains: ReadonlySet<string>;
  timeouts: Pick<HboneTimeouts, 'handshakeMs' | 'drainMs'>;
  windows: Pick<PoolSettings, 'streamWindowBytes' | 'connectionWindowBytes'>;
  /** Called for every well-formed CONNECT from an authenticated peer; must answer with `respond`. */
  onConnect(request: HboneRequest): void;
  /** Called once per refused connection or request (the caller logs and counts, rate-limited). */
  onRefused(reason: HboneRefusal, detail: string, remote: string | undefined): void;
  /** Default: `AMBIT_HBONE_IMPL`, else the framer. */
  implementation?: HboneImplementation;
  /** What one peer may make this listener hold (default: `DEFAULT_HBONE_SERVER_LIMITS`). */
  limits?: Partial<HboneServerLimits> | undefined;
  /**
   * Streams per peer identity, counted against `maxStreamsPerIdentity`: pass one counter to every server of
   * a node so that the limit holds node-wide (default: this server's own).
   */
  identityStreams?: KeyedCounter | undefined;
}

/** What the server uses of an HTTP/2 server connection; a `node:http2` session and an `H2Connection` both have it. */
interface ServerSession extends DrainableSession {
  readonly closed: boolean;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

interface PeerState {
  identity: string;
  streams: number;
  /** Whether the connection has carried a stream yet (until then, its idle deadline is the first CONNECT's). */
  streamed: boolean;
  idleTimer: NodeJS.Timeout | undefined;
}

export class HboneServer {
  /** A `net.Server`: listen on it where the tunnel must arrive (inside the pod's network namespace). */
  readonly server: Server & { setSecureContext(options: ReturnType<typeof hboneServerOptions>): void };
  readonly #options: HboneServerOptions;
  readonly #peers = new WeakMap<ServerSession, PeerState>();
  /** Every TCP connection, from accept on: what the drain leaves is torn down (HTTP/2 would linger). */
  readonly #sockets = new Set<Socket>();
  /** Authenticated HTTP/2 sessions: what the drain sends GOAWAY to. */
  readonly #sessions = new Set<ServerSession>();
  #draining = false;
  readonly #limits: HboneServerLimits;
  readonly #identityStreams: KeyedCounter;
  readonly #sourceConnections: KeyedCounter;
  readonly #sourceHandshakes: KeyedRateLimiter;
  /** Accepted connections whose TLS handshake has not finished, by remote address and port. */
  readonly #handshaking = new Set<string>();
  /** Connections `#admit` refused (and counted), whose TLS wrapper reports a failure of its own. */
  readonly #refusedBeforeTls = new WeakSet<Socket>();

  constructor(options: HboneServerOptions) {
    this.#options = options;
    this.#limits = { ...DEFAULT_HBONE_SERVER_LIMITS, ...options.limits };
    this.#identityStreams = options.identityStreams ?? new KeyedCounter(this.#limits.maxStreamsPerIdentity);
    this.#sourceConnections = new KeyedCounter(this.#limits.maxConnectionsPerSourceIp);
    const perSecond = this.#limits.maxHandshakesPerSourcePerSecond;
    this.#sourceHandshakes = new KeyedRateLimiter({ burst: perSecond, perSecond });
    this.server =
      (options.implementation ?? parseHboneImplementation()) === 'node-http2'
        ? this.#nodeHttp2Server()
        : this.#framerServer();
    this.server.on('connection', (socket: Socket) => {
      if (!this.#admit(socket)) return;
      // Tunnels carry interactive traffic: never hold small frames back (Nagle).
      socket.setNoDelay(true);
      // A peer that vanished without a FIN or RST (its pod or node gone) would hold its tunnels, and their app
      // sockets: TCP keepalive finds it on either HTTP/2 implementation (the framer also PINGs).
      socket.setKeepAlive(true, HBONE_KEEPALIVE_MS);
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    this.server.on('secureConnection', (socket: TLSSocket) =>
      this.#handshaking.delete(remoteOf(socket) ?? ''),
    );
    this.server.on('tlsClientError', (error: Error, socket: TLSSocket) => {
      // A connection `#admit` refused was counted there; its TLS wrapper then fails for that, not for the peer.
      // (`_parent` is the TCP socket a TLS socket wraps: Node's own name, undocumented, and the only link.)
      const tcp = (socket as TLSSocket & { _parent?: Socket })._parent;
      if (tcp === undefined || !this.#refusedBeforeTls.has(tcp))
        options.onRefused('tls-handshake', errorMessage(error), remoteOf(socket));
      // A plain TLS server leaves the socket to whoever listens for this (node:http2's closes it itself).
      socket.destroy();
    });
  }

  #nodeHttp2Server() {
    const options = this.#options;
    // Loaded only here: a ztunnel on the framer does not need node:http2 (~1 MiB RSS).
    const server = process.getBuiltinModule('node:http2').createSecureServer({
      ...hboneServerOptions(options.certificate, options.trustBundle),
      allowHTTP1: false,
      handshakeTimeout: options.timeouts.handshakeMs,
      settings: {
        initialWindowSize: options.windows.streamWindowBytes,
        maxConcurrentStreams: this.#limits.maxStreamsPerConnection,
        enablePush: false,
      },
      // Data waiting in our send buffers counts against this; tunnels buffer MiBs by design.
      maxSessionMemory: 64,
      unknownProtocolTimeout: options.timeouts.handshakeMs,
    });
    server.on('unknownProtocol', (socket: TLSSocket) => this.#refuseProtocol(socket));
    server.on('session', (session: ServerHttp2Session) => {
      const socket = session.socket as TLSSocket;
      session.once('connect', () => {
        try {
          session.setLocalWindowSize(options.windows.connectionWindowBytes);
        } catch {
          // The session died during setup; its close handler cleans up.
        }
      });
      this.#onSession(session, socket);
    });
    server.on('stream', (stream, headers) => {
      const session = stream.session as ServerHttp2Session | undefined;
      this.#onStream(stream, headers, session, session?.socket as Socket | undefined);
    });
    return server;
  }

  #framerServer() {
    const options = this.#options;
    const server = createTlsServer({
      ...hboneServerOptions(options.certificate, options.trustBundle),
      handshakeTimeout: options.timeouts.handshakeMs,
    });
    server.on('secureConnection', (socket: TLSSocket) => {
      if (socket.alpnProtocol !== 'h2') {
        this.#refuseProtocol(socket);
        return;
      }
      const connection = new H2Connection(socket, {
        role: 'server',
        settings: {
          streamWindowBytes: options.windows.streamWindowBytes,
          connectionWindowBytes: options.windows.connectionWindowBytes,
          maxConcurrentStreams: this.#limits.maxStreamsPerConnection,
        },
        // A peer that vanished without a FIN (node gone, cable pulled) is found within two periods.
        limits: { keepAliveMs: HBONE_KEEPALIVE_MS },
        onViolation: (violation, detail) =>
          options.onRefused('protocol-violation', `${violation}: ${detail}`, remoteOf(socket)),
      });
      connection.on('stream', (stream, headers) => this.#onStream(stream, headers, connection, socket));
      this.#onSession(connection, socket);
    });
    return server;
  }

  #refuseProtocol(socket: TLSSocket): void {
    this.#options.onRefused(
      'no-h2',
      `ALPN ${JSON.stringify(socket.alpnProtocol)} instead of h2`,
      remoteOf(socket),
    );
    socket.destroy();
  }

  /**
   * Bounds what accepted TCP connections hold before anyone is authenticated: handshakes per source IP and
   * second, connections per source IP, and handshakes under way. A connection over any limit is closed at
   * once, before TLS, and counted.
   */
  #admit(socket: Socket): boolean {
    const source = plainAddress(socket.remoteAddress);
    if (!this.#sourceHandshakes.take(source, performance.now())) {
      this.#refuseBeforeTls(socket, 'handshake-rate', source);
      return false;
    }
    const refusal = !this.#sourceConnections.acquire(source)
      ? ('connection-limit' as const)
      : this.#handshaking.size >= this.#limits.maxHandshakes
        ? ('handshake-limit' as const)
        : undefined;
    if (refusal) {
      if (refusal === 'handshake-limit') this.#sourceConnections.release(source);
      this.#refuseBeforeTls(socket, refusal, source);
      return false;
    }
    // The TLS socket that wraps this one has the same remote address and port: 'secureConnection' ends it.
    const key = remoteOf(socket) ?? '';
    this.#handshaking.add(key);
    socket.once('close', () => {
      this.#handshaking.delete(key);
      this.#sourceConnections.release(source);
    });
    return true;
  }

  #refuseBeforeTls(socket: Socket, reason: HboneRefusal, source: string): void {
    this.#refusedBeforeTls.add(socket);
    this.#options.onRefused(reason, `from ${source}`, remoteOf(socket));
    socket.destroy();
  }

  /** Installs a renewed certificate or trust bundle for new connections; live tunnels keep theirs. */
  updateCertificate(certificate: WorkloadCertificate, trustBundle: readonly string[]): void {
    this.server.setSecureContext(hboneServerOptions(certificate, trustBundle));
  }

  /** Open TCP connections (handshaking or carrying tunnels). */
  get connectionCount(): number {
    return this.#sockets.size;
  }

  /** Authenticated sessions open now. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /**
   * Drains: stops accepting, sends every session GOAWAY so that its open tunnels run to their end but no new
   * one starts, and resets what is still open after `deadlineMs` (default: the drain timeout). A deadline of
   * 0 resets every tunnel at once (the pod is gone: nothing may run on for it).
   */
  async close(deadlineMs = this.#options.timeouts.drainMs): Promise<DrainResult> {
    this.#draining = true;
    // Stops accepting now; settles once every connection is gone (the port is free again then).
    const closed = closeServer(this.server);
    const result =
      deadlineMs > 0
        ? await drainSessions(this.#sessions, deadlineMs)
        : { finished: 0, cut: this.#sessions.size };
    for (const socket of this.#sockets) socket.destroy();
    await closed;
    return result;
  }

  #onSession(session: ServerSession, socket: TLSSocket): void {
    const remote = remoteOf(socket);
    const identity = peerIdentity(socket, this.#options.trustDomains);
    session.on('error', (error: NodeJS.ErrnoException) => {
      // A peer that vanishes mid-session (reset, GOAWAY with an error) is routine: its streams report it.
      // An HTTP/2 error of the session itself (bad preface, a flood Node's guards stopped) is a refusal.
      if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE')
        this.#options.onRefused('session-error', errorMessage(error), remote);
    });
    if (!identity.ok) {
      this.#options.onRefused('bad-identity', identity.reason, remote);
      session.destroy();
      return;
    }
    if (this.#draining) {
      // A handshake that finished after the drain began: no new tunnels, the peer's pool goes elsewhere.
      session.close();
      return;
    }
    this.#sessions.add(session);
    session.once('close', () => this.#sessions.delete(session));
    const peer: PeerState = {
      identity: identity.identity,
      streams: 0,
      streamed: false,
      idleTimer: undefined,
    };
    this.#peers.set(session, peer);
    session.once('close', () => clearTimeout(peer.idleTimer));
    // Its first CONNECT is due within the handshake timeout: an authenticated slow loris holds no fd longer.
    this.#armIdle(session, peer, this.#options.timeouts.handshakeMs, remote);
  }

  /**
   * A connection that carries no stream for `idleMs` is closed. Counting streams (instead of
   * `session.setTimeout`, which Node refreshes on every frame) keeps the data path free of timer work.
   */
  #armIdle(
    session: ServerSession,
    peer: PeerState,
    idleMs = this.#limits.sessionIdleMs,
    remote?: string | undefined,
  ): void {
    clearTimeout(peer.idleTimer);
    peer.idleTimer = setTimeout(() => {
      if (peer.streams !== 0) return;
      // A pooled connection let go after its last stream is routine; one that never asked for any is not.
      if (!peer.streamed) this.#options.onRefused('no-connect', `no CONNECT within ${idleMs} ms`, remote);
      session.close();
    }, idleMs);
    peer.idleTimer.unref();
  }

  /**
   * Counts a new stream against its connection's and its peer identity's limits; false (and the stream
   * refused with REFUSED_STREAM, which tells the client nothing was processed) when either is full. Both
   * HTTP/2 implementations come through here, whatever each enforces itself.
   */
  #admitStream(stream: HboneServerStream, peer: PeerState, remote: string | undefined): boolean {
    const refusal =
      peer.streams >= this.#limits.maxStreamsPerConnection
        ? ('stream-limit' as const)
        : !this.#identityStreams.acquire(peer.identity)
          ? ('identity-stream-limit' as const)
          : undefined;
    if (refusal === undefined) {
      stream.once('close', () => this.#identityStreams.release(peer.identity));
      return true;
    }
    this.#options.onRefused(refusal, peer.identity, remote);
    stream.close(ErrorCode.REFUSED_STREAM);
    return false;
  }

  #onStream(
    stream: HboneServerStream,
    headers: IncomingHttpHeaders | Record<string, string>,
    session: ServerSession | undefined,
    socket: Socket | undefined,
  ): void {
    stream.on('error', () => {
      // Stream errors surface through the splice that owns the stream, or end it before it started.
    });
    const peer = session ? this.#peers.get(session) : undefined;
    const remote = socket ? remoteOf(socket) : undefined;
    if (peer === undefined) {
      stream.close(ErrorCode.REFUSED_STREAM);
      return;
    }
    if (!this.#admitStream(stream, peer, remote)) return;
    peer.streams++;
    peer.streamed = true;
    clearTimeout(peer.idleTimer);
    stream.once('close', () => {
      if (--peer.streams === 0 && session && !session.closed) this.#armIdle(session, peer);
    });
    const authority = headers[':authority'];
    const target =
      headers[':method'] === 'CONNECT' && typeof authority === 'string'
        ? splitHostPort(authority)
        : undefined;
    if (!target) {
      this.#options.onRefused(
        'bad-request',
        `${headers[':method']} ${authority ?? '(no authority)'}`,
        remote,
      );
      respond(stream, 400);
      return;
    }
    const forwarded = headers.forwarded;
    const baggage = headers.baggage;
    const traceparent = headers.traceparent;
    this.#options.onConnect({
      targetIp: target.host,
      targetPort: target.port,
      peerIdentity: peer.identity,
      peerIp: plainAddress(socket?.remoteAddress),
      peerPort: socket?.remotePort ?? 0,
      forwardedFor: parseForwardedFor(typeof forwarded === 'string' ? forwarded : undefined),
      baggage: typeof baggage === 'string' ? baggage : undefined,
      traceparent: validTraceparent(typeof traceparent === 'string' ? traceparent : undefined),
      stream,
    });
  }
}

/** Answers a CONNECT: 200 keeps the stream open for the tunnel, anything else ends it. */
export function respond(stream: HboneServerStream, status: number): void {
  if (stream.destroyed || stream.headersSent) return;
  try {
    stream.respond({ ':status': status }, { endStream: status !== 200 });
  } catch {
    stream.destroy();
  }
}

function remoteOf(socket: Socket | undefined): string | undefined {
  if (!socket?.remoteAddress) return undefined;
  return `${plainAddress(socket.remoteAddress)}:${socket.remotePort}`;
}
