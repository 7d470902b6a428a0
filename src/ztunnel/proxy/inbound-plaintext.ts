/**
 * Inbound plaintext (15006 in each pod): a connection to the pod from a client outside the mesh, captured
 * by REDIRECT. Allowed only where PeerAuthentication leaves the port PERMISSIVE (or DISABLE); authorization
 * still applies, without a peer identity. Counted with `connection_security_policy="unknown"`.
 */
import type { Socket } from 'node:net';
import { canonicalIp } from '../../core/net/ip.ts';
import { abort } from '../../core/net/splice.ts';
import { admitTunnel, type PodContext, type ProxyContext } from './context.ts';
import { authorizeAndDeliver, captured, loopRefused, type Relay, refuse } from './relay.ts';

export async function handleInboundPlaintext(
  ctx: ProxyContext,
  pod: PodContext,
  client: Socket,
): Promise<void> {
  const { sourceIp: clientIp, sourcePort: clientPort, target } = captured(ctx, client);
  if (target && loopRefused(ctx, 'inbound-plaintext', pod, client, target)) {
    abort(client);
    return;
  }
  const workload = await ctx.state.waitForWorkload(pod.uid, ctx.timeouts.workloadWaitMs);
  if (!target || !workload) {
    ctx.log.warn('inbound plaintext connection without destination or pod config; closing', { pod: pod.uid });
    abort(client);
    return;
  }
  if (
    !admitTunnel(ctx, 'inbound-plaintext', pod.uid, { src: clientIp, dst: `${target.ip}:${target.port}` })
  ) {
    abort(client);
    return;
  }
  const connection = ctx.tracker.open({
    pod: pod.uid,
    direction: 'inbound-plaintext',
    mode: 'direct',
    sourceIp: clientIp,
    sourcePort: clientPort,
    destinationIp: target.ip,
    destinationPort: target.port,
    parties: {
      reporter: 'destination',
      source: ctx.state.workloadByIp(clientIp),
      destination: workload,
      destinationIdentity: workload.identity,
      securityPolicy: 'unknown',
    },
  });
  const relay: Relay = { ctx, connection, downstream: client };
  if (!workload.ips.some((ip) => canonicalIp(ip) === canonicalIp(target.ip))) {
    refuse(relay, 'Denied', `destination ${target.ip} is not this pod`);
    return;
  }
  const bypassed = ctx.state.bypassedWaypoint(undefined, workload, target.port);
  if (bypassed) {
    refuse(
      relay,
      'Denied',
      `plaintext refused: port ${target.port} is served through waypoint ${bypassed.namespace}/${bypassed.name}`,
    );
    return;
  }
  if (ctx.state.mtlsMode(workload, target.port) === 'STRICT') {
    refuse(relay, 'Denied', 'plaintext refused: PeerAuthentication STRICT');
    return;
  }
  await authorizeAndDeliver(relay, pod, workload, {
    sourceIp: clientIp,
    destinationIp: target.ip,
    destinationPort: target.port,
  });
}
