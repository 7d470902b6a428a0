/**
 * Istio networking kinds: VirtualService and DestinationRule (`networking.istio.io/v1`, also served as
 * `v1beta1` and `v1alpha3`). Every field Istio documents is parsed and checked as Istio's validation does;
 * the waypoint applies them. Durations are held in milliseconds.
 */
import type { Field } from '../field.ts';
import type { KindDefinition, ObjectMeta } from '../resource.ts';
import {
  exportTo,
  HEADER_NAME,
  HTTP_METHODS,
  headerOperationName,
  hostname,
  ipOrCidr,
  namespaceName,
  percent,
  portSelector,
  regex,
  type StringMatch,
  stringMatch,
  stringMatchMap,
  workloadSelector,
} from './common.ts';

export const ISTIO_NETWORKING_VERSIONS = [
  'networking.istio.io/v1',
  'networking.istio.io/v1beta1',
  'networking.istio.io/v1alpha3',
] as const;

// ---------------------------------------------------------------------------------------------------------
// VirtualService

export interface Destination {
  host: string;
  subset?: string | undefined;
  port?: number | undefined;
}

export interface HeaderOperations {
  set: Record<string, string>;
  add: Record<string, string>;
  remove: string[];
}

export interface Headers {
  request?: HeaderOperations | undefined;
  response?: HeaderOperations | undefined;
}

export interface HTTPMatchRequest {
  name?: string | undefined;
  uri?: StringMatch | undefined;
  scheme?: StringMatch | undefined;
  method?: StringMatch | undefined;
  authority?: StringMatch | undefined;
  headers: Record<string, StringMatch>;
  withoutHeaders: Record<string, StringMatch>;
  queryParams: Record<string, StringMatch>;
  port?: number | undefined;
  sourceLabels: Record<string, string>;
  gateways: string[];
  ignoreUriCase: boolean;
  sourceNamespace?: string | undefined;
  statPrefix?: string | undefined;
}

export interface HTTPRouteDestination {
  destination: Destination;
  weight: number;
  headers?: Headers | undefined;
}

export interface HTTPRedirect {
  uri?: string | undefined;
  authority?: string | undefined;
  port?: number | undefined;
  derivePort?: 'FROM_PROTOCOL_DEFAULT' | 'FROM_REQUEST_PORT' | undefined;
  scheme?: string | undefined;
  redirectCode: number;
}

export interface HTTPDirectResponse {
  status: number;
  body?: { string: string } | { bytes: string } | undefined;
}

export interface HTTPRewrite {
  uri?: string | undefined;
  authority?: string | undefined;
  uriRegexRewrite?: { match: string; rewrite: string } | undefined;
}

export interface HTTPRetry {
  attempts: number;
  perTryTimeout?: number | undefined;
  retryOn?: string | undefined;
  retryRemoteLocalities?: boolean | undefined;
}

export interface HTTPFaultInjection {
  delay?: { fixedDelay: number; percentage?: number | undefined } | undefined;
  abort?:
    | { httpStatus?: number | undefined; grpcStatus?: string | undefined; percentage?: number | undefined }
    | undefined;
}

export interface HTTPMirrorPolicy {
  destination: Destination;
  percentage?: number | undefined;
}

export interface CorsPolicy {
  allowOrigins: StringMatch[];
  allowMethods: string[];
  allowHeaders: string[];
  exposeHeaders: string[];
  maxAge?: number | undefined;
  allowCredentials?: boolean | undefined;
  unmatchedPreflights?: 'UNSPECIFIED' | 'FORWARD' | 'IGNORE' | undefined;
}

export interface HTTPRoute {
  name?: string | undefined;
  match: HTTPMatchRequest[];
  route: HTTPRouteDestination[];
  redirect?: HTTPRedirect | undefined;
  directResponse?: HTTPDirectResponse | undefined;
  delegate?: { name: string; namespace?: string | undefined } | undefined;
  rewrite?: HTTPRewrite | undefined;
  /** Milliseconds; 0 disables the timeout. */
  timeout?: number | undefined;
  retries?: HTTPRetry | undefined;
  fault?: HTTPFaultInjection | undefined;
  mirror?: Destination | undefined;
  mirrors: HTTPMirrorPolicy[];
  mirrorPercentage?: number | undefined;
  corsPolicy?: CorsPolicy | undefined;
  headers?: Headers | undefined;
}

export interface L4MatchAttributes {
  destinationSubnets: string[];
  port?: number | undefined;
  sourceLabels: Record<string, string>;
  gateways: string[];
  sourceNamespace?: string | undefined;
}

export interface TLSMatchAttributes extends L4MatchAttributes {
  sniHosts: string[];
}

export interface RouteDestination {
  destination: Destination;
  weight: number;
}

export interface TCPRoute {
  match: L4MatchAttributes[];
  route: RouteDestination[];
}

export interface TLSRoute {
  match: TLSMatchAttributes[];
  route: RouteDestination[];
}

export interface VirtualServiceSpec {
  hosts: string[];
  gateways: string[];
  http: HTTPRoute[];
  tls: TLSRoute[];
  tcp: TCPRoute[];
  exportTo: string[];
}

const RETRY_ON = new Set([
  '5xx',
  'gateway-error',
  'reset',
  'reset-before-request',
  'connect-failure',
  'retriable-4xx',
  'refused-stream',
  'retriable-status-codes',
  'retriable-headers',
  'envoy-ratelimited',
  'http3-post-connect-failure',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
]);

const GRPC_STATUSES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

