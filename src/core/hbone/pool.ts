/**
 * The HBONE client: a pool of mTLS HTTP/2 connections, keyed by (source identity, destination identity,
 * destination address, source), each carrying up to `maxStreamsPerConnection` CONNECT streams. A connection
 * without streams is released after the idle period; a connection that breaks (reset, GOAWAY, error) leaves
 * the pool at once, and a CONNECT that failed only because the pooled connection had just died is retried
 * once on a fresh one, so that new streams never see the breakage. The connections are our framer's
 * (src/core/hbone/h2) or `node:http2` sessions, as `implementation` says; the pool treats both alike.
 */
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { errorMessage } from '../errors.ts';
import { joinHostPort } from '../net/host-port.ts';
import { abort } from '../net/splice.ts';
import { expectIdentity, HBONE_ALPN, HBONE_SERVER_NAME, type SecureContextCache } from '../tls/contexts.ts';
import { failureOfStatus, HboneError } from './errors.ts';
import { H2Connection, HBONE_KEEPALIVE_MS } from './h2/connection.ts';
import { type HboneImplementation, parseHboneImplementation } from './implementation.ts';
import type { HboneTimeouts, PoolSettings } from './settings.ts';
import type { HboneStream } from './stream.ts';

export interface HboneConnectRequest {
  /** Our side: the source workload's identity, whose certificate the connection presents. */
  sourceIdentity: string;
  /** The identity the peer's certificate must carry. */
  peerIdentity: string;
  peerIp: string;
  peerPort: number;
  /** Separates connections that equal identities must not share (the source pod: its own netns and IP). */
  sourceKey: string;
  /** `:authority` of the CONNECT. */
  authority: string;
  headers: { forwarded?: string | undefined; baggage?: string | undefined; traceparent?: string | undefined };
  /** Opens the TCP connection to the peer (from the source pod's network namespace, marked). */
  dial(): Socket;
}

export interface PoolOptions {
  contexts: SecureContextCache;
  trustDomains: ReadonlySet<string>;
  settings: PoolSettings;
  timeouts: Pick<HboneTimeouts, 'handshakeMs' | 'tcpConnectMs' | 'connectResponseMs'>;
  /** Told about connection-level events (for logs and metrics); never per stream. */
  onConnectionEvent?: (event: 'opened' | 'failed' | 'closed', key: PoolKeyFields, detail?: string) => void;
  /** Default: `AMBIT_HBONE_IMPL`, else the framer. */
  implementation?: HboneImplementation;
}

/** What the pool uses of an HTTP/2 client connection; a `node:http2` session and an `H2Connection` both have it. */
interface ClientSession {
  readonly destroyed: boolean;
  readonly closed: boolean;
  readonly remoteSettings: { readonly maxConcurrentStreams?: number | undefined };
  request(headers: Record<string, string>, options: { endStream: boolean }): HboneStream;
  close(): void;
  destroy(): void;
  once(event: 'goaway' | 'close' | 'connect', listener: () => void): unknown;
  once(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  off(event: 'error', listener: (error: Error) => void): unknown;
}

export interface PoolKeyFields {
  sourceIdentity: string;
  peerIdentity: string;
  peer: string;
  sourceKey: string;
}

export interface PooledConnectionInfo extends PoolKeyFields {
  streams: number;
  state: 'connecting' | 'open' | 'draining';
  openedAt: string;
}

class PooledConnection {
  readonly key: PoolKeyFields;
  /** The pool map's key for `key`. */
  readonly mapKey: string;
  readonly openedAt = new Date();
  session: ClientSession | undefined;
  ready!: Promise<ClientSession>;
  streams = 0;
  /** No new streams: it broke, got a GOAWAY, or is being released. */
  draining = false;
  idleTimer: NodeJS.Timeout | undefined;

  constructor(key: PoolKeyFields, mapKey: string) {
    this.key = key;
    this.mapKey = mapKey;
  }

  capacity(max: number): number {
    const remote = this.session?.remoteSettings.maxConcurrentStreams;
    return remote === undefined ? max : Math.min(max, remote);
  }
}

export class HbonePool {
  readonly #options: PoolOptions;
  readonly #connections = new Map<string, PooledConnection[]>();
  #closed = false;
  /** The HTTP/2 implementation of this pool's connections (the inbound servers use the same). */
  readonly implementation: HboneImplementation;

  constructor(options: PoolOptions) {
    this.#options = options;
    this.implementation = options.implementation ?? parseHboneImplementation();
  }

  get settings(): PoolSettings {
    return this.#options.settings;
  }

