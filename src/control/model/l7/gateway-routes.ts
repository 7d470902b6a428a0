/**
 * HTTPRoute and GRPCRoute with a Service parentRef (GAMMA) -> routes for one served service port. Each
 * (rule, match) pair becomes one route, sorted by the Gateway API's precedence: for HTTPRoute an Exact path,
 * then the longest prefix (Istio ranks regexes after prefixes), then a method match, then the most header
 * matches, then the most query matches; for GRPCRoute the longest exact service, then the longest exact
 * method, then the most header matches. Ties keep the routes' order (by name: Ambit keeps no creation time)
 * and then rule order. GRPCRoutes come before HTTPRoutes, as the spec has GRPCRoute win a conflict.
 *
 * A request no route matches gets no route (the waypoint answers 404 NR), as the Gateway API requires; a
 * port no route attaches to keeps the Service's default route.
 *
 * Only producer routes (in the Service's namespace) attach: consumer routes would apply to one client
 * namespace only, which the table cannot express yet. `hostnames` are ignored for Service parents.
 */
import type {
  BackendRef,
  GRPCMethodMatch,
  GRPCRouteSpec,
  HTTPPathModifier,
  HTTPRouteFilter,
  HTTPRouteMatch,
  HTTPRouteSpec,
  HTTPValueMatch,
  ParentRef,
} from '../../../core/config/kinds/gateway.ts';
import { GATEWAY_API_GROUP } from '../../../core/config/kinds/gateway.ts';
import type { ReferenceGrantSpec } from '../../../core/config/kinds/gateway-l4.ts';
import type {
  Backend,
  HeaderOperations,
  Mirror,
  PathRewrite,
  RequestMatch,
  Route,
  RouteAction,
  RouteOrigin,
  ServedService,
  StringMatcher,
  ValueCondition,
} from '../../../core/l7/types.ts';
import type { NamedConfig, Service } from '../../../core/model/index.ts';
import { type ReferenceFrom, referenceGranted } from '../ingress/reference-grants.ts';
import { serviceHostname } from '../services.ts';
import type { ClusterSet } from './clusters.ts';
import type { CompileNote } from './notes.ts';
import {
  DEFAULT_BACKOFF_BASE_MS,
  DEFAULT_RETRY_ATTEMPTS,
  DEFAULT_RETRY_ON,
  defaultRetry,
  gatewayHeaderOperations,
  NO_HEADER_OPERATIONS,
} from './route-parts.ts';

export interface GatewayRouteInputs {
  httpRoutes: readonly NamedConfig<HTTPRouteSpec>[];
  grpcRoutes: readonly NamedConfig<GRPCRouteSpec>[];
  services: readonly Service[];
  clusters: ClusterSet;
  /** Grants for backendRefs into other namespaces (none: such references answer 500). */
  referenceGrants?: readonly NamedConfig<ReferenceGrantSpec>[] | undefined;
}

/** Whether a route names `service` (on `port`, when the parentRef gives one) as its parent. */
function attaches(
  route: NamedConfig<{ parentRefs: ParentRef[] }>,
  service: ServedService,
  port?: number,
): boolean {
  return route.spec.parentRefs.some(
    (parent) =>
      parent.kind === 'Service' &&
      parent.group === '' &&
      parent.name === service.name &&
      (parent.namespace ?? route.namespace) === service.namespace &&
      (port === undefined || parent.port === undefined || parent.port === port),
  );
}

/** Producer routes (in the Service's namespace) only; see the module comment. */
function producer(route: NamedConfig<unknown>, service: ServedService): boolean {
  return route.namespace === service.namespace;
}

/** Whether any Gateway API route attaches to the service (then its VirtualServices do not apply). */
export function hasGatewayRoutes(inputs: GatewayRouteInputs, service: ServedService): boolean {
  return [...inputs.httpRoutes, ...inputs.grpcRoutes].some(
    (route) => producer(route, service) && attaches(route, service),
  );
}