/** `<namespace>/<name>` or a bare gateway name; `mesh` is the sidecar/waypoint pseudo-gateway. */
const GATEWAY_REF = /^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\/)?[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

function gatewayNames(field: Field): string[] {
  return (
    field.list((item) =>
      item.string({
        required: true,
        pattern: GATEWAY_REF,
        patternHint: 'use <namespace>/<gateway name>, a gateway name, or "mesh"',
      }),
    ) ?? []
  );
}

export function destination(field: Field, presence: { required?: boolean } = {}): Destination | undefined {
  const object = field.object(['host', 'subset', 'port'], presence);
  if (!object) return undefined;
  const host = hostname(object.child('host'));
  const subset = object.child('subset').string({
    pattern: /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/,
    patternHint: 'subset names are lowercase alphanumerics and - (DNS-1123 label)',
  });
  const port = portSelector(object.child('port'));
  if (host === undefined) return undefined;
  return { host, subset, port };
}

function headerOperations(field: Field, isRequest: boolean): HeaderOperations | undefined {
  const object = field.object(['set', 'add', 'remove']);
  if (!object) return undefined;
  const values = (key: 'set' | 'add') =>
    object.child(key).map((item, name) => {
      if (!headerOperationName(item, name, isRequest)) return undefined;
      if (!isRequest && name.toLowerCase() === 'host') return item.error('the Host header cannot be set');
      const value = item.string({ required: true });
      if (value !== undefined && hasControlCharacter(value)) {
        return item.error('header values must not contain control characters');
      }
      return value;
    }) ?? {};
  const set = values('set');
  const add = values('add');
  const remove =
    object.child('remove').list((item) => {
      const name = item.string({ required: true });
      if (name === undefined || !headerOperationName(item, name, false)) return undefined;
      if (name.toLowerCase() === 'host') return item.error('the Host header cannot be removed');
      return name;
    }) ?? [];
  return { set, add, remove };
}

/** Control characters other than tab, which HTTP header values may not carry. */
function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if ((code < 0x20 && code !== 0x09) || code === 0x7f) return true;
  }
  return false;
}

function headers(field: Field): Headers | undefined {
  const object = field.object(['request', 'response']);
  if (!object) return undefined;
  return {
    request: headerOperations(object.child('request'), true),
    response: headerOperations(object.child('response'), false),
  };
}

function httpMatch(field: Field): HTTPMatchRequest | undefined {
  const object = field.object([
    'name',
    'uri',
    'scheme',
    'method',
    'authority',
    'headers',
    'withoutHeaders',
    'queryParams',
    'port',
    'sourceLabels',
    'gateways',
    'ignoreUriCase',
    'sourceNamespace',
    'statPrefix',
  ]);
  if (!object) return undefined;
  return {
    name: object.child('name').string(),
    uri: stringMatch(object.child('uri')),
    scheme: stringMatch(object.child('scheme')),
    method: stringMatch(object.child('method')),
    authority: stringMatch(object.child('authority')),
    headers: stringMatchMap(object.child('headers'), 'header') ?? {},
    withoutHeaders: stringMatchMap(object.child('withoutHeaders'), 'header') ?? {},
    queryParams: stringMatchMap(object.child('queryParams'), 'any') ?? {},
    port: object.child('port').port(),
    sourceLabels: object.child('sourceLabels').labels() ?? {},
    gateways: gatewayNames(object.child('gateways')),
    ignoreUriCase: object.child('ignoreUriCase').boolean() ?? false,
    sourceNamespace: namespaceName(object.child('sourceNamespace')),
    statPrefix: object.child('statPrefix').string(),
  };
}

/** Weights: non-negative integers; several destinations must not all weigh 0; a lone one weighs 100. */
function weighted<T extends { weight: number }>(field: Field, items: T[] | undefined): T[] {
  if (!items) return [];
  const total = items.reduce((sum, item) => sum + item.weight, 0);
  if (items.length > 1 && total === 0)
    field.error('total destination weight is 0: give some destination a weight');
  if (items.length === 1 && items[0]!.weight === 0) items[0]!.weight = 100;
  return items;
}

function httpRouteDestination(field: Field): HTTPRouteDestination | undefined {
  const object = field.object(['destination', 'weight', 'headers'], { required: true });
  if (!object) return undefined;
  const target = destination(object.child('destination'), { required: true });
  const weight = object.child('weight').integer({ min: 0 }) ?? 0;
  const ops = headers(object.child('headers'));
  return target ? { destination: target, weight, headers: ops } : undefined;
}

function routeDestination(field: Field): RouteDestination | undefined {
  const object = field.object(['destination', 'weight'], { required: true });
  if (!object) return undefined;
  const target = destination(object.child('destination'), { required: true });
  const weight = object.child('weight').integer({ min: 0 }) ?? 0;
  return target ? { destination: target, weight } : undefined;
}

function redirect(field: Field): HTTPRedirect | undefined {
  const object = field.object(['uri', 'authority', 'port', 'derivePort', 'scheme', 'redirectCode']);
  if (!object) return undefined;
  object.exclusive(['port', 'derivePort']);
  const result: HTTPRedirect = {
    uri: object.child('uri').string(),
    authority: object.child('authority').string(),
    port: object.child('port').port(),
    derivePort: object.child('derivePort').oneOf(['FROM_PROTOCOL_DEFAULT', 'FROM_REQUEST_PORT'] as const),
    scheme: object.child('scheme').oneOf(['http', 'https'] as const),
    redirectCode: object.child('redirectCode').integer({ min: 300, max: 399 }) ?? 301,
  };
  if (!result.uri && !result.authority && !result.port && !result.derivePort && !result.scheme) {
    field.error('a redirect must set uri, authority, scheme or port');
  }
  return result;
}

