/**
 * The route table compiler: one waypoint's compiled L7 config from the mesh. For each service bound to the
 * waypoint and each of its TCP ports: the protocol, and for HTTP-capable ports the ordered routes (Gateway
 * API routes when any attach to the service, else its VirtualService, then the service's default route); the clusters those routes name; the L7 AuthorizationPolicies that concern the waypoint. A pure
 * function of its inputs, tested as a unit.
 */

import type { SecretSpec } from '../../../core/config/kinds/config-objects.ts';
import type { GRPCRouteSpec, HTTPRouteSpec } from '../../../core/config/kinds/gateway.ts';
import type { DestinationRuleSpec, VirtualServiceSpec } from '../../../core/config/kinds/istio-networking.ts';
import type { AuthorizationPolicySpec } from '../../../core/config/kinds/istio-security.ts';
import type { HTTPLocalRateLimitPolicySpec } from '../../../core/config/kinds/linkerd-policy.ts';
import type { RequestAuthenticationSpec } from '../../../core/config/kinds/request-authentication.ts';
import type { RouteTable, ServedPort, ServedService, ServedWorkload } from '../../../core/l7/types.ts';
import type { NamedConfig, Service, WaypointRef, Workload } from '../../../core/model/index.ts';
import { toL7Policy } from './authorization.ts';
import { ClusterSet, portProtocol } from './clusters.ts';
import {
  consumerRouteNotes,
  type GatewayRouteInputs,
  gatewayRoutes,
  hasGatewayRoutes,
} from './gateway-routes.ts';
import type { CompileNote } from './notes.ts';
import { serviceRateLimit } from './rate-limit.ts';
import { serviceJwtRules } from './request-authentication.ts';
import { catchesAll, defaultRoute } from './route-parts.ts';
import { selectVirtualService, type VirtualServiceInputs, virtualServiceRoutes } from './virtual-service.ts';

export interface RouteTableInputs {
  waypoint: WaypointRef;
  /** The services bound to the waypoint. */
  served: readonly Service[];
  /** The workloads bound to the waypoint (only for one that serves `workload` or `all`). */
  servedWorkloads?: readonly Workload[] | undefined;
  /** Every service and workload of the mesh (routes may send anywhere). */
  services: readonly Service[];
  workloads: readonly Workload[];
  virtualServices: readonly NamedConfig<VirtualServiceSpec>[];
  destinationRules: readonly NamedConfig<DestinationRuleSpec>[];
  httpRoutes: readonly NamedConfig<HTTPRouteSpec>[];
  grpcRoutes: readonly NamedConfig<GRPCRouteSpec>[];
  /** AuthorizationPolicies with targetRefs. */
  attachedPolicies: readonly NamedConfig<AuthorizationPolicySpec>[];
  /** Linkerd's local rate limits; absent reads as none. */
  rateLimitPolicies?: readonly NamedConfig<HTTPLocalRateLimitPolicySpec>[] | undefined;
  /** RequestAuthentications; absent reads as none. */
  requestAuthentications?: readonly NamedConfig<RequestAuthenticationSpec>[] | undefined;
  /** Secrets DestinationRules' `tls.credentialName` name (TLS origination to ServiceEntry endpoints). */
  secrets?: readonly NamedConfig<SecretSpec>[] | undefined;
  trustDomain: string;
}

export interface CompiledRouteTable {
  table: RouteTable;
  notes: CompileNote[];
}

