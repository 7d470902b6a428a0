/**
 * What one peer may make an HBONE listener hold, with safe defaults: streams per connection (the HTTP/2
 * `SETTINGS_MAX_CONCURRENT_STREAMS` we advertise, 100 like Istio, and enforced by the server's own stream
 * accounting whichever HTTP/2 implementation runs), streams per peer identity, connections per source IP,
 * connections still in their TLS handshake, TLS handshakes per source IP and second, and how long a
 * connection may sit without a stream.
 */
export interface HboneServerLimits {
  /** Concurrent CONNECT streams on one connection (advertised, and enforced). */
  maxStreamsPerConnection: number;
  /**
   * Concurrent streams of one peer identity over all its connections (shared by the servers given one
   * counter): one identity may not take a node's whole tunnel budget. A waypoint is one identity for all
   * the traffic it carries, so this stays well above what one client needs.
   */
  maxStreamsPerIdentity: number;
  /** Open TCP connections from one source IP to one listener. */
  maxConnectionsPerSourceIp: number;
  /** Connections accepted but not yet authenticated (TLS handshake under way), per listener. */
  maxHandshakes: number;
  /**
   * TLS handshakes one source IP may start per second (and at once, after a quiet second). A handshake is
   * the costliest thing an unauthenticated peer can ask for (a private-key signature on the listener's one
   * thread); a flood from one address would otherwise starve every tunnel. Peers pool their connections, so
   * a well-behaved one opens few.
   */
  maxHandshakesPerSourcePerSecond: number;
  /** An authenticated connection that carries no stream for this long is closed (Istio's pool: 5 minutes). */
  sessionIdleMs: number;
}

export const DEFAULT_HBONE_SERVER_LIMITS: HboneServerLimits = {
  maxStreamsPerConnection: 100,
  maxStreamsPerIdentity: 4_096,
  maxConnectionsPerSourceIp: 256,
  maxHandshakes: 256,
  maxHandshakesPerSourcePerSecond: 32,
  sessionIdleMs: 5 * 60_000,
};

/**
 * Counts by key against one maximum: `acquire` says whether another one fits (and takes it), `release`
 * gives it back. Keys whose count falls to zero are forgotten, so the map holds only what is in use.
 */
export class KeyedCounter {
  readonly max: number;
  readonly #counts = new Map<string, number>();

  constructor(max: number) {
    this.max = max;
  }

  acquire(key: string): boolean {
    const count = this.#counts.get(key) ?? 0;
    if (count >= this.max) return false;
    this.#counts.set(key, count + 1);
    return true;
  }

  release(key: string): void {
    const count = this.#counts.get(key);
    if (count === undefined) return;
    if (count <= 1) this.#counts.delete(key);
    else this.#counts.set(key, count - 1);
  }

  count(key: string): number {
    return this.#counts.get(key) ?? 0;
  }

  /** Keys in use now (for tests and admin views). */
  get size(): number {
    return this.#counts.size;
  }
}
