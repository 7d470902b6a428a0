/** The ztunnel's ports (the same numbers as Istio ambient) and tunables, with Istio's defaults. */
export const ZTUNNEL_PORTS = {
  outbound: 15001,
  inboundPlaintext: 15006,
  hbone: 15008,
  dns: 15053,
  admin: 15000,
  metrics: 15020,
  readiness: 15021,
} as const;

/**
 * Node flags for the ztunnel process. A small young generation keeps the copy loop's short-lived buffers in
 * cache: measured on the HBONE benchmark, 1 MiB semi-spaces moved ~30-40% more bytes per CPU second than
 * Node 24's default and lowered RSS (see bench/hbone-throughput.ts, `--node-args`).
 */
export const ZTUNNEL_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

/** Mark on every socket the ztunnel opens inside a pod, so that the pod's rules never capture it again. */
export const ZTUNNEL_SOCKET_MARK = 0x539;

export interface TimeoutSettings {
  /** TLS handshake (both directions), and the time a client has to send its first CONNECT. */
  handshakeMs: number;
  /** Waiting for the CONNECT response (200/403/503). */
  connectResponseMs: number;
  /** Opening a TCP connection (to a peer's 15008, to the app, to a passthrough destination). */
  tcpConnectMs: number;
  /** A proxied connection with no bytes either way for this long is closed. */
  idleMs: number;
  /** How long a new pod's connections wait for its workload to appear in the config before failing closed. */
  workloadWaitMs: number;
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

export const DEFAULT_TIMEOUTS: TimeoutSettings = {
  handshakeMs: 10_000,
  connectResponseMs: 10_000,
  tcpConnectMs: 10_000,
  idleMs: 60 * 60_000,
  workloadWaitMs: 5_000,
};

export const DEFAULT_POOL: PoolSettings = {
  maxStreamsPerConnection: 100,
  idleReleaseMs: 5 * 60_000,
  streamWindowBytes: 4 * 1024 * 1024,
  connectionWindowBytes: 16 * 1024 * 1024,
};