function directResponse(field: Field): HTTPDirectResponse | undefined {
  const object = field.object(['status', 'body']);
  if (!object) return undefined;
  const status = object.child('status').integer({ required: true, min: 200, max: 599 });
  const bodyField = object.child('body');
  let body: HTTPDirectResponse['body'];
  const bodyObject = bodyField.object(['string', 'bytes']);
  if (bodyObject) {
    bodyObject.exclusive(['string', 'bytes']);
    const text = bodyObject.child('string').string();
    const bytes = bodyObject.child('bytes').string({
      pattern: /^[A-Za-z0-9+/]*={0,2}$/,
      patternHint: 'bytes are base64-encoded',
    });
    body = text !== undefined ? { string: text } : bytes !== undefined ? { bytes } : undefined;
    const size =
      text !== undefined ? Buffer.byteLength(text) : bytes !== undefined ? (bytes.length * 3) / 4 : 0;
    if (size > 1024 * 1024) bodyField.error('direct response bodies must be smaller than 1 MiB');
    else if (size > 100 * 1024) bodyField.warn('large direct response bodies slow down config pushes');
  }
  return status === undefined ? undefined : { status, body };
}

function rewrite(field: Field): HTTPRewrite | undefined {
  const object = field.object(['uri', 'authority', 'uriRegexRewrite']);
  if (!object) return undefined;
  object.exclusive(['uri', 'uriRegexRewrite']);
  let uriRegexRewrite: HTTPRewrite['uriRegexRewrite'];
  const regexRewrite = object.child('uriRegexRewrite').object(['match', 'rewrite']);
  if (regexRewrite) {
    const match = regexRewrite.child('match').string({ required: true, nonEmpty: true });
    const replacement = regexRewrite.child('rewrite').string({ required: true, nonEmpty: true });
    if (match !== undefined && regex(regexRewrite.child('match'), match) && replacement !== undefined) {
      uriRegexRewrite = { match, rewrite: replacement };
    }
  }
  const result = {
    uri: object.child('uri').string(),
    authority: object.child('authority').string(),
    uriRegexRewrite,
  };
  if (result.uri === undefined && result.authority === undefined && !regexRewrite) {
    field.error('a rewrite must set uri, uriRegexRewrite or authority');
  }
  return result;
}

function retries(field: Field): HTTPRetry | undefined {
  const object = field.object(['attempts', 'perTryTimeout', 'retryOn', 'retryRemoteLocalities']);
  if (!object) return undefined;
  const attempts = object.child('attempts').integer({ min: 0 }) ?? 0;
  const perTryTimeout = object.child('perTryTimeout').duration({ min: 1 });
  const retryOn = object.child('retryOn').string();
  if (retryOn !== undefined) {
    for (const policy of retryOn.split(',')) {
      const code = Number(policy);
      if (!RETRY_ON.has(policy.trim()) && !(Number.isInteger(code) && code >= 100 && code <= 599)) {
        object.child('retryOn').error(`${JSON.stringify(policy)} is not a valid retryOn policy`);
      }
    }
  }
  const retryRemoteLocalities = object.child('retryRemoteLocalities').boolean();
  if (attempts === 0 && (perTryTimeout !== undefined || retryOn !== undefined || retryRemoteLocalities)) {
    object.child('attempts').error('retry settings are given but attempts is 0 (retries disabled)');
  }
  return { attempts, perTryTimeout, retryOn, retryRemoteLocalities };
}

function fault(field: Field): HTTPFaultInjection | undefined {
  const object = field.object(['delay', 'abort']);
  if (!object) return undefined;
  let delay: HTTPFaultInjection['delay'];
  const delayField = object
    .child('delay')
    .object(['fixedDelay', 'exponentialDelay', 'percentage', 'percent']);
  if (delayField) {
    delayField.exclusive(['percentage', 'percent']);
    if (delayField.child('exponentialDelay').present) {
      delayField
        .child('exponentialDelay')
        .error('exponentialDelay is not supported (Istio does not support it either)');
    }
    const fixedDelay = delayField.child('fixedDelay').duration({ required: true, min: 1 });
    const share =
      percent(delayField.child('percentage')) ?? delayField.child('percent').integer({ min: 0, max: 100 });
    if (fixedDelay !== undefined) delay = { fixedDelay, percentage: share };
  }
  let abort: HTTPFaultInjection['abort'];
  const abortField = object.child('abort').object(['httpStatus', 'grpcStatus', 'http2Error', 'percentage']);
  if (abortField) {
    abortField.exclusive(['httpStatus', 'grpcStatus', 'http2Error']);
    if (abortField.child('http2Error').present)
      abortField.child('http2Error').error('http2Error aborts are not supported');
    const httpStatus = abortField.child('httpStatus').integer({ min: 200, max: 599 });
    const grpcStatus = abortField.child('grpcStatus').oneOf(GRPC_STATUSES);
    if (!abortField.child('httpStatus').present && !abortField.child('grpcStatus').present) {
      abortField.error('set httpStatus or grpcStatus');
    }
    abort = { httpStatus, grpcStatus, percentage: percent(abortField.child('percentage')) };
  }
  if (!object.child('delay').present && !object.child('abort').present)
    field.error('a fault needs a delay and/or an abort');
  return { delay, abort };
}