export function compileRouteTable(inputs: RouteTableInputs): CompiledRouteTable {
  const notes: CompileNote[] = [];
  const clusters = new ClusterSet({
    services: inputs.services,
    workloads: inputs.workloads,
    destinationRules: inputs.destinationRules,
    waypoint: inputs.waypoint,
    secrets: inputs.secrets,
    notes,
  });
  const gatewayInputs: GatewayRouteInputs = {
    httpRoutes: inputs.httpRoutes,
    grpcRoutes: inputs.grpcRoutes,
    services: inputs.services,
    clusters,
  };
  const vsInputs: VirtualServiceInputs = {
    virtualServices: inputs.virtualServices,
    services: inputs.services,
    waypointNamespace: inputs.waypoint.namespace,
    clusters,
    notes,
  };
  const servedServices = inputs.served.map((service): ServedService => {
    const served: ServedService = {
      name: service.name,
      namespace: service.namespace,
      hostname: service.hostname,
      vips: service.vips,
      ports: [],
    };
    const rateLimit = serviceRateLimit(served, inputs.rateLimitPolicies ?? [], inputs.trustDomain, notes);
    if (rateLimit !== undefined) served.rateLimit = rateLimit;
    const jwtRules = serviceJwtRules(served, inputs.requestAuthentications ?? [], inputs.waypoint, notes);
    if (jwtRules.length > 0) served.requestAuthentication = jwtRules;
    notes.push(...consumerRouteNotes(gatewayInputs, served));
    const useGatewayRoutes = hasGatewayRoutes(gatewayInputs, served);
    const vs = useGatewayRoutes
      ? undefined
      : selectVirtualService(inputs.virtualServices, served, inputs.waypoint.namespace);
    served.ports = service.ports
      .filter((port) => port.protocol === 'TCP')
      .map((port): ServedPort => {
        const protocol = portProtocol(port.appProtocol);
        if (protocol === 'tcp') {
          // No routes, but the bytes still go somewhere: the service port's default cluster.
          clusters.intern(served.hostname, port.port);
          return { port: port.port, protocol, routes: [] };
        }
        const routes = useGatewayRoutes
          ? gatewayRoutes(served, port.port, gatewayInputs)
          : vs
            ? virtualServiceRoutes(vs, served, port.port, vsInputs)
            : [];
        // Gateway API routes answer 404 for what they do not match; VirtualServices fall through to the
        // Service (Istio's waypoint), and so does a port no route attaches to.
        const gatewayRouted = useGatewayRoutes && routes.length > 0;
        if (!gatewayRouted && !routes.some(catchesAll))
          routes.push(defaultRoute(served, port.port, clusters));
        return { port: port.port, protocol, routes };
      });
    return served;
  });
  const servedWorkloads = (inputs.servedWorkloads ?? []).map((workload) =>
    servedWorkload(workload, inputs.services, clusters),
  );
  const authorization = inputs.attachedPolicies
    .flatMap((policy) => {
      const translated = toL7Policy(policy, inputs.waypoint, servedServices, inputs.trustDomain);
      notes.push(...translated.notes);
      return translated.policy ?? [];
    })
    .sort((a, b) => {
      const ka = `${a.namespace}/${a.name}`;
      const kb = `${b.namespace}/${b.name}`;
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
  // Routes compile per port, so a note about a config object can come once per port: report it once.
  const unique = [...new Map(notes.map((note) => [JSON.stringify(note), note])).values()];
  return {
    table: { servedServices, servedWorkloads, clusters: clusters.list(), authorization },
    notes: unique,
  };
}

/**
 * A bound workload as the waypoint serves it: by pod IP, on each target port of the Services that select it
 * (sorted, once each), with only the default route to the pod itself, the protocol detected (Istio's
 * waypoint serves workload addresses without Service routing). Ready when any Service lists it ready.
 */
function servedWorkload(
  workload: Workload,
  services: readonly Service[],
  clusters: ClusterSet,
): ServedWorkload {
  const served: ServedWorkload = {
    uid: workload.uid,
    name: workload.name,
    namespace: workload.namespace,
    hostname: workload.ips[0] ?? workload.uid,
    vips: workload.ips,
    ports: [],
  };
  const readyByPort = new Map<number, boolean>();
  for (const service of services) {
    for (const endpoint of service.endpoints) {
      if (endpoint.workloadUid !== workload.uid) continue;
      for (const port of service.ports) {
        if (port.protocol !== 'TCP') continue;
        readyByPort.set(port.targetPort, (readyByPort.get(port.targetPort) ?? false) || endpoint.ready);
      }
    }
  }
  served.ports = [...readyByPort]
    .sort(([a], [b]) => a - b)
    .map(([port, ready]): ServedPort => {
      const cluster = clusters.internWorkload(workload, port, ready);
      return { port, protocol: 'detect', routes: [defaultRoute(served, port, clusters, cluster)] };
    });
  return served;
}
