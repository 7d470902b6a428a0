/**
 * Relay-loop prevention, one rule for every listener: the ztunnel never treats its own listeners as a
 * destination. A captured connection whose original destination is the very address it was accepted on was
 * never redirected by our rules (the kernel's `SO_ORIGINAL_DST` answers with the connection's own tuple for
 * those), and a destination on one of the ztunnel's ports at an address it serves (loopback, a local or
 * mesh workload address) would reach the ztunnel again; either way, relaying it makes one connection
 * become an endless chain of them. Pure decisions; the handlers refuse and count.
 */
import { canonicalIp, parseIp } from '../../core/net/ip.ts';
import { ZTUNNEL_PORTS } from '../../core/ports.ts';

/** `not-redirected`: the app dialled the listener itself; `own-listener`: the target is one of our ports. */
export type LoopRefusal = 'not-redirected' | 'own-listener';

export interface Endpoint {
  ip: string;
  port: number;
}

/**
 * The ports the ztunnel listens on inside every pod it serves. Its admin, metrics and readiness ports live
 * in the node's namespace, not at pod addresses: a pod's own 15020 (a waypoint's metrics) is a real target.
 */
const OWN_PORTS: ReadonlySet<number> = new Set([
  ZTUNNEL_PORTS.outbound,
  ZTUNNEL_PORTS.inboundPlaintext,
  ZTUNNEL_PORTS.hbone,
  ZTUNNEL_PORTS.dns,
]);

/**
 * Why a connection accepted on `local` (the listener's address and port) must not be relayed to `target`
 * (its original destination), or undefined. `servesIp` says whether an address has ztunnel listeners (a pod
 * of the mesh).
 */
export function captureLoop(
  local: Endpoint,
  target: Endpoint,
  servesIp: (ip: string) => boolean,
): LoopRefusal | undefined {
  if (target.port === local.port && sameIp(target.ip, local.ip)) return 'not-redirected';
  return targetsOwnListener(target, servesIp) ? 'own-listener' : undefined;
}

/** Whether `target` is a port of the ztunnel at an address where it listens (or where it is local). */
export function targetsOwnListener(target: Endpoint, servesIp: (ip: string) => boolean): boolean {
  if (!OWN_PORTS.has(target.port)) return false;
  const ip = parseIp(target.ip);
  // Not an address: nothing we could dial; the caller's own checks refuse it.
  if (!ip) return false;
  return isLoopbackOrUnspecified(ip.family, ip.bytes) || servesIp(target.ip);
}

function sameIp(a: string, b: string): boolean {
  const left = canonicalIp(a);
  return left !== undefined && left === canonicalIp(b);
}

function isLoopbackOrUnspecified(family: 4 | 6, bytes: Uint8Array): boolean {
  if (family === 4) return bytes[0] === 127 || bytes.every((byte) => byte === 0);
  // ::1 and ::
  for (let i = 0; i < 15; i++) if (bytes[i] !== 0) return false;
  return bytes[15] === 0 || bytes[15] === 1;
}
