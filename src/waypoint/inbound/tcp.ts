/**
 * Traffic the waypoint proxies as bytes (a `tcp` port, or a `detect` port whose client spoke no HTTP): L4
 * authorization (the L7 policies with HTTP-only fields treated as Istio does on TCP), the service port's
 * cluster, one endpoint by the cluster's policy, a tunnel to it, and the bidirectional copy. A DYNAMIC_DNS
 * entry's endpoint is dialled by the TLS ClientHello's server name (which must fall under the entry's
 * wildcard host); a connection without one is reset. Istio's four TCP metrics; bytes are counted once, when
 * the connection closes.
 */
import type { Duplex } from 'node:stream';
import { authorizeRequest } from '../../core/l7/authorize.ts';
import { chooseBackend, stringMatches } from '../../core/l7/match.ts';
import type { Cluster } from '../../core/l7/types.ts';
import { abort, splice } from '../../core/net/splice.ts';
import { type EndpointLoad, endpointKey } from '../balance/balancer.ts';
import { hash32 } from '../balance/hash.ts';
import type { TunnelContext } from '../engine.ts';
import { TLS_OPENING_TIMEOUT_MS } from '../gateway/client-hello.ts';
import { type PartyLabels, partyLabels, type WaypointMetrics } from '../metrics.ts';
import { requestAttributes } from '../pipeline/plan.ts';
import { connectionSettings } from '../upstream/connection-settings.ts';
import { DnsLookupError } from '../upstream/dns-cache.ts';
import { dynamicTarget, type TunnelTarget, type UpstreamTunnels } from '../upstream/tunnels.ts';
import { sniffClientHello } from './sniff.ts';

export interface TcpDependencies {
  tunnels: UpstreamTunnels;
  metrics: WaypointMetrics;
  load: EndpointLoad;
  random: () => number;
}

/**
 * Where bytes go: with `tcpRoutes` (an ingress gateway's TLS and TCP ports), the first route whose SNI
 * matchers accept the connection's server name, then a backend by weight (none matching, or an invalid
 * backend: nowhere); without, the served port's own cluster.
 */
export function tcpCluster(
  tunnel: Pick<TunnelContext, 'state' | 'target' | 'sni'>,
  random: () => number,
): Cluster | undefined {
  const { state, target } = tunnel;
  const routes = target.port.tcpRoutes;
  if (routes === undefined) return state.defaultCluster(target.service.hostname, target.port.port);
  const sni = tunnel.sni;
  const route = routes.find(
    (candidate) =>
      candidate.sni.length === 0 ||
      (sni !== undefined && candidate.sni.some((matcher) => stringMatches(matcher, sni))),
  );
  const backend = route ? chooseBackend(route.backends, random()) : undefined;
  return backend?.kind === 'cluster' ? state.cluster(backend.cluster) : undefined;
}

/** The server name of the ClientHello a client opens with; undefined for none (not TLS, no SNI, silence). */
async function clientServerName(stream: Duplex): Promise<string | undefined> {
  const hello = await sniffClientHello(stream, TLS_OPENING_TIMEOUT_MS);
  return hello.kind === 'clientHello' ? hello.serverName : undefined;
}

export async function proxyTcp(stream: Duplex, tunnel: TunnelContext, deps: TcpDependencies): Promise<void> {
  const { state, target } = tunnel;
  const { metrics } = deps;
  const labels = (
    flags: string,
    destination?: Parameters<typeof partyLabels>[0]['destination'],
  ): PartyLabels =>
    partyLabels(
      {
        source: tunnel.source,
        sourceIdentity: tunnel.peerIdentity,
        destination,
        destinationService: state.service(target.service.hostname) ?? target.service,
        protocol: 'tcp',
      },
      flags,
    );
  const refuse = (flags: string) => {
    const refused = labels(flags);
    metrics.tcpOpened.inc(refused);
    metrics.tcpClosed.inc(refused);
    abort(stream);
  };
  const decision = authorizeRequest(
    state.l4Authorization,
    target.service.hostname,
    requestAttributes(tunnel, undefined),
  );
  if (!decision.allowed) return refuse('DENY');
  const cluster = tcpCluster(tunnel, deps.random);
  if (cluster === undefined || cluster.problem !== undefined) return refuse('UH');
  const policy = cluster.policy.loadBalancer;
  const hash =
    policy.kind === 'consistentHash' && policy.hashOn.kind === 'sourceIp'
      ? hash32(tunnel.client.ip)
      : undefined;
  const endpoint = state.balancer(cluster).pick({ hash, random: deps.random });
  const destination = endpoint ? state.endpointWorkload(cluster, endpoint) : undefined;
  if (endpoint === undefined || destination === undefined) return refuse('UH');
  let upstreamTarget: TunnelTarget = {
    ip: endpoint.ip,
    port: endpoint.port,
    identity: destination.identity,
    client: tunnel.client,
    authority: endpoint.authority,
    external: endpoint.external,
  };
  if (endpoint.external?.resolve?.under !== undefined) {
    // A DYNAMIC_DNS entry's TLS port: the name to resolve is the ClientHello's SNI (read, never answered).
    const serverName = tunnel.sni ?? (await clientServerName(stream));
    if (serverName === undefined) {
      metrics.refused.inc({ reason: 'dns-no-sni' });
      return refuse('NR');
    }
    upstreamTarget = dynamicTarget(upstreamTarget, serverName, tunnel);
  }
  const done = deps.load.begin(endpointKey(endpoint));
  let upstream: Duplex;
  try {
    // Bounded by the cluster's connect timeout (Istio's 10 s default), as the HTTP paths' tunnels are.
    upstream = await deps.tunnels.open(
      upstreamTarget,
      connectionSettings(cluster.policy.connectionPool).connectTimeoutMs,
    );
  } catch (error) {
    done();
    // A bound on lookups refused it (`UO`), or it did not connect (a name outside the entry, no address).
    return refuse(error instanceof DnsLookupError && error.overflow ? 'UO' : 'UF');
  }
  const open = labels('-', destination);
  metrics.tcpOpened.inc(open);
  const counters = { upstream: 0, downstream: 0 };
  const result = await splice(stream, upstream, counters);
  done();
  const closed = result.error === undefined ? open : labels('UC', destination);
  metrics.tcpReceived.inc(open, counters.upstream);
  metrics.tcpSent.inc(open, counters.downstream);
  metrics.tcpClosed.inc(closed);
}