function corsPolicy(field: Field): CorsPolicy | undefined {
  const object = field.object([
    'allowOrigins',
    'allowMethods',
    'allowHeaders',
    'exposeHeaders',
    'maxAge',
    'allowCredentials',
    'unmatchedPreflights',
  ]);
  if (!object) return undefined;
  const corsHeaders = (key: string) =>
    object.child(key).list((item) => {
      const name = item.string({ required: true, nonEmpty: true });
      if (name === undefined) return undefined;
      return name === '*' || HEADER_NAME.test(name)
        ? name
        : item.error(`invalid header name ${JSON.stringify(name)}`);
    }) ?? [];
  const maxAge = object.child('maxAge').duration({ min: 0 });
  if (maxAge !== undefined && maxAge % 1000 !== 0)
    object.child('maxAge').error('maxAge is accurate to seconds only');
  return {
    allowOrigins: object.child('allowOrigins').list((item) => stringMatch(item, { required: true })) ?? [],
    allowMethods:
      object.child('allowMethods').list((item) => item.oneOf(HTTP_METHODS, { required: true })) ?? [],
    allowHeaders: corsHeaders('allowHeaders'),
    exposeHeaders: corsHeaders('exposeHeaders'),
    maxAge,
    allowCredentials: object.child('allowCredentials').boolean(),
    unmatchedPreflights: object
      .child('unmatchedPreflights')
      .oneOf(['UNSPECIFIED', 'FORWARD', 'IGNORE'] as const),
  };
}

function httpRoute(field: Field, delegateTarget: boolean): HTTPRoute | undefined {
  const object = field.object([
    'name',
    'match',
    'route',
    'redirect',
    'directResponse',
    'delegate',
    'rewrite',
    'timeout',
    'retries',
    'fault',
    'mirror',
    'mirrors',
    'mirrorPercentage',
    'corsPolicy',
    'headers',
  ]);
  if (!object) return undefined;
  const has = (key: string) => object.child(key).present;
  const conflicts: [string, string][] = [
    ['route', 'redirect'],
    ['route', 'directResponse'],
    ['redirect', 'directResponse'],
    ['redirect', 'rewrite'],
    ['redirect', 'fault'],
    ['directResponse', 'rewrite'],
    ['directResponse', 'fault'],
    ['mirror', 'mirrors'],
    ['delegate', 'route'],
    ['delegate', 'redirect'],
  ];
  for (const [a, b] of conflicts) {
    if (has(a) && has(b)) object.error(`${a} and ${b} cannot be used together in one HTTP route`);
  }
  if (!has('route') && !has('redirect') && !has('directResponse') && !has('delegate')) {
    object.error('an HTTP route needs one of route, redirect, directResponse or delegate');
  }
  let delegate: HTTPRoute['delegate'];
  const delegateField = object.child('delegate').object(['name', 'namespace']);
  if (delegateField) {
    if (delegateTarget) delegateField.error('a delegate VirtualService cannot delegate again');
    const name = delegateField.child('name').string({ required: true, nonEmpty: true });
    if (name !== undefined) delegate = { name, namespace: namespaceName(delegateField.child('namespace')) };
  }
  const routeField = object.child('route');
  const mirror = destination(object.child('mirror'));
  return {
    name: object.child('name').string(),
    match: object.child('match').list(httpMatch) ?? [],
    route: weighted(routeField, routeField.list(httpRouteDestination)),
    redirect: redirect(object.child('redirect')),
    directResponse: directResponse(object.child('directResponse')),
    delegate,
    rewrite: rewrite(object.child('rewrite')),
    timeout: object.child('timeout').duration({ min: 0 }),
    retries: retries(object.child('retries')),
    fault: fault(object.child('fault')),
    mirror,
    mirrors:
      object.child('mirrors').list((item) => {
        const mirrorField = item.object(['destination', 'percentage'], { required: true });
        if (!mirrorField) return undefined;
        const target = destination(mirrorField.child('destination'), { required: true });
        return target
          ? { destination: target, percentage: percent(mirrorField.child('percentage')) }
          : undefined;
      }) ?? [],
    mirrorPercentage: percent(object.child('mirrorPercentage')),
    corsPolicy: corsPolicy(object.child('corsPolicy')),
    headers: headers(object.child('headers')),
  };
}

const L4_MATCH_KEYS = ['destinationSubnets', 'port', 'sourceLabels', 'gateways', 'sourceNamespace'];

function l4Attributes(object: Field): L4MatchAttributes {
  return {
    destinationSubnets: object.child('destinationSubnets').list(ipOrCidr) ?? [],
    port: object.child('port').port(),
    sourceLabels: object.child('sourceLabels').labels() ?? {},
    gateways: gatewayNames(object.child('gateways')),
    sourceNamespace: namespaceName(object.child('sourceNamespace')),
  };
}

function routeDestinations(field: Field): RouteDestination[] {
  return weighted(field, field.list(routeDestination, { required: true, nonEmpty: true }));
}

function tcpRoute(field: Field): TCPRoute | undefined {
  const object = field.object(['match', 'route']);
  if (!object) return undefined;
  const match =
    object.child('match').list((item) => {
      const matchObject = item.object(L4_MATCH_KEYS, { required: true });
      return matchObject ? l4Attributes(matchObject) : undefined;
    }) ?? [];
  return { match, route: routeDestinations(object.child('route')) };
}

function tlsRoute(field: Field, hosts: readonly string[]): TLSRoute | undefined {
  const object = field.object(['match', 'route']);
  if (!object) return undefined;
  const match =
    object.child('match').list(
      (item) => {
        const matchObject = item.object([...L4_MATCH_KEYS, 'sniHosts'], { required: true });
        if (!matchObject) return undefined;
        const sniHosts =
          matchObject.child('sniHosts').list(
            (host) => {
              const name = hostname(host, { allowStar: true });
              if (name !== undefined && !hosts.some((vsHost) => hostCovers(vsHost, name))) {
                host.error(`SNI host ${JSON.stringify(name)} is not covered by the VirtualService's hosts`);
              }
              return name;
            },
            { required: true, nonEmpty: true },
          ) ?? [];
        return { ...l4Attributes(matchObject), sniHosts };
      },
      { required: true, nonEmpty: true },
    ) ?? [];
  return { match, route: routeDestinations(object.child('route')) };
}