  /**
   * Opens a CONNECT stream to the peer; resolves with the stream once the peer answered 200, rejects with an
   * `HboneError` saying why otherwise (denied, upstream unavailable, connect failed, timeout, reset).
   */
  async connect(request: HboneConnectRequest): Promise<HboneStream> {
    for (let attempt = 0; ; attempt++) {
      const connection = this.#acquire(request);
      const reused = connection.session !== undefined;
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        this.#release(connection);
      };
      try {
        const session = await connection.ready;
        const stream = await this.#request(session, request);
        stream.once('close', release);
        return stream;
      } catch (error) {
        release();
        // Only a pooled connection that died under us is retried: nothing was sent for this stream yet.
        const retry =
          attempt === 0 && reused && error instanceof HboneError && error.failure === 'UpstreamReset';
        if (!retry) throw error;
        connection.draining = true;
      }
    }
  }

  /** Live pooled connections, for `/connections` and metrics. */
  connections(): PooledConnectionInfo[] {
    const out: PooledConnectionInfo[] = [];
    for (const list of this.#connections.values()) {
      for (const connection of list) {
        out.push({
          ...connection.key,
          streams: connection.streams,
          state: connection.draining ? 'draining' : connection.session ? 'open' : 'connecting',
          openedAt: connection.openedAt.toISOString(),
        });
      }
    }
    return out;
  }

  /** Closes every pooled connection (their streams are cancelled). */
  close(): void {
    this.#closed = true;
    for (const list of this.#connections.values()) {
      for (const connection of list) {
        clearTimeout(connection.idleTimer);
        connection.session?.destroy();
      }
    }
    this.#connections.clear();
  }

  #acquire(request: HboneConnectRequest): PooledConnection {
    if (this.#closed) throw new HboneError('UpstreamConnectFailure', 'the HBONE pool is closed');
    const key = poolKey(request);
    let list = this.#connections.get(key);
    if (!list) {
      list = [];
      this.#connections.set(key, list);
    }
    const max = this.#options.settings.maxStreamsPerConnection;
    let connection = list.find((c) => !c.draining && !c.session?.destroyed && c.streams < c.capacity(max));
    if (!connection) {
      connection = this.#open(request, key);
      list.push(connection);
    }
    connection.streams++;
    clearTimeout(connection.idleTimer);
    connection.idleTimer = undefined;
    return connection;
  }

  #release(connection: PooledConnection): void {
    connection.streams--;
    if (connection.streams > 0 || connection.draining) return;
    connection.idleTimer = setTimeout(() => {
      if (connection.streams > 0) return;
      connection.draining = true;
      connection.session?.close();
      this.#forget(connection);
    }, this.#options.settings.idleReleaseMs);
    connection.idleTimer.unref();
  }

