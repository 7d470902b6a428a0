/**
 * Inbound plaintext (15006 in each pod): a connection to the pod from a client outside the mesh, captured
 * by REDIRECT. Allowed only where PeerAuthentication leaves the port PERMISSIVE (or DISABLE); authorization
 * still applies, without a peer identity. Counted with `connection_security_policy="unknown"`.
 */
import type { Socket } from 'node:net';
import { errorMessage } from '../../core/errors.ts';
import type { Failure } from '../../core/failure.ts';
import { canonicalIp, plainAddress } from '../../core/net/ip.ts';
import { abort, splice } from '../../core/net/splice.ts';
import { admitTunnel, connectTcp, type PodContext, type ProxyContext, servesIp } from './context.ts';
import { captureLoop } from './loop-guard.ts';

export async function handleInboundPlaintext(
  ctx: ProxyContext,
  pod: PodContext,
  client: Socket,
): Promise<void> {
  client.on('error', () => {
    // Reported by the splice, or moot if we never get that far.
  });
  const clientIp = plainAddress(client.remoteAddress);
  const clientPort = client.remotePort ?? 0;
  const target = ctx.originalDestination(client);
  const loop =
    target &&
    captureLoop({ ip: plainAddress(client.localAddress), port: client.localPort ?? 0 }, target, (ip) =>
      servesIp(ctx, ip),
    );
  if (target && loop) {
    ctx.refused('inbound-plaintext', loop, {
      pod: pod.uid,
      src: clientIp,
      dst: `${target.ip}:${target.port}`,
    });
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
  const refuse = (failure: Failure, why: string) => {
    abort(client);
    ctx.tracker.close(connection, failure, why);
  };
  if (!workload.ips.some((ip) => canonicalIp(ip) === canonicalIp(target.ip))) {
    refuse('Denied', `destination ${target.ip} is not this pod`);
    return;
  }
  if (ctx.state.mtlsMode(workload, target.port) === 'STRICT') {
    refuse('Denied', 'plaintext refused: PeerAuthentication STRICT');
    return;
  }
  const decision = ctx.state.authorize(workload, {
    sourceIp: clientIp,
    destinationIp: target.ip,
    destinationPort: target.port,
  });
  if (!decision.allowed) {
    refuse(
      'Denied',
      `denied (${decision.reason}${decision.policy ? `: ${decision.policy.namespace}/${decision.policy.name}` : ''})`,
    );
    return;
  }
  let app: Socket;
  try {
    app = await connectTcp(
      pod.sockets,
      { ip: target.ip, port: target.port, sourceIp: ctx.preserveSourceIp ? clientIp : undefined },
      ctx.timeouts.tcpConnectMs,
    );
  } catch (error) {
    refuse('UpstreamConnectFailure', errorMessage(error));
    return;
  }
  connection.cancel = () => {
    abort(client);
    abort(app);
  };
  const result = await splice(client, app, connection.counters);
  ctx.tracker.close(connection, undefined, result.error);
}
