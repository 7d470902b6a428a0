/**
 * Istio's classic Gateway (`networking.istio.io`) compiled into the same route table a Gateway API ingress
 * gateway gets, so one engine serves both. A gateway deployment (pods whose labels the Gateways' `selector`
 * picks, e.g. `istio: ingressgateway`) serves the servers of every Gateway selecting it, merged by port as
 * Envoy's listeners are: the first server on a port (Gateways by namespace/name, servers in order) sets the
 * port's protocol and TLS mode, and a server that disagrees is left out and reported. Per port:
 * - HTTP (HTTP, HTTP2, GRPC...): the `http` rules of the VirtualServices bound to the server's Gateway
 *   (`VirtualService.gateways`), for the hosts the server's `namespace/host` entries let through, each match
 *   narrowed to those hosts (Host header) and the most specific host first; no rule matching: 404; with
 *   `tls.httpsRedirect`, a 301 to HTTPS instead;
 * - HTTPS with `tls.mode: SIMPLE`: the same, after TLS terminated with the `credentialName` Secret (in the
 *   deployment's namespace, as Istio reads it) for the server's hosts;
 * - HTTPS or TLS with `PASSTHROUGH`: the VirtualServices' `tls` rules by SNI (`sniHosts`), bytes untouched;
 * - TLS with `SIMPLE`, and TCP: the `tcp` rules.
 * Modes that need client certificates or Istio's SNI-to-service mapping (MUTUAL, OPTIONAL_MUTUAL,
 * ISTIO_MUTUAL, AUTO_PASSTHROUGH) and certificate files are not served: the server is left out and
 * reported. AuthorizationPolicies and RequestAuthentications whose `selector` picks the deployment's pods
 * apply to all of it (JWT: 401 for a bad token; `requestPrincipals` rules see the verified one). A pure
 * function of its inputs.
 */

import { ISTIO_HTTP_PROTOCOLS } from '../../../core/config/kinds/common.ts';
import type { SecretSpec } from '../../../core/config/kinds/config-objects.ts';
import type { GatewayServer, IstioGatewaySpec } from '../../../core/config/kinds/istio-gateway.ts';
import type { DestinationRuleSpec, VirtualServiceSpec } from '../../../core/config/kinds/istio-networking.ts';
import {
  ANY_HOSTNAME,
  attachedHostnames,
  covers,
  type Hostnames,
  hostnameMatcher,
  hostnameRank,
} from '../../../core/l7/hostnames.ts';
import type {
  ListenerCertificate,
  ListenerPlan,
  RouteTable,
  ServedPort,
  ServedService,
  TcpRoute,
} from '../../../core/l7/types.ts';
import type { NamedConfig, Service, Workload } from '../../../core/model/index.ts';
import { labelsMatch } from '../../../core/policy/selector.ts';
import { exportedTo, resolveHost } from '../hosts.ts';
import { ClusterSet } from '../l7/clusters.ts';
import { byPrecedence, type Candidate } from '../l7/gateway-routes.ts';
import type { CompileNote } from '../l7/notes.ts';
import { defaultRetry, istioHeaderOperations } from '../l7/route-parts.ts';
import {
  bindsGateway,
  type GatewayName,
  type VirtualServiceInputs,
  virtualServiceRoutes,
  virtualServiceTcpRoutes,
} from '../l7/virtual-service.ts';
import { serviceHostname } from '../services.ts';
import { type GatewayDeployment, type GatewayPolicyInputs, gatewayPolicies } from './gateway-policies.ts';
import { byHostnamePrecedence, secretCertificate, withHostnames } from './listener-parts.ts';

export interface ClassicIngressInputs extends GatewayPolicyInputs {
  deployment: GatewayDeployment;
  istioGateways: readonly NamedConfig<IstioGatewaySpec>[];
  virtualServices: readonly NamedConfig<VirtualServiceSpec>[];
  services: readonly Service[];
  workloads: readonly Workload[];
  destinationRules: readonly NamedConfig<DestinationRuleSpec>[];
  secrets: readonly NamedConfig<SecretSpec>[];
}

export interface CompiledClassicIngress {
  table: RouteTable;
  notes: CompileNote[];
}

/** What a port is read as, after any TLS. */
interface PortShape {
  wire: 'http' | 'tcp';
  tls: ListenerPlan['tls']['mode'];
}

