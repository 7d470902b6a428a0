/**
 * Inbound HBONE (15008 in each pod): a CONNECT from an authenticated peer. The target must be this pod;
 * L4 authorization decides with the peer's verified identity; then the app port is dialled from inside the
 * pod (from the original client's IP when possible) and the stream spliced to it. 403 when denied, 503
 * when the app port refuses, 400 when the CONNECT is not for this pod.
 */
import type { Socket } from 'node:net';
import { errorMessage } from '../../core/errors.ts';
import { parseBaggage } from '../../core/hbone/headers.ts';
import { type HboneRequest, respond } from '../../core/hbone/server.ts';
import { canonicalIp } from '../../core/net/ip.ts';
import { abort, splice } from '../../core/net/splice.ts';
import { admitTunnel, connectTcp, type PodContext, type ProxyContext } from './context.ts';
import { targetsOwnListener } from './loop-guard.ts';

export async function handleInbound(
  ctx: ProxyContext,
  pod: PodContext,
  request: HboneRequest,
): Promise<void> {
  const { stream } = request;
  const workload = ctx.state.workloadByUid(pod.uid);
  if (!workload) {
    respond(stream, 503);
    return;
  }
  const target = canonicalIp(request.targetIp);
  if (!workload.ips.some((ip) => canonicalIp(ip) === target)) {
    // This listener serves its own pod only: anything else would make it an open relay.
    ctx.log.warn('CONNECT for an address that is not this pod; refused', {
      pod: pod.uid,
      authority: `${request.targetIp}:${request.targetPort}`,
      peer: request.peerIdentity,
    });
    respond(stream, 400);
    return;
  }
  // The target is this pod: its ztunnel ports are ours, and dialling them would relay the tunnel to ourselves.
  if (targetsOwnListener({ ip: request.targetIp, port: request.targetPort }, () => true)) {
    ctx.refused('hbone', 'own-listener', {
      pod: pod.uid,
      authority: `${request.targetIp}:${request.targetPort}`,
      peer: request.peerIdentity,
    });
    respond(stream, 400);
    return;
  }
  // Who the client is: the tunnel's peer, or, behind this pod's waypoint, the client the waypoint says it
  // serves. A waypoint bound to other workloads is a client like any other here: trusting its `forwarded`
  // would let it pose as any source towards workloads whose policy it does not enforce.
  const peer = ctx.state.workloadByIp(request.peerIp);
  const fromWaypoint =
    peer !== undefined && peer.identity === request.peerIdentity && ctx.state.isWaypointFor(peer, workload);
  const client =
    fromWaypoint && request.forwardedFor
      ? request.forwardedFor
      : { ip: request.peerIp, port: request.peerPort };
  const clientWorkload = ctx.state.workloadByIp(client.ip);
  const baggage = clientWorkload ? undefined : parseBaggage(request.baggage);
  if (!admitTunnel(ctx, 'hbone', pod.uid, { peer: request.peerIdentity })) {
    respond(stream, 503);
    return;
  }
  const connection = ctx.tracker.open({
    pod: pod.uid,
    direction: 'inbound',
    mode: 'hbone',
    sourceIp: client.ip,
    sourcePort: client.port,
    destinationIp: request.targetIp,
    destinationPort: request.targetPort,
    hboneTarget: `${request.targetIp}:${request.targetPort}`,
    parties: {
      reporter: 'destination',
      // A workload found by IP is named only if its identity is the one that authenticated.
      source:
        clientWorkload && (clientWorkload.identity === request.peerIdentity || fromWaypoint)
          ? clientWorkload
          : baggage?.canonicalName
            ? { ...derivedWorkload(baggage), identity: request.peerIdentity }
            : undefined,
      sourceIdentity: request.peerIdentity,
      destination: workload,
      destinationIdentity: workload.identity,
      securityPolicy: 'mutual_tls',
    },
  });
  const decision = ctx.state.authorize(workload, {
    sourceIp: client.ip,
    sourceIdentity: request.peerIdentity,
    destinationIp: request.targetIp,
    destinationPort: request.targetPort,
  });
  if (!decision.allowed) {
    respond(stream, 403);
    const by = decision.policy
      ? `${decision.policy.namespace}/${decision.policy.name}`
      : 'no ALLOW policy matched';
    ctx.tracker.close(connection, 'Denied', `denied (${decision.reason}: ${by})`);
    return;
  }
  let app: Socket;
  try {
    app = await connectTcp(
      pod.sockets,
      {
        ip: request.targetIp,
        port: request.targetPort,
        sourceIp: ctx.preserveSourceIp ? client.ip : undefined,
      },
      ctx.timeouts.tcpConnectMs,
    );
  } catch (error) {
    respond(stream, 503);
    ctx.tracker.close(connection, 'UpstreamConnectFailure', errorMessage(error));
    return;
  }
  respond(stream, 200);
  connection.cancel = () => {
    abort(stream);
    abort(app);
  };
  const result = await splice(stream, app, connection.counters);
  ctx.tracker.close(connection, undefined, result.error);
}

/** A stand-in workload from the client's baggage, for telemetry only (never for policy). */
function derivedWorkload(baggage: ReturnType<typeof parseBaggage>) {
  return {
    uid: '',
    name: baggage.podName ?? 'unknown',
    namespace: baggage.namespace ?? 'unknown',
    node: '',
    ips: [],
    serviceAccount: '',
    labels: {},
    enrolled: true,
    canonicalName: baggage.canonicalName ?? 'unknown',
    canonicalRevision: baggage.canonicalRevision ?? 'unknown',
  };
}
