/**
 * Outbound (15001 in each pod): a connection the pod's app opened, captured by REDIRECT. Recover where the
 * app meant to go, ask the state how to get there, and carry the bytes: in an HBONE tunnel presenting the
 * source workload's certificate (to the destination pod, or to its waypoint), or straight (passthrough,
 * from a marked socket) when the destination is not in the mesh. A failure closes the app's connection
 * with a reset, promptly, and is counted.
 */
import type { Socket } from 'node:net';
import { HboneError } from '../../core/hbone/errors.ts';
import { baggageFor, forwardedFor } from '../../core/hbone/headers.ts';
import type { Workload } from '../../core/model/index.ts';
import { abort } from '../../core/net/splice.ts';
import { chooseOutbound, type OutboundChoice } from '../state/destination.ts';
import { admitTunnel, connectTcp, type PodContext, type ProxyContext } from './context.ts';
import { captured, carry, loopRefused } from './relay.ts';

const baggageCache = new WeakMap<Workload, string>();

export async function handleOutbound(ctx: ProxyContext, pod: PodContext, app: Socket): Promise<void> {
  const { sourceIp, sourcePort, target } = captured(ctx, app);
  if (!target) {
    ctx.log.warn('outbound connection without an original destination; closing', {
      pod: pod.uid,
      src: sourceIp,
    });
    abort(app);
    return;
  }
  if (loopRefused(ctx, 'outbound', pod, app, target)) {
    abort(app);
    return;
  }
  const source = await ctx.state.waitForWorkload(pod.uid, ctx.timeouts.workloadWaitMs);
  if (!source) {
    // Fail closed: without the pod's config we cannot tunnel, and passing it through would leak plaintext.
    ctx.log.warn('outbound connection from a pod without config; closing', { pod: pod.uid, dst: target.ip });
    abort(app);
    return;
  }
  const choice = chooseOutbound(ctx.state, target.ip, target.port);
  if (choice.kind === 'reject' && choice.reason === 'not-in-registry') {
    // REGISTRY_ONLY: refused before any tunnel or connection exists, counted and logged by reason.
    ctx.refused('outbound', choice.reason, {
      pod: pod.uid,
      src: sourceIp,
      dst: `${target.ip}:${target.port}`,
    });
    abort(app);
    return;
  }
  if (!admitTunnel(ctx, 'outbound', pod.uid, { src: sourceIp, dst: `${target.ip}:${target.port}` })) {
    abort(app);
    return;
  }
  const connection = ctx.tracker.open({
    pod: pod.uid,
    direction: 'outbound',
    mode:
      choice.kind === 'hbone'
        ? choice.viaWaypoint
          ? 'waypoint'
          : 'hbone'
        : choice.kind === 'passthrough'
          ? 'passthrough'
          : 'direct',
    sourceIp,
    sourcePort,
    destinationIp: target.ip,
    destinationPort: target.port,
    hboneTarget: choice.kind === 'hbone' ? choice.authority : undefined,
    parties: {
      reporter: 'source',
      source,
      sourceIdentity: source.identity,
      destination: choice.destination.workload,
      destinationService: choice.destination.service,
      destinationIdentity: choice.kind === 'hbone' ? choice.peerIdentity : undefined,
      securityPolicy: choice.kind === 'hbone' ? 'mutual_tls' : 'unknown',
    },
  });
  await carry(
    { ctx, connection, downstream: app },
    () => openUpstream(ctx, pod, source, choice, sourceIp, sourcePort),
    (error) => (error instanceof HboneError ? error.failure : 'UpstreamConnectFailure'),
  );
}

async function openUpstream(
  ctx: ProxyContext,
  pod: PodContext,
  source: Workload,
  choice: OutboundChoice,
  sourceIp: string,
  sourcePort: number,
) {
  switch (choice.kind) {
    case 'reject':
      throw Object.assign(new Error(`no destination: ${choice.reason}`), { code: choice.reason });
    case 'passthrough':
      return connectTcp(pod.sockets, { ip: choice.ip, port: choice.port }, ctx.timeouts.tcpConnectMs);
    case 'hbone': {
      let baggage = baggageCache.get(source);
      if (baggage === undefined) {
        baggage = baggageFor(source);
        baggageCache.set(source, baggage);
      }
      return ctx.pool.connect({
        sourceIdentity: source.identity,
        peerIdentity: choice.peerIdentity,
        peerIp: choice.peerIp,
        peerPort: choice.peerPort,
        sourceKey: pod.uid,
        authority: choice.authority,
        headers: { forwarded: forwardedFor(sourceIp, sourcePort), baggage },
        dial: () => pod.sockets.connect({ ip: choice.peerIp, port: choice.peerPort }),
      });
    }
  }
}