/** One server of one Gateway, where it was written. */
interface PlacedServer {
  gateway: NamedConfig<IstioGatewaySpec>;
  server: GatewayServer;
  index: number;
}

/** The classic Gateways whose selector picks the deployment's pods (an empty selector picks every gateway). */
export function selectingGateways(
  gateways: readonly NamedConfig<IstioGatewaySpec>[],
  labels: Readonly<Record<string, string>>,
): NamedConfig<IstioGatewaySpec>[] {
  return gateways
    .filter((gateway) => labelsMatch(gateway.spec.selector, labels))
    .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
}

/** How a server is served, or why it is not. */
export function serverShape(server: GatewayServer): PortShape | string {
  const { protocol } = server.port;
  const mode = server.tls?.mode;
  if (ISTIO_HTTP_PROTOCOLS.includes(protocol)) return { wire: 'http', tls: 'none' };
  if (protocol !== 'HTTPS' && protocol !== 'TLS') return { wire: 'tcp', tls: 'none' };
  if (mode === 'PASSTHROUGH') return { wire: 'tcp', tls: 'passthrough' };
  if (mode === 'SIMPLE') return { wire: protocol === 'HTTPS' ? 'http' : 'tcp', tls: 'terminate' };
  return `tls.mode ${mode} is not served by Ambit's ingress gateway (SIMPLE and PASSTHROUGH are)`;
}

/** A server host entry (`namespace/host`, a bare host meaning `*` for the namespace) split in two. */
export function serverHost(entry: string): { namespace: string; host: string } {
  const slash = entry.indexOf('/');
  return slash < 0
    ? { namespace: '*', host: entry }
    : { namespace: entry.slice(0, slash), host: entry.slice(slash + 1) };
}

/**
 * The hostnames a VirtualService in `vsNamespace` with `vsHosts` serves through a server of a Gateway in
 * `gatewayNamespace`: per server host whose namespace part lets the VirtualService in (`*` any, `.` the
 * Gateway's own, else that namespace), the more specific of the two hosts where one covers the other
 * (`*` covers everything). Empty: the VirtualService does not serve there.
 */
export function serverHostnames(
  serverHosts: readonly string[],
  gatewayNamespace: string,
  vsNamespace: string,
  vsHosts: readonly string[],
): Hostnames {
  const routeHosts = vsHosts.map((host) => resolveHost(host, vsNamespace));
  const out: string[] = [];
  for (const entry of serverHosts) {
    const { namespace, host } = serverHost(entry);
    const allowed = namespace === '*' || (namespace === '.' ? gatewayNamespace : namespace) === vsNamespace;
    if (!allowed) continue;
    const served = attachedHostnames(
      host === '*' ? undefined : host,
      routeHosts.includes('*') ? [] : routeHosts,
    );
    if (served === ANY_HOSTNAME) return ANY_HOSTNAME;
    for (const name of served) if (!out.includes(name)) out.push(name);
  }
  return out;
}

