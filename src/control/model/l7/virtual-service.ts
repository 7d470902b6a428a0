/**
 * VirtualService -> routes for one served service port, with Istio's semantics: the VirtualService whose
 * hosts name the service most specifically (in the service's or the waypoint's namespace, bound to `mesh`,
 * exported to the waypoint) applies; its `http` rules keep their order (first match wins); a `delegate` rule
 * is replaced by the delegate's rules, each match narrowed by the root's; matches on another port or bound
 * to other gateways are dropped; `sourceLabels` and `sourceNamespace` are ignored (Istio ambient does not
 * support them at the waypoint). The same rules compile for an ingress gateway (`gateway` set): then the
 * VirtualService's and each match's `gateways` must name that Gateway, and `tls`/`tcp` rules route bytes.
 */
import type {
  Destination,
  HTTPMatchRequest,
  HTTPRoute,
  HTTPRouteDestination,
  L4MatchAttributes,
  RouteDestination,
  VirtualServiceSpec,
} from '../../../core/config/kinds/istio-networking.ts';
import type {
  Backend,
  CorsPolicy,
  RequestMatch,
  Route,
  RouteAction,
  RouteOrigin,
  ServedService,
  StringMatcher,
  TcpRoute,
  ValueCondition,
} from '../../../core/l7/types.ts';
import type { NamedConfig, Service } from '../../../core/model/index.ts';
import { exportedTo, hostSpecificity, resolveHost } from '../hosts.ts';
import type { ClusterSet } from './clusters.ts';
import type { CompileNote } from './notes.ts';
import {
  DEFAULT_BACKOFF_BASE_MS,
  DEFAULT_RETRY_ON,
  defaultRetry,
  istioHeaderOperations,
  stringMatcher,
} from './route-parts.ts';

type VirtualService = NamedConfig<VirtualServiceSpec>;

export interface VirtualServiceInputs {
  virtualServices: readonly VirtualService[];
  services: readonly Service[];
  waypointNamespace: string;
  clusters: ClusterSet;
  notes: CompileNote[];
  /** The classic Gateway (`networking.istio.io`) these routes are for; undefined: the mesh (a waypoint). */
  gateway?: GatewayName | undefined;
}

export interface GatewayName {
  name: string;
  namespace: string;
}

/**
 * Whether a `gateways` list, written in `namespace`, binds `gateway` (undefined: the mesh), as Istio reads it:
 * an empty list is `mesh` alone; `mesh` names every waypoint and sidecar; `name` is a Gateway of the
 * VirtualService's namespace and `namespace/name` one of any namespace.
 */
export function bindsGateway(
  names: readonly string[],
  namespace: string,
  gateway: GatewayName | undefined,
): boolean {
  if (gateway === undefined) return names.length === 0 || names.includes('mesh');
  return names.some((entry) => {
    const slash = entry.indexOf('/');
    const [ns, name] = slash < 0 ? [namespace, entry] : [entry.slice(0, slash), entry.slice(slash + 1)];
    return name === gateway.name && ns === gateway.namespace;
  });
}

/** A match's own `gateways` narrows the VirtualService's; empty, it inherits them (already checked). */
function matchBinds(
  names: readonly string[],
  origin: RouteOrigin,
  gateway: GatewayName | undefined,
): boolean {
  return (
    names.length === 0 || bindsGateway(names, origin.delegatedFrom?.namespace ?? origin.namespace, gateway)
  );
}

/**
 * The VirtualService that routes `service` at this waypoint: the most specific host match, then the name.
 * Delegates (no hosts) never apply directly.
 */
export function selectVirtualService(
  virtualServices: readonly VirtualService[],
  service: ServedService,
  waypointNamespace: string,
): VirtualService | undefined {
  let best: { vs: VirtualService; specificity: number } | undefined;
  for (const vs of virtualServices) {
    if (vs.namespace !== service.namespace && vs.namespace !== waypointNamespace) continue;
    if (!bindsGateway(vs.spec.gateways, vs.namespace, undefined)) continue;
    if (!exportedTo(vs.spec.exportTo, vs.namespace, waypointNamespace)) continue;
    let specificity: number | undefined;
    for (const host of vs.spec.hosts) {
      const value = service.vips.includes(host)
        ? Number.MAX_SAFE_INTEGER
        : hostSpecificity(host, vs.namespace, service.hostname);
      if (value !== undefined && (specificity === undefined || value > specificity)) specificity = value;
    }
    if (specificity === undefined) continue;
    if (!best || specificity > best.specificity) best = { vs, specificity };
  }
  return best?.vs;
}