/** Whether `pattern` (possibly `*.suffix` or `*`) covers `host`. */
export function hostCovers(pattern: string, host: string): boolean {
  if (pattern === '*' || pattern === host) return true;
  if (pattern.startsWith('*.')) {
    const suffix = pattern.slice(1);
    return host.endsWith(suffix) || (host.startsWith('*.') && host.slice(1).endsWith(suffix));
  }
  return false;
}

function parseVirtualService(doc: Field): VirtualServiceSpec | undefined {
  const spec = doc
    .child('spec')
    .object(['hosts', 'gateways', 'http', 'tls', 'tcp', 'exportTo'], { required: true });
  if (!spec) return undefined;
  const hosts = spec.child('hosts').list((item) => hostname(item, { allowStar: true, allowIp: true })) ?? [];
  const gateways = gatewayNames(spec.child('gateways'));
  const delegateTarget = !spec.child('hosts').present || hosts.length === 0;
  if (delegateTarget) {
    if (gateways.length > 0)
      spec.child('gateways').error('a delegate VirtualService (no hosts) takes no gateways');
    if (spec.child('tls').present)
      spec.child('tls').error('a delegate VirtualService (no hosts) takes no tls routes');
    if (spec.child('tcp').present)
      spec.child('tcp').error('a delegate VirtualService (no hosts) takes no tcp routes');
  }
  const meshBound = gateways.length === 0 || gateways.includes('mesh');
  if (meshBound && hosts.includes('*')) {
    spec.child('hosts').error('the wildcard host "*" is not allowed for VirtualServices bound to the mesh');
  }
  hosts.forEach((host, index) => {
    for (const other of hosts.slice(index + 1)) {
      if (hostCovers(host, other) || hostCovers(other, host)) {
        spec.child('hosts').error(`duplicate hosts: ${host} and ${other} overlap`);
      }
    }
  });
  if (!spec.child('http').present && !spec.child('tls').present && !spec.child('tcp').present) {
    spec.error('a VirtualService needs http, tls or tcp routes');
  }
  return {
    hosts,
    gateways,
    http: spec.child('http').list((item) => httpRoute(item, delegateTarget)) ?? [],
    tls: spec.child('tls').list((item) => tlsRoute(item, hosts)) ?? [],
    tcp: spec.child('tcp').list(tcpRoute) ?? [],
    exportTo: exportTo(spec.child('exportTo')),
  };
}

// ---------------------------------------------------------------------------------------------------------
// DestinationRule

export type SimpleLoadBalancer =
  | 'UNSPECIFIED'
  | 'RANDOM'
  | 'PASSTHROUGH'
  | 'ROUND_ROBIN'
  | 'LEAST_REQUEST'
  | 'LEAST_CONN';

export interface ConsistentHash {
  httpHeaderName?: string | undefined;
  httpCookie?: { name: string; path?: string | undefined; ttl?: number | undefined } | undefined;
  useSourceIp?: boolean | undefined;
  httpQueryParameterName?: string | undefined;
  ringHash?: { minimumRingSize?: number | undefined } | undefined;
  maglev?: { tableSize: number } | undefined;
}

export interface LoadBalancerSettings {
  simple?: SimpleLoadBalancer | undefined;
  consistentHash?: ConsistentHash | undefined;
  /** Milliseconds: `warmup.duration`, or the older `warmupDurationSecs`. */
  warmupDurationSecs?: number | undefined;
  /** Istio's slow start: traffic share starts at `minimumPercent` and grows along a curve of `aggression`. */
  warmup?:
    | { duration: number; minimumPercent?: number | undefined; aggression?: number | undefined }
    | undefined;
}

export interface ConnectionPoolSettings {
  tcp?:
    | {
        maxConnections?: number | undefined;
        connectTimeout?: number | undefined;
        maxConnectionDuration?: number | undefined;
        idleTimeout?: number | undefined;
        tcpKeepalive?:
          | { probes?: number | undefined; time?: number | undefined; interval?: number | undefined }
          | undefined;
      }
    | undefined;
  http?:
    | {
        http1MaxPendingRequests?: number | undefined;
        http2MaxRequests?: number | undefined;
        maxRequestsPerConnection?: number | undefined;
        maxRetries?: number | undefined;
        idleTimeout?: number | undefined;
        h2UpgradePolicy?: 'DEFAULT' | 'DO_NOT_UPGRADE' | 'UPGRADE' | undefined;
        useClientProtocol?: boolean | undefined;
        maxConcurrentStreams?: number | undefined;
        /** HTTP/2 PINGs to the upstream: every `interval`, the connection closed after `timeout` unanswered. */
        http2KeepAlive?: { interval: number; timeout: number } | undefined;
      }
    | undefined;
}

export interface OutlierDetection {
  splitExternalLocalOriginErrors?: boolean | undefined;
  consecutiveLocalOriginFailures?: number | undefined;
  consecutiveGatewayErrors?: number | undefined;
  consecutive5xxErrors?: number | undefined;
  interval?: number | undefined;
  baseEjectionTime?: number | undefined;
  maxEjectionPercent?: number | undefined;
  minHealthPercent?: number | undefined;
}

export interface ClientTLSSettings {
  mode: 'DISABLE' | 'SIMPLE' | 'MUTUAL' | 'ISTIO_MUTUAL';
  clientCertificate?: string | undefined;
  privateKey?: string | undefined;
  caCertificates?: string | undefined;
  credentialName?: string | undefined;
  subjectAltNames: string[];
  sni?: string | undefined;
  insecureSkipVerify?: boolean | undefined;
}

