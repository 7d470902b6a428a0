/**
 * HTTP/1.1 upstream through undici: one `Pool` per (endpoint, client), whose connections are HBONE tunnels
 * (undici's `connect` option hands it the tunnel's stream as its socket), kept alive and reused across
 * requests, within the cluster's connection settings (connect timeout, requests per connection, idle
 * timeout). Pools idle for a minute are closed.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Pool } from 'undici';
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

/** Connections one pool may open to one endpoint for one client (Envoy's default is effectively unlimited). */
const MAX_CONNECTIONS_PER_POOL = 256;

interface PoolEntry {
  pool: Pool;
  lastUsed: number;
}

export class Http1Upstream implements UpstreamClient {
  readonly #tunnels: UpstreamTunnels;
  readonly #pools = new Map<string, PoolEntry>();
  readonly #sweeper: NodeJS.Timeout;

  constructor(tunnels: UpstreamTunnels) {
    this.#tunnels = tunnels;
    this.#sweeper = setInterval(() => this.#sweep(), UPSTREAM_IDLE_MS);
    this.#sweeper.unref();
  }

  async send(request: UpstreamRequest): Promise<UpstreamResponse> {
    const settings = request.connection ?? DEFAULT_CONNECTION_SETTINGS;
    const pool = this.#pool(request.target, settings);
    const headers: HeaderMap = { ...request.headers, host: request.authority };
    let response: Awaited<ReturnType<Pool['request']>>;
    try {
      response = await pool.request({
        method: request.method as 'GET',
        path: request.path,
        headers: headers as Record<string, string | string[]>,
        body: request.body ?? null,
        signal: request.signal,
        // `maxRequestsPerConnection: 1` disables keep-alive: the connection closes after this request.
        reset: settings.maxRequestsPerConnection === 1,
        // Timeouts are the route's to set (issue 12); the waypoint bounds idle tunnels instead.
        headersTimeout: 0,
        bodyTimeout: 0,
      });
    } catch (error) {
      throw error instanceof UpstreamFailure
        ? error
        : new UpstreamFailure('UC', `upstream connection terminated: ${(error as Error).message}`, {
            cause: error,
          });
    }
    const { body } = response;
    return {
      status: response.statusCode,
      headers: response.headers as HeaderMap,
      body,
      trailers: new Promise((resolve) => {
        body.once('end', () => resolve(response.trailers as HeaderMap));
        body.once('close', () => resolve({}));
      }),
    };
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((entry) => entry.pool.destroy().catch(() => undefined)));
  }

  #pool(target: TunnelTarget, settings: ConnectionSettings): Pool {
    const key = `${upstreamKey(target)}|${settingsKey(settings)}`;
    let entry = this.#pools.get(key);
    if (entry === undefined) {
      const tunnels = this.#tunnels;
      const pool = new Pool(targetOrigin(target), {
        connections: MAX_CONNECTIONS_PER_POOL,
        pipelining: 1,
        // undici retires a connection after the request that finds `maxRequestsPerClient` already sent on
        // it (so one more than the number); 1 is each request's own `reset` below, 0 is unlimited.
        ...(settings.maxRequestsPerConnection > 1 && {
          maxRequestsPerClient: settings.maxRequestsPerConnection - 1,
        }),
        ...(settings.idleTimeoutMs !== undefined && {
          keepAliveTimeout: settings.idleTimeoutMs,
          keepAliveMaxTimeout: settings.idleTimeoutMs,
        }),
        connect: (_options, callback) => {
          tunnels.open(target, settings.connectTimeoutMs).then(
            // undici drives any duplex as its socket; its type names net.Socket.
            (stream) => callback(null, stream as Duplex as Socket),
            (error: Error) => callback(connectFailure(error), null),
          );
        },
      });
      entry = { pool, lastUsed: Date.now() };
      this.#pools.set(key, entry);
    }
    entry.lastUsed = Date.now();
    return entry.pool;
  }

  #sweep(): void {
    const cutoff = Date.now() - UPSTREAM_IDLE_MS;
    for (const [key, entry] of this.#pools) {
      if (entry.lastUsed < cutoff) {
        this.#pools.delete(key);
        entry.pool.close().catch(() => undefined);
      }
    }
  }
}
