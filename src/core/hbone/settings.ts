/** The tunables of an HBONE client and server, with Istio's defaults. */

export interface HboneTimeouts {
  /** TLS handshake (both directions), and the time a client has to send its first CONNECT. */
  handshakeMs: number;
  /** Waiting for the CONNECT response (200/403/503). */
  connectResponseMs: number;
  /** Opening a TCP connection (to a peer's 15008, to the app, to a passthrough destination). */
  tcpConnectMs: number;
  /** A proxied connection with no bytes either way for this long is closed. */
  idleMs: number;
  /** On shutdown, how long live tunnels may run on after GOAWAY before they are cut (Istio: 5 s). */
  drainMs: number;
}

export interface PoolSettings {
  /** Streams per HBONE connection before the pool opens another one (Istio: 100). */
  maxStreamsPerConnection: number;
  /** An HBONE connection without streams for this long is closed (Istio: 5 minutes). */
  idleReleaseMs: number;
  /** HTTP/2 flow-control windows: per stream (Istio: 4 MiB) and per connection (Istio: 16 MiB). */
  streamWindowBytes: number;
  connectionWindowBytes: number;
}

export const DEFAULT_HBONE_TIMEOUTS: HboneTimeouts = {
  handshakeMs: 10_000,
  connectResponseMs: 10_000,
  tcpConnectMs: 10_000,
  idleMs: 60 * 60_000,
  drainMs: 5_000,
};

export const DEFAULT_POOL: PoolSettings = {
  maxStreamsPerConnection: 100,
  idleReleaseMs: 5 * 60_000,
  streamWindowBytes: 4 * 1024 * 1024,
  connectionWindowBytes: 16 * 1024 * 1024,
};
