/**
 * The skeleton the three L4 handlers (outbound, inbound HBONE, inbound plaintext) share once each knows
 * where the bytes go: refuse with a recorded failure, or open the upstream and copy both ways until both
 * sides close. How a refusal reaches the downstream differs (a TCP reset, a CONNECT status), so each
 * handler says it; everything else is here, once.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { errorMessage } from '../../core/errors.ts';
import type { Failure } from '../../core/failure.ts';
import type { Workload } from '../../core/model/index.ts';
import { plainAddress } from '../../core/net/ip.ts';
import { resetIfAbandoned } from '../../core/net/reset-if-abandoned.ts';
import { abort, splice } from '../../core/net/splice.ts';
import type { AuthorizationResult, ConnectionAttributes } from '../state/authorize.ts';
import type { TrackedConnection } from './connections.ts';
import { connectTcp, type Listener, type PodContext, type ProxyContext, servesIp } from './context.ts';
import { captureLoop } from './loop-guard.ts';

export interface Relay {
  ctx: ProxyContext;
  connection: TrackedConnection;
  /** The side that came to us: the app's socket, the client's, or the CONNECT stream. */
  downstream: Duplex;
  /** Tells the downstream it is refused (default: a reset). */
  reject?(failure: Failure): void;
  /** Tells the downstream its upstream is open (a CONNECT's 200), before any byte is copied. */
  accept?(): void;
}

/** A connection the pod's capture rules redirected to us: who sent it, and where it was going. */
export interface Captured {
  sourceIp: string;
  sourcePort: number;
  /** The original destination; undefined when the connection was not redirected. */
  target: { ip: string; port: number } | undefined;
}

/** Reads a captured socket's endpoints; its errors are left to the copy (or are moot if it is refused). */
export function captured(ctx: ProxyContext, socket: Socket): Captured {
  socket.on('error', () => {});
  return {
    sourceIp: plainAddress(socket.remoteAddress),
    sourcePort: socket.remotePort ?? 0,
    target: ctx.originalDestination(socket),
  };
}

/**
 * Whether relaying a captured connection to `target` would loop back into the ztunnel (it was never
 * redirected, or `target` is one of our own listeners); counts and logs the refusal when so. The caller
 * closes the socket.
 */
export function loopRefused(
  ctx: ProxyContext,
  listener: Listener,
  pod: PodContext,
  socket: Socket,
  target: { ip: string; port: number },
): boolean {
  const local = { ip: plainAddress(socket.localAddress), port: socket.localPort ?? 0 };
  const loop = captureLoop(local, target, (ip) => servesIp(ctx, ip));
  if (loop === undefined) return false;
  ctx.refused(listener, loop, {
    pod: pod.uid,
    src: plainAddress(socket.remoteAddress),
    dst: `${target.ip}:${target.port}`,
  });
  return true;
}

/** Refuses the connection: the downstream hears it, the tracker records the failure and why. */
export function refuse(relay: Relay, failure: Failure, reason: string): void {
  if (relay.reject) relay.reject(failure);
  else abort(relay.downstream);
  relay.ctx.tracker.close(relay.connection, failure, reason);
}

/**
 * Opens the upstream and copies both ways until both sides close; resolves when the connection is over
 * (never rejects). An upstream that cannot be opened is refused with `failureOf(error)`.
 */
export async function carry(
  relay: Relay,
  openUpstream: () => Promise<Duplex>,
  failureOf: (error: unknown) => Failure = () => 'UpstreamConnectFailure',
): Promise<void> {
  let upstream: Duplex;
  try {
    upstream = await openUpstream();
  } catch (error) {
    refuse(relay, failureOf(error), errorMessage(error));
    return;
  }
  relay.accept?.();
  // Should this process die, both ends hear a reset, never a clean end of a cut stream (fail closed).
  resetIfAbandoned(relay.downstream);
  resetIfAbandoned(upstream);
  relay.connection.cancel = () => {
    abort(relay.downstream);
    abort(upstream);
  };
  const result = await splice(relay.downstream, upstream, relay.connection.counters);
  relay.ctx.tracker.close(relay.connection, undefined, result.error);
}

/**
 * The end of both inbound paths: L4 authorization for the destination workload, then its app dialled from
 * inside the pod (from the client's own IP when the pod sockets allow it) and the bytes carried.
 */
export async function authorizeAndDeliver(
  relay: Relay,
  pod: PodContext,
  workload: Workload,
  attributes: ConnectionAttributes,
): Promise<void> {
  const { ctx } = relay;
  const decision = ctx.state.authorize(workload, attributes);
  if (!decision.allowed) {
    refuse(relay, 'Denied', denial(decision));
    return;
  }
  const sourceIp = ctx.preserveSourceIp ? attributes.sourceIp : undefined;
  await carry(relay, () =>
    connectTcp(
      pod.sockets,
      { ip: attributes.destinationIp, port: attributes.destinationPort, sourceIp },
      ctx.timeouts.tcpConnectMs,
    ),
  );
}

/** Why authorization refused, for the access log: the reason and the deciding policy. */
function denial(decision: AuthorizationResult): string {
  const by = decision.policy
    ? `${decision.policy.namespace}/${decision.policy.name}`
    : 'no ALLOW policy matched';
  return `denied (${decision.reason}: ${by})`;
}
