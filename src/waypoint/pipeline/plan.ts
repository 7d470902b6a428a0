/**
 * The decision stages of a request, before any I/O: policy -> route -> filters -> load balancing. The
 * outcome is a `Plan`: a reply the waypoint makes itself, a reply the route makes (redirect, direct
 * response, CORS preflight), or a forward to one endpoint with the headers, path and authority to send.
 * Deterministic given the snapshot, the request and the random numbers it draws (and the balancer's state),
 * so the HTTP, gRPC and Upgrade paths share it.
 */
import { randomUUID } from 'node:crypto';
import { authorizeRequest, type L7Decision, type RequestAttributes } from '../../core/l7/authorize.ts';
import { chooseBackend, rewritePath, selectRoute } from '../../core/l7/match.ts';
import type { Backend, Cluster, ClusterEndpoint, Route } from '../../core/l7/types.ts';
import type { Workload } from '../../core/model/index.ts';
import type { AuthenticatedRequest } from '../authn/authenticate.ts';
import { hash32 } from '../balance/hash.ts';
import { hashKeyValue } from '../balance/hash-key.ts';
import type { ServedTarget, WaypointState } from '../state.ts';
import { corsDecision } from './cors.ts';
import {
  addForwardingHeaders,
  applyHeaderOperations,
  forwardableHeaders,
  type HeaderMap,
} from './headers.ts';
import { redirectLocation } from './redirect.ts';
import type { ParsedRequest } from './request-view.ts';

/** Who is calling and what it addressed: what every request of a tunnel shares. */
export interface Caller {
  state: WaypointState;
  target: ServedTarget;
  /** The CONNECT target (the service VIP and port). */
  destinationIp: string;
  destinationPort: number;
  /** The caller's identity, proven by its certificate. */
  peerIdentity: string;
  /** The original client (the source ztunnel's `forwarded`, else the tunnel's peer). */
  client: { ip: string; port: number };
  /** The TLS server name the client asked for, where the gateway read one (a passthrough listener). */
  sni?: string | undefined;
}

export type Plan =
  | {
      kind: 'local';
      status: number;
      text: string;
      flags: string;
      cluster?: Cluster | undefined;
      decision?: L7Decision | undefined;
    }
  | { kind: 'routeReply'; status: number; headers: HeaderMap; body?: Buffer | undefined; route: Route }
  | ForwardPlan;

export interface ForwardPlan {
  kind: 'forward';
  route: Route;
  backend: Backend;
  cluster: Cluster;
  endpoint: ClusterEndpoint;
  destination: Workload;
  /** Toward the upstream: forwardable request headers after the operations, with Envoy's added. */
  headers: HeaderMap;
  /** Path and query, after any rewrite. */
  path: string;
  authority: string;
  /** Added to the response (CORS allow headers, a generated hash cookie). */
  responseExtras: HeaderMap;
  decision: L7Decision;
}

export const ACCESS_DENIED = 'RBAC: access denied';
export const NO_HEALTHY_UPSTREAM = 'no healthy upstream';

export function requestAttributes(
  caller: Caller,
  request: ParsedRequest | undefined,
  authn?: AuthenticatedRequest,
): RequestAttributes {
  return {
    auth: authn?.auth,
    sourceIdentity: caller.peerIdentity,
    sourceIp: caller.client.ip,
    remoteIp: caller.client.ip,
    destinationIp: caller.destinationIp,
    destinationPort: caller.destinationPort,
    host: request?.authority ?? '',
    method: request?.method ?? '',
    path: request?.path ?? '',
    header: request ? request.header : () => undefined,
  };
}

export function planRequest(
  caller: Caller,
  request: ParsedRequest,
  requestId: string,
  attempt: number,
  random: () => number,
  authn?: AuthenticatedRequest,
): Plan {
  const { state, target } = caller;
  // Stage: policy (with the principal of the request's JWT, when the authentication stage verified one).
  const decision = authorizeRequest(
    state.snapshot.authorization,
    target.service.hostname,
    requestAttributes(caller, request, authn),
  );
  if (!decision.allowed) return { kind: 'local', status: 403, text: ACCESS_DENIED, flags: '-', decision };

  // Stage: route.
  const selection = selectRoute(target.port.routes, request);
  if (selection === undefined) return { kind: 'local', status: 404, text: '', flags: 'NR' };
  const { route, match } = selection;

  // Stage: filters.
  const cors = corsDecision(
    route.cors,
    request.method,
    request.header('origin'),
    request.header('access-control-request-method'),
  );
  if (cors.kind === 'preflight') return { kind: 'routeReply', status: 200, headers: cors.headers, route };
  const action = route.action;
  if (action.kind === 'redirect') {
    const location = redirectLocation(action, match, request);
    return { kind: 'routeReply', status: action.status, headers: { location }, route };
  }
  if (action.kind === 'directResponse') {
    const body =
      action.body === undefined ? undefined : Buffer.from(action.body, action.bodyEncoding ?? 'utf8');
    return {
      kind: 'routeReply',
      status: action.status,
      headers: { 'content-type': 'text/plain' },
      body,
      route,
    };
  }
  const backend = chooseBackend(action.backends, random());
  if (backend === undefined || backend.kind === 'invalid')
    return { kind: 'local', status: 500, text: '', flags: '-' };
  const cluster = state.cluster(backend.cluster);
  if (cluster === undefined || cluster.problem !== undefined)
    return { kind: 'local', status: 503, text: NO_HEALTHY_UPSTREAM, flags: 'UH', cluster };
  const headers = forwardableHeaders(request.headers);
  if (authn !== undefined) {
    for (const name of authn.removeHeaders) delete headers[name];
    for (const [name, value] of authn.setHeaders) headers[name] = value;
  }
  applyHeaderOperations(headers, route.requestHeaders);
  applyHeaderOperations(headers, backend.requestHeaders);
  const path =
    route.rewrite?.path === undefined
      ? request.url
      : rewritePath(route.rewrite.path, match, request.path) + request.query;
  const authority = route.rewrite?.authority ?? request.authority;
  const responseExtras: HeaderMap = cors.kind === 'forward' ? { ...cors.responseHeaders } : {};

  // Stage: load balancing.
  const policy = cluster.policy.loadBalancer;
  let hash: number | undefined;
  if (policy.kind === 'consistentHash') {
    const key = hashKeyValue(
      policy.hashOn,
      { header: request.header, queryParam: request.queryParam, sourceIp: caller.client.ip },
      () => randomUUID().replaceAll('-', '').slice(0, 16),
    );
    if (key.setCookie !== undefined) responseExtras['set-cookie'] = key.setCookie;
    hash = key.value === undefined ? undefined : hash32(key.value);
  }
  const endpoint = state.balancer(cluster).pick({ hash, random });
  const destination = endpoint ? state.endpointWorkload(cluster, endpoint) : undefined;
  if (endpoint === undefined || destination === undefined)
    return { kind: 'local', status: 503, text: NO_HEALTHY_UPSTREAM, flags: 'UH', cluster };
  addForwardingHeaders(headers, { clientIp: caller.client.ip, scheme: request.scheme, requestId, attempt });
  return {
    kind: 'forward',
    route,
    backend,
    cluster,
    endpoint,
    destination,
    headers,
    path,
    authority,
    responseExtras,
    decision,
  };
}