/** The routes of `vs` for requests to `service` on `port`, in order. */
export function virtualServiceRoutes(
  vs: VirtualService,
  service: ServedService,
  port: number,
  inputs: VirtualServiceInputs,
): Route[] {
  const routes: Route[] = [];
  vs.spec.http.forEach((rule, index) => {
    const origin: RouteOrigin = {
      kind: 'VirtualService',
      namespace: vs.namespace,
      name: vs.name,
      rule: index,
      ruleName: rule.name,
    };
    if (!rule.delegate) {
      const route = compileRule(rule, rule.match, origin, vs.namespace, service, port, inputs);
      if (route) routes.push(route);
      return;
    }
    const delegateNamespace = rule.delegate.namespace ?? vs.namespace;
    const delegate = inputs.virtualServices.find(
      (candidate) =>
        candidate.name === rule.delegate!.name &&
        candidate.namespace === delegateNamespace &&
        candidate.spec.hosts.length === 0,
    );
    if (!delegate) {
      inputs.notes.push({
        kind: 'VirtualService',
        namespace: vs.namespace,
        name: vs.name,
        path: `spec.http[${index}].delegate`,
        message: `delegate VirtualService ${delegateNamespace}/${rule.delegate.name} does not exist (or has hosts): the rule is skipped`,
      });
      return;
    }
    delegate.spec.http.forEach((child, childIndex) => {
      const matches = mergeMatchLists(rule.match, child.match);
      if (matches.length === 0 && (rule.match.length > 0 || child.match.length > 0)) return;
      const childOrigin: RouteOrigin = {
        kind: 'VirtualService',
        namespace: delegate.namespace,
        name: delegate.name,
        rule: childIndex,
        ruleName: child.name,
        delegatedFrom: { namespace: vs.namespace, name: vs.name, rule: index },
      };
      const route = compileRule(child, matches, childOrigin, delegate.namespace, service, port, inputs);
      if (route) routes.push(route);
    });
  });
  return routes;
}

function compileRule(
  rule: HTTPRoute,
  matches: readonly HTTPMatchRequest[],
  origin: RouteOrigin,
  namespace: string,
  service: ServedService,
  port: number,
  inputs: VirtualServiceInputs,
): Route | undefined {
  const applicable = matches.filter(
    (match) =>
      (match.port === undefined || match.port === port) && matchBinds(match.gateways, origin, inputs.gateway),
  );
  applicable.forEach((match) => {
    if (Object.keys(match.sourceLabels).length === 0 && match.sourceNamespace === undefined) return;
    inputs.notes.push({
      kind: 'VirtualService',
      namespace: origin.namespace,
      name: origin.name,
      // Delegated matches are merged with the root's, so only a direct rule can name the match's index.
      path: `spec.http[${origin.rule}].match${origin.delegatedFrom ? '' : `[${matches.indexOf(match)}]`}`,
      message:
        'sourceLabels and sourceNamespace are ignored at a waypoint (as in Istio ambient): this match applies to every client',
    });
  });
  // A rule whose every match is for another port or gateway does not apply here at all.
  if (matches.length > 0 && applicable.length === 0) return undefined;
  const intern = (destination: Destination) =>
    internDestination(destination, namespace, service, port, inputs);
  const mirrors = [
    ...(rule.mirror ? [{ cluster: intern(rule.mirror), percentage: rule.mirrorPercentage ?? 100 }] : []),
    ...rule.mirrors.map((mirror) => ({
      cluster: intern(mirror.destination),
      percentage: mirror.percentage ?? 100,
    })),
  ];
  return {
    origin,
    matches: applicable.map(requestMatch),
    action: action(rule, intern),
    requestHeaders: istioHeaderOperations(rule.headers?.request),
    responseHeaders: istioHeaderOperations(rule.headers?.response),
    rewrite: rule.rewrite
      ? {
          path: rule.rewrite.uriRegexRewrite
            ? {
                kind: 'regex',
                regex: rule.rewrite.uriRegexRewrite.match,
                substitution: rule.rewrite.uriRegexRewrite.rewrite,
              }
            : rule.rewrite.uri !== undefined
              ? { kind: 'prefix', value: rule.rewrite.uri }
              : undefined,
          authority: rule.rewrite.authority,
        }
      : undefined,
    cors: rule.corsPolicy ? cors(rule.corsPolicy) : undefined,
    retry: rule.retries ? retry(rule.retries) : defaultRetry(),
    timeoutMs: rule.timeout !== undefined && rule.timeout > 0 ? rule.timeout : undefined,
    fault: rule.fault
      ? {
          delay: rule.fault.delay && {
            fixedDelayMs: rule.fault.delay.fixedDelay,
            percentage: rule.fault.delay.percentage ?? 0,
          },
          abort: rule.fault.abort && {
            httpStatus: rule.fault.abort.httpStatus,
            grpcStatus: rule.fault.abort.grpcStatus,
            percentage: rule.fault.abort.percentage ?? 0,
          },
        }
      : undefined,
    mirrors,
  };
}