/** A note for each consumer route of the service, which the table cannot express yet and so ignores. */
export function consumerRouteNotes(inputs: GatewayRouteInputs, service: ServedService): CompileNote[] {
  const notes = (routes: readonly NamedConfig<{ parentRefs: ParentRef[] }>[], kind: string) =>
    routes
      .filter((route) => !producer(route, service) && attaches(route, service))
      .map((route) => ({
        kind,
        namespace: route.namespace,
        name: route.name,
        path: 'spec.parentRefs',
        message: `consumer routes (a route in another namespace than Service ${service.namespace}/${service.name}) are not supported by Ambit's waypoint: the route is ignored`,
      }));
  return [...notes(inputs.grpcRoutes, 'GRPCRoute'), ...notes(inputs.httpRoutes, 'HTTPRoute')];
}

export interface Candidate {
  route: Route;
  /** Precedence, compared element by element, higher first. */
  rank: number[];
}

export function gatewayRoutes(service: ServedService, port: number, inputs: GatewayRouteInputs): Route[] {
  const attached = <Spec extends { parentRefs: ParentRef[] }>(routes: readonly NamedConfig<Spec>[]) =>
    routes
      .filter((route) => producer(route, service) && attaches(route, service, port))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const parent: ParentPort = { hostname: service.hostname, port };
  const grpc = attached(inputs.grpcRoutes).flatMap((route) => grpcCandidates(route, parent, inputs));
  const http = attached(inputs.httpRoutes).flatMap((route) => httpCandidates(route, parent, inputs));
  return [...byPrecedence(grpc), ...byPrecedence(http)].map((candidate) => candidate.route);
}

export function byPrecedence(candidates: Candidate[]): Candidate[] {
  return candidates.sort((a, b) => {
    for (let i = 0; i < a.rank.length; i++) if (a.rank[i] !== b.rank[i]) return b.rank[i]! - a.rank[i]!;
    return 0;
  });
}

const PATH_RANK = { Exact: 3, PathPrefix: 2, RegularExpression: 1 } as const;

export function httpCandidates(
  route: NamedConfig<HTTPRouteSpec>,
  parent: ParentPort | undefined,
  inputs: GatewayRouteInputs,
): Candidate[] {
  return route.spec.rules.flatMap((rule, index) => {
    const base = ruleBase('HTTPRoute', route, rule, index, parent, inputs);
    const retry: Route['retry'] = rule.retry
      ? {
          attempts: rule.retry.attempts ?? DEFAULT_RETRY_ATTEMPTS,
          retryOn: [...DEFAULT_RETRY_ON],
          retriableStatusCodes: rule.retry.codes,
          backoffBaseMs: rule.retry.backoff ?? DEFAULT_BACKOFF_BASE_MS,
        }
      : defaultRetry();
    const backendRequest = rule.timeouts?.backendRequest;
    if (backendRequest) retry.perTryTimeoutMs = backendRequest;
    const request = rule.timeouts?.request;
    return rule.matches.map((match) => ({
      route: {
        ...base,
        matches: [httpMatch(match)],
        retry,
        timeoutMs: request ? request : undefined,
      },
      rank: [
        PATH_RANK[match.path.type],
        match.path.value.length,
        match.method ? 1 : 0,
        match.headers.length,
        match.queryParams.length,
      ],
    }));
  });
}

export function grpcCandidates(
  route: NamedConfig<GRPCRouteSpec>,
  parent: ParentPort | undefined,
  inputs: GatewayRouteInputs,
): Candidate[] {
  return route.spec.rules.flatMap((rule, index) => {
    const base = { ...ruleBase('GRPCRoute', route, rule, index, parent, inputs), retry: defaultRetry() };
    if (rule.matches.length === 0) return [{ route: { ...base, matches: [] }, rank: [0, 0, 0] }];
    return rule.matches.map((match) => {
      const exact = match.method?.type === 'Exact';
      return {
        route: {
          ...base,
          matches: [
            {
              path: match.method ? grpcPath(match.method) : undefined,
              headers: match.headers.map(valueCondition(true)),
              queryParams: [],
            },
          ],
        },
        rank: [
          exact ? (match.method?.service?.length ?? 0) : 0,
          exact ? (match.method?.method?.length ?? 0) : 0,
          match.headers.length,
        ],
      };
    });
  });
}

/** A gRPC method match on the request path `/<service>/<method>`. */
function grpcPath(method: GRPCMethodMatch): StringMatcher {
  if (method.type === 'Exact') {
    if (method.service !== undefined && method.method !== undefined) {
      return { kind: 'exact', value: `/${method.service}/${method.method}` };
    }
    if (method.service !== undefined) return { kind: 'prefix', value: `/${method.service}/` };
    return { kind: 'regex', regex: `/[^/]+/${method.method}` };
  }
  return { kind: 'regex', regex: `/(?:${method.service ?? '[^/]+'})/(?:${method.method ?? '[^/]+'})` };
}