export interface PortTrafficPolicy {
  port: number;
  loadBalancer?: LoadBalancerSettings | undefined;
  connectionPool?: ConnectionPoolSettings | undefined;
  outlierDetection?: OutlierDetection | undefined;
  tls?: ClientTLSSettings | undefined;
}

/** Envoy's retry budget: concurrent retries as a share of the cluster's active and pending requests. */
export interface RetryBudget {
  /** 0-100; Istio's default 20. */
  percent?: number | undefined;
  /** The floor of the budget; Istio's default 3. */
  minRetryConcurrency?: number | undefined;
}

export interface TrafficPolicy {
  loadBalancer?: LoadBalancerSettings | undefined;
  connectionPool?: ConnectionPoolSettings | undefined;
  outlierDetection?: OutlierDetection | undefined;
  retryBudget?: RetryBudget | undefined;
  tls?: ClientTLSSettings | undefined;
  portLevelSettings: PortTrafficPolicy[];
  tunnel?: { protocol?: string | undefined; targetHost: string; targetPort: number } | undefined;
  proxyProtocol?: { version?: 'V1' | 'V2' | undefined } | undefined;
}

export interface Subset {
  name: string;
  labels: Record<string, string>;
  trafficPolicy?: TrafficPolicy | undefined;
}

export interface DestinationRuleSpec {
  host: string;
  trafficPolicy?: TrafficPolicy | undefined;
  subsets: Subset[];
  exportTo: string[];
  workloadSelector?: Record<string, string> | undefined;
}

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let factor = 2; factor * factor <= n; factor++) if (n % factor === 0) return false;
  return true;
}

