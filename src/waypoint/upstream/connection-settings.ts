/**
 * What a cluster's `DestinationRule` `connectionPool` says about the connections (HBONE tunnels) that carry
 * its requests: how long opening one may take (`tcp.connectTimeout`, Istio's default 10 s), how many
 * requests one carries before it is retired (`http.maxRequestsPerConnection`: 0 unlimited, 1 disables
 * keep-alive), and how long it may sit idle (`http.idleTimeout`, else `tcp.idleTimeout`; unset keeps the
 * upstream clients' own idle handling). Connections are pooled per settings too, so two clusters with
 * different settings toward one endpoint never share one.
 */
import type { ConnectionPoolSettings } from '../../core/config/kinds/istio-networking.ts';

export interface ConnectionSettings {
  connectTimeoutMs: number;
  /** 0: unlimited. */
  maxRequestsPerConnection: number;
  idleTimeoutMs?: number | undefined;
}

/** Envoy's and Istio's `connect_timeout` default. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export const DEFAULT_CONNECTION_SETTINGS: ConnectionSettings = {
  connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS,
  maxRequestsPerConnection: 0,
};

export function connectionSettings(pool: ConnectionPoolSettings | undefined): ConnectionSettings {
  if (pool === undefined) return DEFAULT_CONNECTION_SETTINGS;
  // An idle timeout of 0 is "none" in Istio's API, as unset is.
  const idle = pool.http?.idleTimeout ?? pool.tcp?.idleTimeout;
  return {
    connectTimeoutMs: pool.tcp?.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS,
    maxRequestsPerConnection: pool.http?.maxRequestsPerConnection ?? 0,
    idleTimeoutMs: idle === undefined || idle === 0 ? undefined : idle,
  };
}

/** Part of an upstream pool's key: pools with other settings are other pools. */
export function settingsKey(settings: ConnectionSettings): string {
  return `${settings.connectTimeoutMs}/${settings.maxRequestsPerConnection}/${settings.idleTimeoutMs ?? '-'}`;
}
