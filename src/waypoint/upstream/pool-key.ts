/**
 * Upstream connections are kept per endpoint and original client: an HBONE tunnel's `forwarded` header
 * names one client, so requests of different clients never share a tunnel (the destination ztunnel would
 * report and authorize the wrong caller).
 */
import { type TunnelTarget, targetHost } from './tunnels.ts';

export function upstreamKey(target: TunnelTarget): string {
  return `${targetHost(target)}:${target.port}|${target.identity}|${target.client.ip}|${target.authority ?? ''}`;
}

/** How long an upstream client for one (endpoint, client) may sit unused before it is closed. */
export const UPSTREAM_IDLE_MS = 60_000;
