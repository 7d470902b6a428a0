import { parseBaggage } from '../../core/hbone/headers.ts';
import { type HboneRequest, respond } from '../../core/hbone/server.ts';
import { canonicalIp } from '../../core/net/ip.ts';
import { admitTunnel, type PodContext, type ProxyContext } from './context.ts';
import { targetsOwnListener } from './loop-guard.ts';
import { authorizeAndDeliver, type Relay, refuse } from './relay.ts';

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
  const relay: Relay = {
    ctx,
    connection,
    downstream: stream,
    reject: (failure) => respond(stream, failure === 'Denied' ? 403 : 503),
    accept: () => respond(stream, 200),
  };
  // Traffic that must pass a waypoint is accepted only from it (fail closed; Istio fails open here).
  // The peer found by IP counts only if it is the identity that authenticated.
  const bypassed = ctx.state.bypassedWaypoint(
    peer?.identity === request.peerIdentity ? peer : undefined,
    workload,
    request.targetPort,
  );
  if (bypassed) {
    refuse(
      relay,
      'Denied',
      `refused: port ${request.targetPort} is served through waypoint ${bypassed.namespace}/${bypassed.name}, which this peer is not`,
    );
    return;
  }
  await authorizeAndDeliver(relay, pod, workload, {
    sourceIp: client.ip,
    sourceIdentity: request.peerIdentity,
    destinationIp: request.targetIp,
    destinationPort: request.targetPort,
  });
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