export function compileClassicIngress(inputs: ClassicIngressInputs): CompiledClassicIngress {
  const { deployment } = inputs;
  const ref = { name: deployment.name, namespace: deployment.namespace };
  const notes: CompileNote[] = [];
  const clusters = new ClusterSet({ ...inputs, waypoint: ref, notes });
  const served: ServedService = {
    name: deployment.name,
    namespace: deployment.namespace,
    hostname: serviceHostname(deployment.name, deployment.namespace),
    vips: [],
    ports: [],
  };
  const plans: ListenerPlan[] = [];
  for (const [port, placed] of serversByPort(selectingGateways(inputs.istioGateways, deployment.labels))) {
    let shape: PortShape | undefined;
    const kept: PlacedServer[] = [];
    const certificates: ListenerCertificate[] = [];
    for (const entry of placed) {
      const note = (message: string) => notes.push(serverNote(entry, message));
      const own = serverShape(entry.server);
      if (typeof own === 'string') {
        note(own);
        continue;
      }
      if (shape !== undefined && (shape.wire !== own.wire || shape.tls !== own.tls)) {
        note(
          `port ${port} is already served as ${describe(shape)} by an earlier server: this one is left out`,
        );
        continue;
      }
      if (own.tls === 'terminate') {
        const found = serverCertificates(entry, inputs);
        if (typeof found === 'string') {
          note(found);
          continue;
        }
        certificates.push(...found);
      }
      shape ??= own;
      kept.push(entry);
    }
    if (shape === undefined) continue;
    plans.push({
      name: kept
        .map((entry) => `${entry.gateway.namespace}/${entry.gateway.name}/${serverName(entry)}`)
        .join(','),
      port,
      wire: shape.wire,
      tls:
        shape.tls === 'terminate'
          ? { mode: 'terminate', certificates: byHostnamePrecedence(certificates) }
          : { mode: shape.tls },
    });
    const vsInputs = (gateway: GatewayName): VirtualServiceInputs => ({
      virtualServices: inputs.virtualServices,
      services: inputs.services,
      waypointNamespace: deployment.namespace,
      clusters,
      notes,
      gateway,
    });
    served.ports.push(
      shape.wire === 'http'
        ? { port, protocol: 'http', routes: httpRoutes(kept, served, port, inputs, vsInputs) }
        : {
            port,
            protocol: 'tcp',
            routes: [],
            tcpRoutes: tcpRoutes(kept, served, port, shape.tls === 'passthrough', inputs, vsInputs),
          },
    );
  }
  const { authorization, jwtRules } = gatewayPolicies(served, deployment, inputs, undefined, notes);
  if (jwtRules.length > 0) served.requestAuthentication = jwtRules;
  return {
    table: { servedServices: [served], clusters: clusters.list(), authorization, listeners: plans },
    notes,
  };
}

function serversByPort(gateways: readonly NamedConfig<IstioGatewaySpec>[]): Map<number, PlacedServer[]> {
  const ports = new Map<number, PlacedServer[]>();
  for (const gateway of gateways) {
    gateway.spec.servers.forEach((server, index) => {
      const list = ports.get(server.port.number) ?? [];
      list.push({ gateway, server, index });
      ports.set(server.port.number, list);
    });
  }
  return new Map([...ports].sort(([a], [b]) => a - b));
}

function serverName(entry: PlacedServer): string {
  return entry.server.name ?? entry.server.port.name;
}

function describe(shape: PortShape): string {
  return shape.tls === 'none' ? shape.wire.toUpperCase() : `${shape.wire.toUpperCase()} (TLS ${shape.tls})`;
}

function serverNote(entry: PlacedServer, message: string): CompileNote {
  return {
    kind: 'Gateway.networking.istio.io',
    namespace: entry.gateway.namespace,
    name: entry.gateway.name,
    path: `spec.servers[${entry.index}]`,
    message,
  };
}

/**
 * A SIMPLE server's certificates: its `credentialName` (or each of `credentialNames`), a `kubernetes.io/tls`
 * Secret in the deployment's namespace, presented for each of its hosts.
 */
function serverCertificates(
  entry: PlacedServer,
  inputs: ClassicIngressInputs,
): ListenerCertificate[] | string {
  const tls = entry.server.tls!;
  const names = tls.credentialName !== undefined ? [tls.credentialName] : tls.credentialNames;
  if (names.length === 0)
    return 'certificate files (serverCertificate, privateKey) are not served: name a Secret with credentialName';
  const hosts = [...new Set(entry.server.hosts.map((host) => serverHost(host).host))];
  const namespace = inputs.deployment.namespace;
  const out: ListenerCertificate[] = [];
  for (const name of names) {
    const secret = inputs.secrets.find((s) => s.name === name && s.namespace === namespace);
    if (secret === undefined)
      return `credentialName ${name}: no kubernetes.io/tls Secret ${namespace}/${name} (the gateway deployment's namespace)`;
    for (const host of hosts) {
      const certificate = secretCertificate(secret, host === '*' ? undefined : host);
      if (typeof certificate === 'string') return `credentialName ${name}: ${certificate}`;
      out.push(certificate);
    }
  }
  return out;
}

/** The VirtualServices bound to a server's Gateway and exported to its namespace, by namespace/name. */
function boundVirtualServices(
  gateway: NamedConfig<IstioGatewaySpec>,
  inputs: ClassicIngressInputs,
): NamedConfig<VirtualServiceSpec>[] {
  return inputs.virtualServices
    .filter(
      (vs) =>
        vs.spec.hosts.length > 0 &&
        bindsGateway(vs.spec.gateways, vs.namespace, gateway) &&
        exportedTo(vs.spec.exportTo, vs.namespace, gateway.namespace),
    )
    .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
}