  #forget(connection: PooledConnection): void {
    const list = this.#connections.get(connection.mapKey);
    if (!list) return;
    const index = list.indexOf(connection);
    if (index >= 0) list.splice(index, 1);
    if (list.length === 0) this.#connections.delete(connection.mapKey);
  }

  #open(request: HboneConnectRequest, key: string): PooledConnection {
    const fields: PoolKeyFields = {
      sourceIdentity: request.sourceIdentity,
      peerIdentity: request.peerIdentity,
      peer: joinHostPort(request.peerIp, request.peerPort),
      sourceKey: request.sourceKey,
    };
    const connection = new PooledConnection(fields, key);
    connection.ready = this.#handshake(request, connection);
    connection.ready.then(
      () => this.#options.onConnectionEvent?.('opened', fields),
      (error: unknown) => {
        connection.draining = true;
        this.#forget(connection);
        this.#options.onConnectionEvent?.('failed', fields, errorMessage(error));
      },
    );
    return connection;
  }

  async #handshake(request: HboneConnectRequest, connection: PooledConnection): Promise<ClientSession> {
    const { settings, timeouts, contexts, trustDomains } = this.#options;
    let secureContext: Awaited<ReturnType<SecureContextCache['get']>>;
    try {
      secureContext = await contexts.get(request.sourceIdentity);
    } catch (error) {
      throw new HboneError(
        'UpstreamConnectFailure',
        `no certificate for ${request.sourceIdentity}: ${errorMessage(error)}`,
        undefined,
        {
          cause: error,
        },
      );
    }
    const raw = request.dial();
    // Pod sockets are half-open capable (for app connections); a TLS socket inherits that from the socket it
    // wraps, and a half-open HBONE connection would sit in CLOSE-WAIT forever when the peer goes away.
    raw.allowHalfOpen = false;
    raw.setNoDelay(true);
    raw.setKeepAlive(true, 30_000);
    const tlsSocket = tlsConnect({
      socket: raw,
      secureContext,
      servername: HBONE_SERVER_NAME,
      ALPNProtocols: [HBONE_ALPN],
      checkServerIdentity: expectIdentity(request.peerIdentity, trustDomains),
    });
    const nodeSession =
      this.implementation === 'node-http2'
        ? // Loaded only here: a ztunnel on the framer does not need node:http2 (~1 MiB RSS).
          process
            .getBuiltinModule('node:http2')
            .connect(`https://${joinHostPort(request.peerIp, request.peerPort)}`, {
              createConnection: () => tlsSocket,
              settings: { initialWindowSize: settings.streamWindowBytes, enablePush: false },
              maxSessionMemory: 64,
            })
        : undefined;
    const session: ClientSession =
      nodeSession ??
      new H2Connection(tlsSocket, {
        role: 'client',
        settings: {
          streamWindowBytes: settings.streamWindowBytes,
          connectionWindowBytes: settings.connectionWindowBytes,
        },
        // A peer that vanished without a FIN (node gone, cable pulled) is found within two periods.
        limits: { keepAliveMs: HBONE_KEEPALIVE_MS },
      });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        session.destroy();
        reject(
          new HboneError(
            'UpstreamConnectFailure',
            `no HBONE connection to ${connection.key.peer} within ${timeouts.tcpConnectMs + timeouts.handshakeMs} ms`,
          ),
        );
      }, timeouts.tcpConnectMs + timeouts.handshakeMs);
      const onSetupError = (error: Error) => {
        clearTimeout(timer);
        session.destroy();
        reject(
          new HboneError(
            'UpstreamConnectFailure',
            `HBONE connection to ${connection.key.peer} failed: ${error.message}`,
            undefined,
            { cause: error },
          ),
        );
      };
      session.once('error', onSetupError);
      const onReady = () => {
        clearTimeout(timer);
        session.off('error', onSetupError);
        session.on('error', () => {
          // Surfaces as 'close'; streams see their own errors.
        });
        try {
          // The framer raised its connection window with its preface; Node's session needs telling.
          nodeSession?.setLocalWindowSize(settings.connectionWindowBytes);
        } catch {
          // Died during setup: the close below drains it.
        }
        connection.session = session;
        session.once('goaway', () => {
          connection.draining = true;
          this.#forget(connection);
        });
        session.once('close', () => {
          connection.draining = true;
          clearTimeout(connection.idleTimer);
          this.#forget(connection);
          this.#options.onConnectionEvent?.('closed', connection.key);
        });
        resolve(session);
      };
      // node:http2 says 'connect' as soon as the socket is up and sends requests at once. The framer's 'connect'
      // waits for the peer's SETTINGS, a round trip that HTTP/2 does not ask of a client (RFC 9113 section
      // 3.4): its first CONNECT goes out once TLS is up, in the same flight as the preface, as node:http2's
      // does. (Waiting cost every new connection a round trip, and a server that was busy for longer than
      // its first-CONNECT deadline then closed the connection with the CONNECT still unread.)
      if (nodeSession) session.once('connect', onReady);
      else tlsSocket.once('secureConnect', onReady);
    });
  }

  #request(session: ClientSession, request: HboneConnectRequest): Promise<HboneStream> {
    const headers: Record<string, string> = { ':method': 'CONNECT', ':authority': request.authority };
    if (request.headers.forwarded) headers.forwarded = request.headers.forwarded;
    if (request.headers.baggage) headers.baggage = request.headers.baggage;
    if (request.headers.traceparent) headers.traceparent = request.headers.traceparent;
    return new Promise((resolve, reject) => {
      let stream: HboneStream;
      try {
        if (session.destroyed || session.closed) throw new Error('session closed');
        stream = session.request(headers, { endStream: false });
      } catch (error) {
        reject(new HboneError('UpstreamReset', `HBONE connection unusable: ${errorMessage(error)}`));
        return;
      }
      const timer = setTimeout(() => {
        cleanup();
        abort(stream);
        reject(
          new HboneError(
            'Timeout',
            `no answer to CONNECT ${request.authority} within ${this.#options.timeouts.connectResponseMs} ms`,
          ),
        );
      }, this.#options.timeouts.connectResponseMs);
      const onResponse = (responseHeaders: Record<string, unknown>) => {
        cleanup();
        const status = Number(responseHeaders[':status']);
        if (status === 200) {
          resolve(stream);
          return;
        }
        stream.destroy();
        reject(
          new HboneError(failureOfStatus(status), `CONNECT ${request.authority} answered ${status}`, status),
        );
      };
      const onClose = () => {
        cleanup();
        const code = stream.rstCode;
        reject(
          new HboneError(
            'UpstreamReset',
            `CONNECT ${request.authority} stream closed before an answer (code ${code})`,
          ),
        );
      };
      const onError = () => {
        // The close that follows rejects.
      };
      const cleanup = () => {
        clearTimeout(timer);
        stream.off('response', onResponse);
        stream.off('close', onClose);
      };
      stream.on('error', onError);
      stream.once('response', onResponse);
      stream.once('close', onClose);
    });
  }
}

function poolKey(request: HboneConnectRequest): string {
  return `${request.sourceIdentity}|${request.peerIdentity}|${joinHostPort(request.peerIp, request.peerPort)}|${request.sourceKey}`;
}
