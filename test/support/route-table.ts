/** Builders for compiled route tables (`core/l7/types.ts`) in waypoint tests: defaults everywhere, override what matters. */
import type {
  Backend,
  Cluster,
  ClusterEndpoint,
  HeaderOperations,
  L7AuthorizationPolicy,
  L7Operation,
  L7Rule,
  L7Source,
  LoadBalancer,
  RequestMatch,
  RetryPolicy,
  Route,
  RouteAction,
  ServedPort,
  ServedService,
} from '../../src/core/l7/types.ts';
import type { Service, WaypointSnapshot } from '../../src/core/model/index.ts';

export const NO_HEADER_OPS: HeaderOperations = { set: [], add: [], remove: [] };
const NO_RETRY: RetryPolicy = { attempts: 0, retryOn: [], retriableStatusCodes: [], backoffBaseMs: 25 };

export function headerOps(overrides: Partial<HeaderOperations> = {}): HeaderOperations {
  return { set: [], add: [], remove: [], ...overrides };
}

export function match(overrides: Partial<RequestMatch> = {}): RequestMatch {
  return { headers: [], queryParams: [], ...overrides };
}

export function clusterName(service: Service, port: number, subset = ''): string {
  return `outbound|${port}|${subset}|${service.hostname}`;
}

export function toCluster(name: string, weight = 100, overrides: Partial<Backend> = {}): Backend {
  return {
    kind: 'cluster',
    cluster: name,
    weight,
    requestHeaders: NO_HEADER_OPS,
    responseHeaders: NO_HEADER_OPS,
    ...overrides,
  } as Backend;
}

export function forward(...backends: Backend[]): RouteAction {
  return { kind: 'forward', backends };
}

export function route(action: RouteAction, overrides: Partial<Route> = {}): Route {
  return {
    origin: { kind: 'VirtualService', namespace: 'default', name: 'test', rule: 0 },
    matches: [],
    action,
    requestHeaders: NO_HEADER_OPS,
    responseHeaders: NO_HEADER_OPS,
    retry: NO_RETRY,
    mirrors: [],
    ...overrides,
  };
}

/** A waypoint's whole snapshot that serves only `service`, answering every request on port 80 with 200 "ok". */
export function answeringOkSnapshot(
  service: Service,
  waypoint: WaypointSnapshot['waypoint'],
): WaypointSnapshot {
  return {
    version: '1',
    waypoint,
    workloads: [],
    services: [service],
    trustBundle: [],
    servedServices: [
      served(service, [
        { port: 80, protocol: 'http', routes: [route({ kind: 'directResponse', status: 200, body: 'ok' })] },
      ]),
    ],
    clusters: [],
    authorization: [],
  };
}

export function served(service: Service, ports: ServedPort[]): ServedService {
  return {
    name: service.name,
    namespace: service.namespace,
    hostname: service.hostname,
    vips: service.vips,
    ports,
  };
}

export function cluster(
  service: Service,
  port: number,
  endpoints: ClusterEndpoint[],
  overrides: Partial<Cluster> & { loadBalancer?: LoadBalancer } = {},
): Cluster {
  const { loadBalancer, ...rest } = overrides;
  const subset = rest.subset ?? '';
  return {
    name: clusterName(service, port, subset),
    hostname: service.hostname,
    port,
    subset,
    protocol: 'http',
    selector: {},
    endpoints,
    policy: { loadBalancer: loadBalancer ?? { kind: 'LEAST_REQUEST' } },
    ...rest,
  };
}

export function l7Source(overrides: Partial<L7Source> = {}): L7Source {
  return {
    principals: [],
    notPrincipals: [],
    namespaces: [],
    notNamespaces: [],
    ipBlocks: [],
    notIpBlocks: [],
    remoteIpBlocks: [],
    notRemoteIpBlocks: [],
    ...overrides,
  };
}

export function l7Operation(overrides: Partial<L7Operation> = {}): L7Operation {
  return {
    hosts: [],
    notHosts: [],
    ports: [],
    notPorts: [],
    methods: [],
    notMethods: [],
    paths: [],
    notPaths: [],
    ...overrides,
  };
}

export function l7Rule(overrides: Partial<L7Rule> = {}): L7Rule {
  return { from: [], to: [], when: [], ...overrides };
}

export function l7Policy(
  overrides: Partial<L7AuthorizationPolicy> & { name: string; action: L7AuthorizationPolicy['action'] },
): L7AuthorizationPolicy {
  return { namespace: 'default', appliesTo: { kind: 'waypoint' }, rules: [], ...overrides };
}

/** The compiler's config inputs when the mesh has no L7 config at all (no routes, rules or policies). */
export const NO_L7_CONFIG = {
  virtualServices: [],
  destinationRules: [],
  httpRoutes: [],
  grpcRoutes: [],
  attachedPolicies: [],
  trustDomain: 'cluster.local',
} as const;