/** The cluster of a destination written in `namespace`, for a request to `service` on `port`. */
function internDestination(
  destination: Destination,
  namespace: string,
  service: ServedService,
  port: number,
  inputs: VirtualServiceInputs,
): string {
  const hostname = resolveHost(destination.host, namespace);
  return inputs.clusters.intern(
    hostname,
    destination.port ?? defaultPort(hostname, service, port, inputs.services),
    destination.subset ?? '',
  );
}

/**
 * The byte routes of `vs` for a gateway port: its `tls` rules by SNI (`sniMatcher` turns a rule's `sniHosts`
 * into matchers, undefined when none lies within the gateway server's hosts), or its `tcp` rules; only
 * matches on this port bound to this gateway count, and a rule without matches takes every connection.
 */
export function virtualServiceTcpRoutes(
  vs: VirtualService,
  service: ServedService,
  port: number,
  section: 'tls' | 'tcp',
  sniMatcher: (sniHosts: readonly string[]) => StringMatcher[] | undefined,
  inputs: VirtualServiceInputs,
): TcpRoute[] {
  const routes: TcpRoute[] = [];
  const rules: readonly {
    match: readonly (L4MatchAttributes & { sniHosts?: readonly string[] })[];
    route: readonly RouteDestination[];
  }[] = section === 'tls' ? vs.spec.tls : vs.spec.tcp;
  rules.forEach((rule, index) => {
    const origin = { kind: 'VirtualService' as const, namespace: vs.namespace, name: vs.name, rule: index };
    const applicable = rule.match.filter(
      (match) =>
        (match.port === undefined || match.port === port) &&
        matchBinds(match.gateways, origin, inputs.gateway),
    );
    if (rule.match.length > 0 && applicable.length === 0) return;
    const sni = section === 'tls' ? sniMatcher(applicable.flatMap((match) => match.sniHosts ?? [])) : [];
    if (sni === undefined) return;
    routes.push({
      origin,
      sni,
      backends: rule.route.map((destination) => ({
        kind: 'cluster',
        cluster: internDestination(destination.destination, vs.namespace, service, port, inputs),
        weight: destination.weight,
        requestHeaders: istioHeaderOperations(undefined),
        responseHeaders: istioHeaderOperations(undefined),
      })),
    });
  });
  return routes;
}

/**
 * The port a destination without one goes to: the request's port for the served service itself, the only
 * port of a single-port service, else the request's port (Istio's rule).
 */
function defaultPort(
  hostname: string,
  served: ServedService,
  port: number,
  services: readonly Service[],
): number {
  if (hostname === served.hostname) return port;
  const target = services.find((candidate) => candidate.hostname === hostname);
  return target?.ports.length === 1 ? target.ports[0]!.port : port;
}

function action(rule: HTTPRoute, intern: (destination: Destination) => string): RouteAction {
  if (rule.redirect) {
    const { redirect } = rule;
    return {
      kind: 'redirect',
      status: redirect.redirectCode,
      scheme: redirect.scheme,
      host: redirect.authority,
      port:
        redirect.port ??
        (redirect.derivePort === 'FROM_PROTOCOL_DEFAULT'
          ? 'fromScheme'
          : redirect.derivePort === 'FROM_REQUEST_PORT'
            ? 'fromRequest'
            : undefined),
      path: redirect.uri !== undefined ? { kind: 'full', value: redirect.uri } : undefined,
    };
  }
  if (rule.directResponse) {
    const { status, body } = rule.directResponse;
    if (!body) return { kind: 'directResponse', status };
    return 'string' in body
      ? { kind: 'directResponse', status, body: body.string, bodyEncoding: 'utf8' }
      : { kind: 'directResponse', status, body: body.bytes, bodyEncoding: 'base64' };
  }
  return { kind: 'forward', backends: rule.route.map((destination) => backend(destination, intern)) };
}

function backend(route: HTTPRouteDestination, intern: (destination: Destination) => string): Backend {
  return {
    kind: 'cluster',
    cluster: intern(route.destination),
    weight: route.weight,
    requestHeaders: istioHeaderOperations(route.headers?.request),
    responseHeaders: istioHeaderOperations(route.headers?.response),
  };
}