/** An HTTP port's routes: every bound VirtualService's rules per hostname, the most specific hostname first. */
function httpRoutes(
  servers: readonly PlacedServer[],
  served: ServedService,
  port: number,
  inputs: ClassicIngressInputs,
  vsInputs: (gateway: GatewayName) => VirtualServiceInputs,
): ServedPort['routes'] {
  const candidates: Candidate[] = [];
  for (const { gateway, server, index } of servers) {
    if (server.tls?.httpsRedirect) {
      candidates.push(
        ...withHostnames(
          httpsRedirect(gateway, index),
          serverHostnames(server.hosts, gateway.namespace, gateway.namespace, ['*']),
        ),
      );
      continue;
    }
    for (const vs of boundVirtualServices(gateway, inputs)) {
      const hostnames = serverHostnames(server.hosts, gateway.namespace, vs.namespace, vs.spec.hosts);
      if (hostnames !== ANY_HOSTNAME && hostnames.length === 0) continue;
      for (const route of virtualServiceRoutes(vs, served, port, vsInputs(gateway)))
        candidates.push(...withHostnames({ route, rank: [] }, hostnames));
    }
  }
  // A stable sort: within one hostname rank, VirtualServices and their rules keep their order.
  const routes = byPrecedence(candidates).map((candidate) => candidate.route);
  // Two servers on one port naming the same Gateway's routes compile them twice: keep one.
  return [...new Map(routes.map((route) => [JSON.stringify(route), route])).values()];
}

/** `tls.httpsRedirect`: every request for the server's hosts is sent to HTTPS (301), as Envoy's `require_tls`. */
function httpsRedirect(gateway: NamedConfig<IstioGatewaySpec>, server: number): Candidate {
  return {
    route: {
      origin: { kind: 'Gateway', namespace: gateway.namespace, name: gateway.name, rule: server },
      matches: [],
      action: { kind: 'redirect', status: 301, scheme: 'https', port: 'fromScheme' },
      requestHeaders: istioHeaderOperations(undefined),
      responseHeaders: istioHeaderOperations(undefined),
      retry: defaultRetry(),
      mirrors: [],
    },
    rank: [],
  };
}

/** A TLS or TCP port's routes: `tls` rules by SNI on a passthrough port, `tcp` rules otherwise. */
function tcpRoutes(
  servers: readonly PlacedServer[],
  served: ServedService,
  port: number,
  passthrough: boolean,
  inputs: ClassicIngressInputs,
  vsInputs: (gateway: GatewayName) => VirtualServiceInputs,
): TcpRoute[] {
  const ranked: { route: TcpRoute; rank: [number, number] }[] = [];
  for (const { gateway, server } of servers) {
    for (const vs of boundVirtualServices(gateway, inputs)) {
      const hostnames = serverHostnames(server.hosts, gateway.namespace, vs.namespace, vs.spec.hosts);
      if (hostnames !== ANY_HOSTNAME && hostnames.length === 0) continue;
      // SNI names the rule asks for that lie within the server's hosts, most specific first.
      const sniWithin = (sniHosts: readonly string[]) => {
        const within = sniHosts.filter(
          (sni) => hostnames === ANY_HOSTNAME || hostnames.some((host) => covers(host, sni)),
        );
        return within.length === 0 ? undefined : within.map(hostnameMatcher);
      };
      const section = passthrough ? 'tls' : 'tcp';
      for (const route of virtualServiceTcpRoutes(vs, served, port, section, sniWithin, vsInputs(gateway))) {
        ranked.push({ route, rank: passthrough ? mostSpecific(vs, route) : [0, 0] });
      }
    }
  }
  return ranked.sort((a, b) => b.rank[0] - a.rank[0] || b.rank[1] - a.rank[1]).map((entry) => entry.route);
}

/** The rank of a `tls` rule: that of the most specific SNI host it names. */
function mostSpecific(vs: NamedConfig<VirtualServiceSpec>, route: TcpRoute): [number, number] {
  const hosts = vs.spec.tls[route.origin.rule]?.match.flatMap((match) => match.sniHosts) ?? [];
  return hosts
    .map(hostnameRank)
    .reduce<[number, number]>(
      (best, rank) => (rank[0] > best[0] || (rank[0] === best[0] && rank[1] > best[1]) ? rank : best),
      [0, 0],
    );
}
