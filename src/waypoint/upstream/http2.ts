/**
 * HTTP/2 upstream (for `http2` and `grpc` clusters) through node:http2: one client session per (endpoint,
 * client) over one HBONE tunnel, multiplexing that client's requests, closed after a minute without
 * streams. Trailers (gRPC's status) come back with the response.
 */
import { type ClientHttp2Session, connect, constants, type OutgoingHttpHeaders } from 'node:http2';
import type { HeaderMap } from '../pipeline/headers.ts';
import { type ConnectionSettings, DEFAULT_CONNECTION_SETTINGS, settingsKey } from './connection-settings.ts';
import {
  connectFailure,
  type UpstreamClient,
  UpstreamFailure,
  type UpstreamRequest,
  type UpstreamResponse,
} from './exchange.ts';
import { UPSTREAM_IDLE_MS, upstreamKey } from './pool-key.ts';
import { type TunnelTarget, targetOrigin, type UpstreamTunnels } from './tunnels.ts';

export class Http2Upstream implements UpstreamClient {
  readonly #tunnels: UpstreamTunnels;
  readonly #sessions = new Map<string, Promise<ClientHttp2Session>>();
  /** Streams each session has carried, for `maxRequestsPerConnection`. */
  readonly #streams = new WeakMap<ClientHttp2Session, number>();
  /** Takes a session out of the map (if it is still the one there), so that new requests open another. */
  readonly #forget = new WeakMap<ClientHttp2Session, () => void>();

  constructor(tunnels: UpstreamTunnels) {
    this.#tunnels = tunnels;
  }

  async send(request: UpstreamRequest): Promise<UpstreamResponse> {
    const settings = request.connection ?? DEFAULT_CONNECTION_SETTINGS;
    const key = `${upstreamKey(request.target)}|${settingsKey(settings)}`;
    let session = await this.#session(key, request.target, settings);
    // A session another request retired meanwhile (it carried its share) is not used: the next one is.
    while (!this.#take(session, settings)) session = await this.#session(key, request.target, settings);
    const headers: OutgoingHttpHeaders = {
      ...request.headers,
      [constants.HTTP2_HEADER_METHOD]: request.method,
      [constants.HTTP2_HEADER_PATH]: request.path,
      [constants.HTTP2_HEADER_AUTHORITY]: request.authority,
      [constants.HTTP2_HEADER_SCHEME]: 'http',
    };
    let stream: ReturnType<ClientHttp2Session['request']>;
    try {
      stream = session.request(headers, { endStream: request.body === undefined, signal: request.signal });
    } catch (error) {
      throw new UpstreamFailure('UC', `upstream session unusable: ${(error as Error).message}`, {
        cause: error,
      });
    }
    request.body?.pipe(stream);
    return new Promise((resolve, reject) => {
      const trailers = new Promise<HeaderMap>((resolveTrailers) => {
        stream.once('trailers', (received) => resolveTrailers(received as HeaderMap));
        stream.once('close', () => resolveTrailers({}));
      });
      stream.once('response', (received) => {
        const { [constants.HTTP2_HEADER_STATUS]: status, ...rest } = received;
        resolve({ status: Number(status), headers: rest as HeaderMap, body: stream, trailers });
      });
      stream.on('error', (error) =>
        reject(new UpstreamFailure('UR', `upstream reset the stream: ${error.message}`, { cause: error })),
      );
      stream.once('close', () =>
        reject(new UpstreamFailure('UR', `upstream closed the stream (code ${stream.rstCode})`)),
      );
    });
  }

  async close(): Promise<void> {
    const sessions = [...this.#sessions.values()];
    this.#sessions.clear();
    await Promise.all(
      sessions.map((pending) =>
        pending.then(
          (s) => s.destroy(),
          () => undefined,
        ),
      ),
    );
  }

  /**
   * Counts a stream on `session`, false when it may carry no more. The one that reaches its share is retired
   * at once: out of the map, and closed gracefully (its open streams, this one included, finish).
   */
  #take(session: ClientHttp2Session, settings: ConnectionSettings): boolean {
    const max = settings.maxRequestsPerConnection;
    const carried = this.#streams.get(session) ?? 0;
    if (session.closed || session.destroyed || (max > 0 && carried >= max)) return false;
    this.#streams.set(session, carried + 1);
    if (max > 0 && carried + 1 >= max) {
      this.#forget.get(session)?.();
      // After this turn, once the caller has opened its stream on it.
      queueMicrotask(() => session.close());
    }
    return true;
  }

  #session(key: string, target: TunnelTarget, settings: ConnectionSettings): Promise<ClientHttp2Session> {
    const existing = this.#sessions.get(key);
    if (existing) return existing;
    const pending = this.#tunnels.open(target, settings.connectTimeoutMs).then(
      (tunnel) => {
        const session = connect(targetOrigin(target), {
          createConnection: () => tunnel,
        });
        const forget = () => {
          if (this.#sessions.get(key) === pending) this.#sessions.delete(key);
        };
        this.#forget.set(session, forget);
        session.on('error', forget);
        session.once('close', forget);
        session.once('goaway', forget);
        session.setTimeout(settings.idleTimeoutMs ?? UPSTREAM_IDLE_MS, () => {
          forget();
          session.close();
        });
        return session;
      },
      (error: Error) => {
        this.#sessions.delete(key);
        throw connectFailure(error);
      },
    );
    this.#sessions.set(key, pending);
    return pending;
  }
}