function requestMatch(match: HTTPMatchRequest): RequestMatch {
  const conditions = (record: HTTPMatchRequest['headers'], invert: boolean, lower: boolean) =>
    Object.entries(record).map(
      ([name, value]): ValueCondition => ({
        name: lower ? name.toLowerCase() : name,
        // `{}` (kept as the empty prefix by validation) asks only for presence.
        match: 'prefix' in value && value.prefix === '' ? { kind: 'present' } : stringMatcher(value),
        invert,
      }),
    );
  return {
    path: match.uri ? stringMatcher(match.uri, match.ignoreUriCase) : undefined,
    method: match.method ? stringMatcher(match.method) : undefined,
    scheme: match.scheme ? stringMatcher(match.scheme) : undefined,
    authority: match.authority ? stringMatcher(match.authority) : undefined,
    headers: [...conditions(match.headers, false, true), ...conditions(match.withoutHeaders, true, true)],
    queryParams: conditions(match.queryParams, false, false),
  };
}

function retry(retries: NonNullable<HTTPRoute['retries']>): Route['retry'] {
  const policies = retries.retryOn?.split(',').map((policy) => policy.trim()) ?? [...DEFAULT_RETRY_ON];
  const codes = policies.filter((policy) => /^\d+$/.test(policy)).map(Number);
  const retryOn = policies.filter((policy) => !/^\d+$/.test(policy));
  if (codes.length > 0 && !retryOn.includes('retriable-status-codes')) retryOn.push('retriable-status-codes');
  return {
    attempts: retries.attempts,
    perTryTimeoutMs: retries.perTryTimeout,
    retryOn,
    retriableStatusCodes: codes,
    backoffBaseMs: DEFAULT_BACKOFF_BASE_MS,
  };
}

function cors(policy: NonNullable<HTTPRoute['corsPolicy']>): CorsPolicy {
  return {
    allowOrigins: policy.allowOrigins.map((origin) => stringMatcher(origin)),
    allowMethods: policy.allowMethods,
    allowHeaders: policy.allowHeaders,
    exposeHeaders: policy.exposeHeaders,
    maxAgeSeconds: policy.maxAge !== undefined ? policy.maxAge / 1000 : undefined,
    allowCredentials: policy.allowCredentials ?? false,
    unmatchedPreflights: policy.unmatchedPreflights === 'IGNORE' ? 'ignore' : 'forward',
  };
}

/** Every (root, delegate) pair of matches that can hold together, each narrowed to both. */
function mergeMatchLists(
  root: readonly HTTPMatchRequest[],
  child: readonly HTTPMatchRequest[],
): HTTPMatchRequest[] {
  if (root.length === 0) return [...child];
  if (child.length === 0) return [...root];
  return root.flatMap((r) => child.flatMap((c) => mergeMatch(r, c) ?? []));
}

/**
 * A delegate's match narrowed by the root's, as Istio merges them: the delegate's URI must lie within the
 * root's (same value, or inside the root's prefix); other single fields must agree when both set them; header
 * and query conditions add up and must not contradict. Undefined when they conflict (the pair is dropped).
 */
function mergeMatch(root: HTTPMatchRequest, child: HTTPMatchRequest): HTTPMatchRequest | undefined {
  const same = (a: unknown, b: unknown) =>
    a === undefined || b === undefined || JSON.stringify(a) === JSON.stringify(b);
  if (!same(root.scheme, child.scheme) || !same(root.method, child.method)) return undefined;
  if (!same(root.authority, child.authority) || !same(root.port, child.port)) return undefined;
  let uri = child.uri ?? root.uri;
  let ignoreUriCase = child.uri ? child.ignoreUriCase : root.ignoreUriCase;
  if (root.uri && child.uri && JSON.stringify(root.uri) !== JSON.stringify(child.uri)) {
    const inside =
      'prefix' in root.uri && !('regex' in child.uri) && childUri(child.uri).startsWith(root.uri.prefix);
    if (!inside) return undefined;
    uri = child.uri;
    ignoreUriCase = child.ignoreUriCase;
  }
  const union = (a: HTTPMatchRequest['headers'], b: HTTPMatchRequest['headers']) => {
    for (const key of Object.keys(b)) if (key in a && !same(a[key], b[key])) return undefined;
    return { ...a, ...b };
  };
  const headers = union(root.headers, child.headers);
  const withoutHeaders = union(root.withoutHeaders, child.withoutHeaders);
  const queryParams = union(root.queryParams, child.queryParams);
  if (!headers || !withoutHeaders || !queryParams) return undefined;
  return {
    ...child,
    uri,
    ignoreUriCase,
    scheme: child.scheme ?? root.scheme,
    method: child.method ?? root.method,
    authority: child.authority ?? root.authority,
    port: child.port ?? root.port,
    headers,
    withoutHeaders,
    queryParams,
    gateways: root.gateways,
  };
}

function childUri(uri: NonNullable<HTTPMatchRequest['uri']>): string {
  return 'exact' in uri ? uri.exact : 'prefix' in uri ? uri.prefix : uri.regex;
}