function httpMatch(match: HTTPRouteMatch): RequestMatch {
  const { path } = match;
  return {
    path:
      path.type === 'Exact'
        ? { kind: 'exact', value: path.value }
        : path.type === 'PathPrefix'
          ? { kind: 'pathPrefix', value: path.value.length > 1 ? path.value.replace(/\/+$/, '') : path.value }
          : { kind: 'regex', regex: path.value },
    method: match.method ? { kind: 'exact', value: match.method } : undefined,
    headers: match.headers.map(valueCondition(true)),
    queryParams: match.queryParams.map(valueCondition(false)),
  };
}

function valueCondition(lowercase: boolean): (match: HTTPValueMatch) => ValueCondition {
  return (match) => ({
    name: lowercase ? match.name.toLowerCase() : match.name,
    match:
      match.type === 'Exact' ? { kind: 'exact', value: match.value } : { kind: 'regex', regex: match.value },
    invert: false,
  });
}

/**
 * The Service and port a route was attached to, for this compilation; undefined for a Gateway parent (a rule
 * without backendRefs then forwards nowhere: 500, as the Gateway API says).
 */
export interface ParentPort {
  hostname: string;
  port: number;
}

type RuleParts = Pick<Route, 'action' | 'requestHeaders' | 'responseHeaders' | 'rewrite' | 'mirrors'>;

type GatewayRule = { name?: string | undefined; filters: HTTPRouteFilter[]; backendRefs: WeightedRef[] };
type WeightedRef = BackendRef & { weight: number; filters: readonly HTTPRouteFilter[] };

/** What a rule compiles to whatever its matches: where it came from, its action and its filters. */
function ruleBase(
  kind: 'HTTPRoute' | 'GRPCRoute',
  route: NamedConfig<unknown>,
  rule: GatewayRule,
  index: number,
  parent: ParentPort | undefined,
  inputs: GatewayRouteInputs,
): RuleParts & { origin: RouteOrigin } {
  const origin: RouteOrigin = {
    kind,
    namespace: route.namespace,
    name: route.name,
    rule: index,
    ruleName: rule.name,
  };
  const from = { group: GATEWAY_API_GROUP, kind, namespace: route.namespace };
  return { origin, ...ruleParts(from, rule.filters, rule.backendRefs, parent, inputs) };
}

/** The action and filters of a rule, shared by both route kinds (GRPCRoute allows a subset of filters). */
function ruleParts(
  from: ReferenceFrom,
  filters: readonly HTTPRouteFilter[],
  backendRefs: readonly WeightedRef[],
  parent: ParentPort | undefined,
  inputs: GatewayRouteInputs,
): RuleParts {
  const mirrors: Mirror[] = [];
  let requestHeaders: HeaderOperations = gatewayHeaderOperations(undefined);
  let responseHeaders: HeaderOperations = gatewayHeaderOperations(undefined);
  let rewrite: Route['rewrite'];
  let redirect: RouteAction | undefined;
  for (const filter of filters) {
    switch (filter.type) {
      case 'RequestHeaderModifier':
        requestHeaders = gatewayHeaderOperations(filter.requestHeaderModifier);
        break;
      case 'ResponseHeaderModifier':
        responseHeaders = gatewayHeaderOperations(filter.responseHeaderModifier);
        break;
      case 'URLRewrite':
        rewrite = { path: pathModifier(filter.urlRewrite.path), authority: filter.urlRewrite.hostname };
        break;
      case 'RequestRedirect': {
        const { scheme, hostname, path, port, statusCode } = filter.requestRedirect;
        redirect = {
          kind: 'redirect',
          status: statusCode,
          scheme,
          host: hostname,
          // Without a port: the scheme's well-known port when the scheme changes, else the request's.
          port: port ?? (scheme ? 'fromScheme' : 'fromRequest'),
          path: pathModifier(path),
        };
        break;
      }
      case 'RequestMirror': {
        const target = backendTarget(filter.requestMirror.backendRef, from, inputs);
        if (typeof target === 'string') break;
        const { percent, fraction } = filter.requestMirror;
        const percentage = percent ?? (fraction ? (fraction.numerator / fraction.denominator) * 100 : 100);
        mirrors.push({ cluster: inputs.clusters.intern(target.hostname, target.port), percentage });
        break;
      }
      case 'ExtensionRef':
        break;
    }
  }
  return {
    action: redirect ?? forward(from, backendRefs, parent, inputs),
    requestHeaders,
    responseHeaders,
    rewrite,
    mirrors,
  };
}

