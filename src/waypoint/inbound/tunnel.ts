/**
 * What happens to one inbound HBONE tunnel: find the served service port its `:authority` names (a tunnel
 * for anything this waypoint does not serve is refused with 503: never passed through unexamined), accept
 * it, decide the wire (the port's declared protocol, or detection from the first bytes), and hand the
 * stream to the HTTP/1.1 server, the HTTP/2 server or the TCP proxy.
 */
import type { Duplex } from 'node:stream';
import { type HboneRequest, respond } from '../../core/hbone/server.ts';
import type { TunnelContext } from '../engine.ts';
import type { WaypointMetrics } from '../metrics.ts';
import type { WaypointState } from '../state.ts';
import type { InboundHttpServers } from './http-servers.ts';
import { declaredWire, type WireProtocol } from './protocol.ts';
import { sniffProtocol } from './sniff.ts';

/** How long a `detect` port waits for the client's first bytes before treating it as TCP (Envoy: 5 s). */
export const DETECTION_TIMEOUT_MS = 5_000;

export interface TunnelDependencies {
  state(): WaypointState | undefined;
  servers: InboundHttpServers;
  tcp(stream: Duplex, tunnel: TunnelContext): Promise<void>;
  metrics: WaypointMetrics;
}

export async function acceptTunnel(request: HboneRequest, deps: TunnelDependencies): Promise<void> {
  const state = deps.state();
  const target = state?.target(request.targetIp, request.targetPort);
  if (state === undefined || target === undefined) {
    deps.metrics.refused.inc({ reason: 'not-served' });
    respond(request.stream, 503);
    return;
  }
  respond(request.stream, 200);
  const declared = declaredWire(target.port.protocol);
  const wire: WireProtocol =
    declared === 'detect' ? await sniffProtocol(request.stream, DETECTION_TIMEOUT_MS) : declared;
  await serveStream(request.stream, wire, deps, {
    state,
    target,
    destinationIp: request.targetIp,
    destinationPort: request.targetPort,
    peerIdentity: request.peerIdentity,
    client: request.forwardedFor ?? { ip: request.peerIp, port: request.peerPort },
  });
}

/**
 * Hands an accepted stream to what reads its wire: the HTTP/1.1 server, the HTTP/2 server or the TCP proxy.
 * Tunnels come here, and so do an ingress gateway's downstream connections.
 */
export async function serveStream(
  stream: Duplex,
  wire: WireProtocol,
  deps: Pick<TunnelDependencies, 'servers' | 'tcp'>,
  caller: Omit<TunnelContext, 'source' | 'wire'>,
): Promise<void> {
  const tunnel: TunnelContext = {
    ...caller,
    source: caller.state.workloadByIp(caller.client.ip),
    wire: wire === 'http2' ? 'http2' : 'http1',
  };
  if (wire === 'http1') deps.servers.serveHttp1(stream, tunnel);
  else if (wire === 'http2') deps.servers.serveHttp2(stream, tunnel);
  else await deps.tcp(stream, tunnel);
}
