/**
 * Outbound (15001 in each pod): a connection the pod's app opened, captured by REDIRECT. Recover where the
 * app meant to go, ask the state how to get there, and carry the bytes: in an HBONE tunnel presenting the
 * source workload's certificate (to the destination pod, or to its waypoint), or straight (passthrough,
 * from a marked socket) when the destination is not in the mesh. A failure closes the app's connection
 * with a reset, promptly, and is counted.
 */
import type { Socket } from 'node:net';
import { errorMessage } from '../../core/errors.ts';
import { HboneError } from '../../core/hbone/errors.ts';
import { baggageFor, forwardedFor } from '../../core/hbone/headers.ts';
import type { Workload } from '../../core/model/index.ts';
import { plainAddress } from '../../core/net/ip.ts';
import { abort, splice } from '../../core/net/splice.ts';
import { chooseOutbound, type OutboundChoice } from '../state/destination.ts';
import { admitTunnel, connectTcp, type PodContext, type ProxyContext, servesIp } from './context.ts';
import { captureLoop } from './loop-guard.ts';

const baggageCache = new WeakMap<Workload, string>();

export async function handleOutbound(ctx: ProxyContext, pod: PodContext, app: Socket): Promise<void> {
  app.on('error', () => {
    // Reported by the splice, or moot if we never get that far.
  });
  const sourceIp = plainAddress(app.remoteAddress);
  const sourcePort = app.remotePort ?? 0;
  const target = ctx.originalDestination(app);
  if (!target) {
    ctx.log.warn('outbound connection without an original destination; closing', {
      pod: pod.uid,
      src: sourceIp,
    });
    abort(app);
    return;
  }
  const loop = captureLoop({ ip: plainAddress(app.localAddress), port: app.localPort ?? 0 }, target, (ip) =>
    servesIp(ctx, ip),
  );
  if (loop) {
    ctx.refused('outbound', loop, { pod: pod.uid, src: sourceIp, dst: `${target.ip}:${target.port}` });
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
  let upstream: Awaited<ReturnType<typeof openUpstream>>;
  try {
    upstream = await openUpstream(ctx, pod, source, choice, sourceIp, sourcePort);
  } catch (error) {
    abort(app);
    const failure = error instanceof HboneError ? error.failure : 'UpstreamConnectFailure';
    ctx.tracker.close(connection, failure, errorMessage(error));
    return;
  }
  connection.cancel = () => {
    abort(app);
    abort(upstream);
  };
  const result = await splice(app, upstream, connection.counters);
  ctx.tracker.close(connection, undefined, result.error);
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