/**
 * Weighted backends. A rule without backendRefs sends to its parent Service on the request's port (GAMMA's
 * terse form); weights that are all 0 answer 500 (the Gateway API's rule).
 */
function forward(
  from: ReferenceFrom,
  backendRefs: readonly WeightedRef[],
  parent: ParentPort | undefined,
  inputs: GatewayRouteInputs,
): RouteAction {
  if (backendRefs.length === 0 && parent === undefined) return { kind: 'directResponse', status: 500 };
  if (backendRefs.length === 0 && parent !== undefined) {
    const cluster = inputs.clusters.intern(parent.hostname, parent.port);
    return {
      kind: 'forward',
      backends: [
        {
          kind: 'cluster',
          cluster,
          weight: 1,
          requestHeaders: NO_HEADER_OPERATIONS,
          responseHeaders: NO_HEADER_OPERATIONS,
        },
      ],
    };
  }
  if (backendRefs.every((ref) => ref.weight === 0)) return { kind: 'directResponse', status: 500 };
  return { kind: 'forward', backends: weightedBackends(from, backendRefs, inputs) };
}

/** Backends by weight; a reference that cannot be used is an `invalid` backend (500 for its share). */
export function weightedBackends(
  from: ReferenceFrom,
  backendRefs: readonly (BackendRef & { weight: number; filters?: readonly HTTPRouteFilter[] })[],
  inputs: Pick<GatewayRouteInputs, 'services' | 'clusters' | 'referenceGrants'>,
): Backend[] {
  return backendRefs.map((ref): Backend => {
    const headers = (type: 'RequestHeaderModifier' | 'ResponseHeaderModifier') => {
      const found = ref.filters?.find((filter) => filter.type === type);
      if (found?.type === 'RequestHeaderModifier')
        return gatewayHeaderOperations(found.requestHeaderModifier);
      if (found?.type === 'ResponseHeaderModifier')
        return gatewayHeaderOperations(found.responseHeaderModifier);
      return gatewayHeaderOperations(undefined);
    };
    const common = {
      weight: ref.weight,
      requestHeaders: headers('RequestHeaderModifier'),
      responseHeaders: headers('ResponseHeaderModifier'),
    };
    const target = backendTarget(ref, from, inputs);
    if (typeof target === 'string') return { kind: 'invalid', reason: target, ...common };
    return { kind: 'cluster', cluster: inputs.clusters.intern(target.hostname, target.port), ...common };
  });
}

/** A backendRef's service hostname and port, or why it cannot be used (the Gateway API answers 500). */
export function backendTarget(
  ref: BackendRef,
  from: ReferenceFrom,
  inputs: Pick<GatewayRouteInputs, 'services' | 'referenceGrants'>,
): { hostname: string; port: number } | string {
  if (ref.group !== '' || ref.kind !== 'Service')
    return `backendRef kind ${ref.group}/${ref.kind} is not supported`;
  const refNamespace = ref.namespace ?? from.namespace;
  const target = { group: '', kind: 'Service', namespace: refNamespace, name: ref.name };
  if (!referenceGranted(inputs.referenceGrants ?? [], from, target)) {
    return `backendRef to Service ${refNamespace}/${ref.name} crosses namespaces, which needs a ReferenceGrant (none allows it)`;
  }
  const hostname = serviceHostname(ref.name, refNamespace);
  if (!inputs.services.some((service) => service.hostname === hostname)) {
    return `backendRef to Service ${refNamespace}/${ref.name}, which does not exist`;
  }
  return { hostname, port: ref.port ?? 0 };
}

function pathModifier(modifier: HTTPPathModifier | undefined): PathRewrite | undefined {
  if (!modifier) return undefined;
  return modifier.type === 'ReplaceFullPath'
    ? { kind: 'full', value: modifier.value }
    : { kind: 'replacePrefixMatch', value: modifier.value };
}