function loadBalancer(field: Field): LoadBalancerSettings | undefined {
  const object = field.object([
    'simple',
    'consistentHash',
    'localityLbSetting',
    'warmupDurationSecs',
    'warmup',
  ]);
  if (!object) return undefined;
  object.exclusive(['simple', 'consistentHash']);
  if (object.child('localityLbSetting').present) {
    object
      .child('localityLbSetting')
      .warn('locality load balancing has no effect in Ambit (single locality)');
  }
  const warmup = warmupSettings(object.child('warmup'));
  let consistentHash: ConsistentHash | undefined;
  const hash = object
    .child('consistentHash')
    .object([
      'httpHeaderName',
      'httpCookie',
      'useSourceIp',
      'httpQueryParameterName',
      'ringHash',
      'maglev',
      'minimumRingSize',
    ]);
  if (hash) {
    const keys = ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'];
    hash.exclusive(keys);
    hash.exclusive(['ringHash', 'maglev', 'minimumRingSize']);
    if (!keys.some((key) => hash.child(key).present)) hash.error(`set one of ${keys.join(', ')}`);
    let httpCookie: ConsistentHash['httpCookie'];
    const cookie = hash.child('httpCookie').object(['name', 'path', 'ttl', 'attributes']);
    if (cookie) {
      const name = cookie.child('name').string({ required: true, nonEmpty: true });
      if (name !== undefined) {
        httpCookie = {
          name,
          path: cookie.child('path').string(),
          ttl: cookie.child('ttl').duration({ min: 0 }),
        };
      }
    }
    let maglev: ConsistentHash['maglev'];
    const maglevField = hash.child('maglev').object(['tableSize']);
    if (maglevField) {
      const tableSize = maglevField.child('tableSize').integer({ required: true, min: 1, max: 5_000_010 });
      if (tableSize !== undefined && !isPrime(tableSize)) {
        maglevField.child('tableSize').error(`tableSize must be a prime number, got ${tableSize}`);
      } else if (tableSize !== undefined) {
        maglev = { tableSize };
      }
    }
    const ringHashField = hash.child('ringHash').object(['minimumRingSize']);
    const legacyRingSize = hash.child('minimumRingSize').integer({ min: 1 });
    if (legacyRingSize !== undefined)
      hash.child('minimumRingSize').warn('deprecated: use ringHash.minimumRingSize');
    consistentHash = {
      httpHeaderName: hash.child('httpHeaderName').string({ nonEmpty: true }),
      httpCookie,
      useSourceIp: hash.child('useSourceIp').boolean(),
      httpQueryParameterName: hash.child('httpQueryParameterName').string({ nonEmpty: true }),
      ringHash: ringHashField
        ? { minimumRingSize: ringHashField.child('minimumRingSize').integer({ min: 1 }) }
        : legacyRingSize !== undefined
          ? { minimumRingSize: legacyRingSize }
          : undefined,
      maglev,
    };
  }
  return {
    simple: object
      .child('simple')
      .oneOf(['UNSPECIFIED', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST', 'LEAST_CONN'] as const),
    consistentHash,
    warmupDurationSecs: warmup?.duration ?? object.child('warmupDurationSecs').duration({ min: 1 }),
    warmup,
  };
}

/** `loadBalancer.warmup` as Istio validates it: a required duration, a percentage, a positive aggression. */
function warmupSettings(field: Field): LoadBalancerSettings['warmup'] {
  const object = field.object(['duration', 'minimumPercent', 'aggression']);
  if (!object) return undefined;
  const duration = object.child('duration').duration({ required: true, min: 1 });
  const minimumPercent = object.child('minimumPercent').number({ min: 0, max: 100 });
  const aggression = object.child('aggression').number();
  if (aggression !== undefined && aggression <= 0) object.child('aggression').error('must be greater than 0');
  return duration === undefined ? undefined : { duration, minimumPercent, aggression };
}

function connectionPool(field: Field): ConnectionPoolSettings | undefined {
  const object = field.object(['tcp', 'http']);
  if (!object) return undefined;
  let tcp: ConnectionPoolSettings['tcp'];
  const tcpField = object
    .child('tcp')
    .object(['maxConnections', 'connectTimeout', 'tcpKeepalive', 'maxConnectionDuration', 'idleTimeout']);
  if (tcpField) {
    const keepalive = tcpField.child('tcpKeepalive').object(['probes', 'time', 'interval']);
    tcp = {
      maxConnections: tcpField.child('maxConnections').integer({ min: 1 }),
      connectTimeout: tcpField.child('connectTimeout').duration({ min: 1 }),
      maxConnectionDuration: tcpField.child('maxConnectionDuration').duration({ min: 1 }),
      idleTimeout: tcpField.child('idleTimeout').duration({ min: 0 }),
      tcpKeepalive: keepalive
        ? {
            probes: keepalive.child('probes').integer({ min: 1 }),
            time: keepalive.child('time').duration({ min: 1 }),
            interval: keepalive.child('interval').duration({ min: 1 }),
          }
        : undefined,
    };
  }
  let http: ConnectionPoolSettings['http'];
  const httpField = object
    .child('http')
    .object([
      'http1MaxPendingRequests',
      'http2MaxRequests',
      'maxRequestsPerConnection',
      'maxRetries',
      'idleTimeout',
      'h2UpgradePolicy',
      'useClientProtocol',
      'maxConcurrentStreams',
      'http2KeepAlive',
    ]);
  if (httpField) {
    const keepAliveField = httpField.child('http2KeepAlive').object(['interval', 'timeout']);
    const interval = keepAliveField?.child('interval').duration({ required: true, min: 1 });
    const timeout = keepAliveField?.child('timeout').duration({ required: true, min: 1 });
    if (
      httpField.child('h2UpgradePolicy').value === 'UPGRADE' &&
      httpField.child('useClientProtocol').value === true
    ) {
      httpField.child('useClientProtocol').error('must not be true when h2UpgradePolicy is UPGRADE');
    }
    http = {
      http1MaxPendingRequests: httpField.child('http1MaxPendingRequests').integer({ min: 0 }),
      http2MaxRequests: httpField.child('http2MaxRequests').integer({ min: 0 }),
      maxRequestsPerConnection: httpField.child('maxRequestsPerConnection').integer({ min: 0 }),
      maxRetries: httpField.child('maxRetries').integer({ min: 0 }),
      idleTimeout: httpField.child('idleTimeout').duration({ min: 1 }),
      h2UpgradePolicy: httpField
        .child('h2UpgradePolicy')
        .oneOf(['DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE'] as const),
      useClientProtocol: httpField.child('useClientProtocol').boolean(),
      maxConcurrentStreams: httpField.child('maxConcurrentStreams').integer({ min: 0 }),
      http2KeepAlive: interval !== undefined && timeout !== undefined ? { interval, timeout } : undefined,
    };
  }
  return { tcp, http };
}

function outlierDetection(field: Field): OutlierDetection | undefined {
  const object = field.object([
    'splitExternalLocalOriginErrors',
    'consecutiveLocalOriginFailures',
    'consecutiveGatewayErrors',
    'consecutive5xxErrors',
    'consecutiveErrors',
    'interval',
    'baseEjectionTime',
    'maxEjectionPercent',
    'minHealthPercent',
  ]);
  if (!object) return undefined;
  if (object.child('consecutiveErrors').present) {
    object
      .child('consecutiveErrors')
      .error('consecutiveErrors was removed from Istio: use consecutive5xxErrors');
  }
  const split = object.child('splitExternalLocalOriginErrors').boolean();
  const localOrigin = object.child('consecutiveLocalOriginFailures').integer({ min: 0 });
  if (localOrigin !== undefined && !split) {
    object.child('consecutiveLocalOriginFailures').error('needs splitExternalLocalOriginErrors: true');
  }
  return {
    splitExternalLocalOriginErrors: split,
    consecutiveLocalOriginFailures: localOrigin,
    consecutiveGatewayErrors: object.child('consecutiveGatewayErrors').integer({ min: 0 }),
    consecutive5xxErrors: object.child('consecutive5xxErrors').integer({ min: 0 }),
    interval: object.child('interval').duration({ min: 1 }),
    baseEjectionTime: object.child('baseEjectionTime').duration({ min: 1 }),
    maxEjectionPercent: object.child('maxEjectionPercent').integer({ min: 0, max: 100 }),
    minHealthPercent: object.child('minHealthPercent').integer({ min: 0, max: 100 }),
  };
}

function clientTls(field: Field): ClientTLSSettings | undefined {
  const object = field.object([
    'mode',
    'clientCertificate',
    'privateKey',
    'caCertificates',
    'credentialName',
    'subjectAltNames',
    'sni',
    'insecureSkipVerify',
    'caCrl',
  ]);
  if (!object) return undefined;
  const mode = object
    .child('mode')
    .oneOf(['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL'] as const, { required: true });
  const clientCertificate = object.child('clientCertificate').string();
  const privateKey = object.child('privateKey').string();
  const credentialName = object.child('credentialName').string();
  if (
    mode === 'MUTUAL' &&
    credentialName === undefined &&
    (clientCertificate === undefined || privateKey === undefined)
  ) {
    object.error('MUTUAL mode needs clientCertificate and privateKey, or credentialName');
  }
  if (mode === 'ISTIO_MUTUAL') {
    for (const key of ['clientCertificate', 'privateKey', 'caCertificates', 'credentialName']) {
      if (object.child(key).present)
        object.child(key).error('ISTIO_MUTUAL uses the mesh certificates: remove this field');
    }
  }
  if (object.child('caCrl').present) object.child('caCrl').string();
  if (mode === undefined) return undefined;
  return {
    mode,
    clientCertificate,
    privateKey,
    caCertificates: object.child('caCertificates').string(),
    credentialName,
    subjectAltNames: object.child('subjectAltNames').strings() ?? [],
    sni: object.child('sni').string(),
    insecureSkipVerify: object.child('insecureSkipVerify').boolean(),
  };
}

function trafficPolicy(field: Field): TrafficPolicy | undefined {
  const object = field.object([
    'loadBalancer',
    'connectionPool',
    'outlierDetection',
    'tls',
    'portLevelSettings',
    'tunnel',
    'proxyProtocol',
    'retryBudget',
  ]);
  if (!object) return undefined;
  const portLevelField = object.child('portLevelSettings');
  const seenPorts = new Set<number>();
  const portLevelSettings =
    portLevelField.list((item) => {
      const setting = item.object(['port', 'loadBalancer', 'connectionPool', 'outlierDetection', 'tls'], {
        required: true,
      });
      if (!setting) return undefined;
      const port = portSelector(setting.child('port'));
      if (!setting.child('port').present) setting.child('port').error('required field is missing');
      if (setting.keys().length < 2)
        setting.error('a port traffic policy needs at least one setting besides port');
      if (port !== undefined && seenPorts.has(port))
        setting.child('port').error(`port ${port} is configured twice`);
      if (port !== undefined) seenPorts.add(port);
      return port === undefined
        ? undefined
        : {
            port,
            loadBalancer: loadBalancer(setting.child('loadBalancer')),
            connectionPool: connectionPool(setting.child('connectionPool')),
            outlierDetection: outlierDetection(setting.child('outlierDetection')),
            tls: clientTls(setting.child('tls')),
          };
    }) ?? [];
  let tunnel: TrafficPolicy['tunnel'];
  const tunnelField = object.child('tunnel').object(['protocol', 'targetHost', 'targetPort']);
  if (tunnelField) {
    const targetHost = tunnelField.child('targetHost').string({ required: true, nonEmpty: true });
    const targetPort = tunnelField.child('targetPort').port({ required: true });
    const protocol = tunnelField.child('protocol').oneOf(['CONNECT', 'POST'] as const);
    if (targetHost !== undefined && targetPort !== undefined) tunnel = { protocol, targetHost, targetPort };
  }
  const proxy = object.child('proxyProtocol').object(['version']);
  return {
    loadBalancer: loadBalancer(object.child('loadBalancer')),
    connectionPool: connectionPool(object.child('connectionPool')),
    outlierDetection: outlierDetection(object.child('outlierDetection')),
    retryBudget: retryBudget(object.child('retryBudget')),
    tls: clientTls(object.child('tls')),
    portLevelSettings,
    tunnel,
    proxyProtocol: proxy ? { version: proxy.child('version').oneOf(['V1', 'V2'] as const) } : undefined,
  };
}

function retryBudget(field: Field): RetryBudget | undefined {
  const object = field.object(['percent', 'minRetryConcurrency', 'budgetInterval']);
  if (!object) return undefined;
  const interval = object.child('budgetInterval').duration({ min: 0 });
  if (interval !== undefined && interval > 0)
    object
      .child('budgetInterval')
      .warn('not applied: Ambit budgets retries against the requests active now (as with budgetInterval 0s)');
  return {
    percent: percent(object.child('percent')),
    minRetryConcurrency: object.child('minRetryConcurrency').integer({ min: 0, max: 2 ** 32 - 1 }),
  };
}

function parseDestinationRule(doc: Field): DestinationRuleSpec | undefined {
  const spec = doc
    .child('spec')
    .object(['host', 'trafficPolicy', 'subsets', 'exportTo', 'workloadSelector'], { required: true });
  if (!spec) return undefined;
  const host = hostname(spec.child('host'));
  const names = new Set<string>();
  const subsets =
    spec.child('subsets').list((item) => {
      const subset = item.object(['name', 'labels', 'trafficPolicy'], { required: true });
      if (!subset) return undefined;
      const name = subset.child('name').string({
        required: true,
        pattern: /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/,
        patternHint: 'subset names are lowercase alphanumerics and - (DNS-1123 label)',
      });
      if (name !== undefined && names.has(name))
        subset.child('name').error(`duplicate subset name ${JSON.stringify(name)}`);
      if (name !== undefined) names.add(name);
      const labels = subset.child('labels').labels() ?? {};
      const policy = trafficPolicy(subset.child('trafficPolicy'));
      return name === undefined ? undefined : { name, labels, trafficPolicy: policy };
    }) ?? [];
  const selectorField = spec.child('workloadSelector');
  const exports = exportTo(spec.child('exportTo'));
  if (selectorField.present && exports.some((value) => value !== '.')) {
    spec.child('exportTo').error('a DestinationRule with workloadSelector can only be exported to "."');
  }
  if (host === undefined) return undefined;
  return {
    host,
    trafficPolicy: trafficPolicy(spec.child('trafficPolicy')),
    subsets,
    exportTo: exports,
    workloadSelector: selectorField.present ? workloadSelector(selectorField) : undefined,
  };
}

export const VIRTUAL_SERVICE: KindDefinition<VirtualServiceSpec> = {
  kind: 'VirtualService',
  apiVersions: ISTIO_NETWORKING_VERSIONS,
  namespaced: true,
  parse: (doc: Field, _meta: ObjectMeta) => parseVirtualService(doc),
};

export const DESTINATION_RULE: KindDefinition<DestinationRuleSpec> = {
  kind: 'DestinationRule',
  apiVersions: ISTIO_NETWORKING_VERSIONS,
  namespaced: true,
  parse: (doc: Field, _meta: ObjectMeta) => parseDestinationRule(doc),
};
