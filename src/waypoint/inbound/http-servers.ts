/**
 * The HTTP servers that parse what arrives in tunnels: one `node:http` server for HTTP/1.1 (keep-alive and
 * pipelining; `Upgrade` requests go to the upgrade handler) and one `node:http2` server for h2c prior
 * knowledge (gRPC with trailers). Neither listens: each tunnel's stream is handed over with
 * `emit('connection')`, and the tunnel's context is found again from the request (HTTP/1.1: the stream is
 * the request's socket; HTTP/2: the session created synchronously for it). Both bound what a client can
 * make them hold: header sizes, streams per connection, idle and header times.
 */
import { createServer as createHttp1Server, type IncomingMessage, type Server } from 'node:http';
import {
  createServer as createHttp2Server,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2Session,
} from 'node:http2';
import type { Duplex } from 'node:stream';
import type { DownstreamResponse, TunnelContext } from '../engine.ts';
import type { WaypointMetrics } from '../metrics.ts';

export interface InboundLimits {
  /** Request headers, total bytes (Envoy's default limit is 60 KiB). */
  maxHeaderBytes: number;
  /** Concurrent streams per HTTP/2 client connection. */
  maxConcurrentStreams: number;
  /** Time a client has to send a request's headers. */
  headersTimeoutMs: number;
  /** An HTTP/1.1 connection without a request for this long is closed. */
  keepAliveTimeoutMs: number;
  /** An HTTP/2 connection without any frame for this long is closed. */
  http2IdleMs: number;
}

export const DEFAULT_INBOUND_LIMITS: InboundLimits = {
  maxHeaderBytes: 60 * 1024,
  maxConcurrentStreams: 1000,
  headersTimeoutMs: 60_000,
  keepAliveTimeoutMs: 60_000,
  http2IdleMs: 60 * 60_000,
};

export interface InboundHandlers {
  request(req: IncomingMessage | Http2ServerRequest, res: DownstreamResponse, tunnel: TunnelContext): void;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, tunnel: TunnelContext): void;
}

export class InboundHttpServers {
  readonly #http1: Server;
  readonly #http2: Http2Server;
  readonly #tunnels = new WeakMap<object, TunnelContext>();
  readonly #sessions = new Set<Http2Session>();
  /** The context of the tunnel being handed to the HTTP/2 server (its session is created synchronously). */
  #handing: TunnelContext | undefined;

  constructor(
    handlers: InboundHandlers,
    metrics: WaypointMetrics,
    limits: InboundLimits = DEFAULT_INBOUND_LIMITS,
  ) {
    this.#http1 = createHttp1Server({
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: 0,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // Streams of requests can be long (downloads, server-sent events): time is bounded by idleness.
      connectionsCheckingInterval: 30_000,
    });
    // A client that half-closes right after its request (a tunnel whose app sent its FIN) still gets the
    // answer, and the connection closes after it: by default Node ends the connection at the client's FIN,
    // dropping a response still being proxied (node:http2 streams delivered that FIN late enough to hide it).
    (this.#http1 as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    this.#http1.on('request', (req: IncomingMessage, res) => {
      const tunnel = this.#tunnels.get(req.socket);
      if (tunnel === undefined) return void res.destroy();
      handlers.request(req, res, tunnel);
    });
    this.#http1.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const tunnel = this.#tunnels.get(socket);
      if (tunnel === undefined) return void socket.destroy();
      handlers.upgrade(req, socket, head, tunnel);
    });
    // The parser reports again for bytes that keep arriving after its first error: count each client once.
    const refused = new WeakSet<Duplex>();
    this.#http1.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
      if (refused.has(socket)) return;
      refused.add(socket);
      const overflow = error.code === 'HPE_HEADER_OVERFLOW';
      metrics.refused.inc({ reason: overflow ? 'header-overflow' : 'bad-request' });
      if (socket.writable) socket.end(overflow ? HEADERS_TOO_LARGE : BAD_REQUEST);
      else socket.destroy();
    });

    this.#http2 = createHttp2Server({
      maxHeaderListPairs: 256,
      maxSessionMemory: 32,
      settings: {
        maxConcurrentStreams: limits.maxConcurrentStreams,
        maxHeaderListSize: limits.maxHeaderBytes,
        enablePush: false,
      },
    });
    this.#http2.on('session', (session: Http2Session) => {
      if (this.#handing) this.#tunnels.set(session, this.#handing);
      this.#sessions.add(session);
      session.once('close', () => this.#sessions.delete(session));
      session.setTimeout(limits.http2IdleMs, () => {
        metrics.refused.inc({ reason: 'idle-timeout' });
        session.close();
      });
      session.on('error', () => {
        // A client that vanishes mid-session is routine; its streams report it.
      });
    });
    this.#http2.on('request', (req: Http2ServerRequest, res: Http2ServerResponse) => {
      const session = req.stream.session;
      const tunnel = session ? this.#tunnels.get(session) : undefined;
      if (tunnel === undefined) return void res.stream.close();
      handlers.request(req, res, tunnel);
    });
    this.#http2.on('sessionError', () => {
      metrics.refused.inc({ reason: 'session-error' });
    });
  }

  serveHttp1(stream: Duplex, tunnel: TunnelContext): void {
    skipEmptyWrites(stream);
    this.#tunnels.set(stream, tunnel);
    this.#http1.emit('connection', stream);
  }

  serveHttp2(stream: Duplex, tunnel: TunnelContext): void {
    this.#handing = tunnel;
    try {
      this.#http2.emit('connection', stream);
    } finally {
      this.#handing = undefined;
    }
  }

  /** Tells HTTP/2 clients to go away (GOAWAY) and HTTP/1.1 ones to close after their current request. */
  drain(): void {
    for (const session of this.#sessions) session.close();
    this.#http1.closeIdleConnections();
  }

  close(): void {
    for (const session of this.#sessions) session.destroy();
    this.#http1.closeAllConnections();
  }
}

const HEADERS_TOO_LARGE =
  'HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n';
const BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n';

type WriteCallback = (error?: Error | null) => void;
interface VectoredWritable {
  _writev?: (chunks: { chunk: Buffer | string; encoding: BufferEncoding }[], callback: WriteCallback) => void;
}

/**
 * Node's HTTP/1.1 server writes zero-length chunks (a response ended without a body, responses queued
 * behind a pipelined one) in the same vectored write as the next head; on an HTTP/2 stream, which the
 * tunnel is, such a write corrupts the first bytes after the empty chunk. Empty chunks carry nothing, so
 * they are dropped before they reach the stream.
 */
function skipEmptyWrites(stream: Duplex): void {
  const writable = stream as unknown as VectoredWritable;
  const writev = writable._writev?.bind(stream);
  if (writev === undefined) return;
  writable._writev = (chunks, callback) => {
    const nonEmpty = chunks.filter(({ chunk }) => chunk.length > 0);
    if (nonEmpty.length === 0) callback();
    else writev(nonEmpty, callback);
  };
}
