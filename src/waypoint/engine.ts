/**
 * The request engine: every HTTP request that arrives through a tunnel passes the same stages, in order,
 * each a pure decision over the snapshot where it can be, with I/O only at the upstream edge:
 *
 *   authentication (the JWT of a RequestAuthentication: 401 when it fails, none passes on)
 *   -> policy (L7 authorization: 403 `RBAC: access denied`)
 *   -> route (first matching route of the served port: 404 `NR` when none)
 *   -> rate limit (the served service's token buckets: 429 `RL`)
 *   -> filters (CORS preflight, redirect, direct response, header operations, rewrite)
 *   -> load balancing (the cluster's policy picks a ready endpoint: 503 `UH` when none)
 *   -> upstream (HBONE to the endpoint, HTTP/1.1 or HTTP/2: 503 `UF` when it cannot connect)
 *   -> response filters (header operations, CORS, hash cookie, Envoy's response headers)
 *   -> telemetry (Istio's request metrics and one access log line, when the response closes).
 *
 * Between load balancing and the upstream sit the resilience stages (`resilience/`): fault injection, the
 * request timeout, and the upstream as an attempt loop with retries, per-try timeouts, circuit breaking
 * and outlier detection; mirrored copies leave from there too, fire and forget.
 */
import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { performance } from 'node:perf_hooks';
import { type Duplex, type Readable, Transform } from 'node:stream';
import { type Clock, systemClock } from '../core/clock.ts';
import type { Cluster, ClusterEndpoint, Route } from '../core/l7/types.ts';
import type { Workload } from '../core/model/index.ts';
import { splice } from '../core/net/splice.ts';
import type { AccessLog } from './access-log.ts';
import { type AuthnResult, authenticate } from './authn/authenticate.ts';
import { JwksCache } from './authn/keys.ts';
import { type EndpointLoad, endpointKey } from './balance/balancer.ts';
import { partyLabels, type RequestLabels, type WaypointMetrics } from './metrics.ts';
import { grpcStatusOfHttp, isGrpc } from './pipeline/grpc.ts';
import {
  addResponseHeaders,
  applyHeaderOperations,
  forwardableHeaders,
  type HeaderMap,
  joined,
  SERVER_NAME,
} from './pipeline/headers.ts';
import { type Caller, type Plan, planRequest } from './pipeline/plan.ts';
import { splitAuthority } from './pipeline/redirect.ts';
import { type ParsedRequest, parseRequest } from './pipeline/request-view.ts';
import { type Destination, UPSTREAM_FAILED } from './resilience/attempts.ts';
import { ClusterLimits } from './resilience/limits.ts';
import { RequestMirrors } from './resilience/mirror.ts';
import { RATE_LIMITED, RateLimiter, rateLimitHeaders } from './resilience/rate-limit.ts';
import { type ResilienceServices, resilientForward } from './resilience/stage.ts';
import type { RequestSpan, RequestTracer } from './telemetry/tracing.ts';
import { connectionSettings } from './upstream/connection-settings.ts';
import type { UpstreamClient } from './upstream/exchange.ts';
import { dynamicTarget, type TunnelTarget, type UpstreamTunnels } from './upstream/tunnels.ts';

export type DownstreamRequest = IncomingMessage | Http2ServerRequest;
/** What the engine uses of Node's HTTP/1.1 `ServerResponse` and HTTP/2 compatibility response alike. */
export interface DownstreamResponse extends NodeJS.WritableStream {
  readonly headersSent: boolean;
  readonly statusCode: number;
  readonly writableFinished: boolean;
  readonly destroyed: boolean;
  writeHead(status: number, headers: OutgoingHttpHeaders): unknown;
  addTrailers(trailers: OutgoingHttpHeaders): void;
  destroy(): unknown;
}

/** Both of Node's response kinds are downstream responses (checked here, once). */
export type NodeResponse = (ServerResponse | Http2ServerResponse) & DownstreamResponse;

/** What a tunnel tells every request it carries: the caller, its workload, and the wire it speaks. */
export interface TunnelContext extends Caller {
  source: Workload | undefined;
  wire: 'http1' | 'http2';
}

export interface EngineDependencies {
  tunnels: UpstreamTunnels;
  http1: UpstreamClient;
  http2: UpstreamClient;
  load: EndpointLoad;
  metrics: WaypointMetrics;
  accessLog: AccessLog;
  /** Request spans, when the mesh config names a collector (`telemetry/tracing.ts`). */
  tracer?: RequestTracer | undefined;
  random?: () => number;
  /** Timeouts, fault delays and backoff run on it (fake time in tests). */
  clock?: Clock;
  /** Requests in flight beyond which new ones are refused at once (503 `UO`), so load cannot pile up. */
  maxActiveRequests?: number | undefined;
}

/** Requests in flight at once, all clients together (Envoy's overload manager plays this part). */
export const DEFAULT_MAX_ACTIVE_REQUESTS = 10_000;

/** Where a request got to: filled in stage by stage, read by telemetry when the response closes. */
interface Progress {
  flags: string;
  cluster: Cluster | undefined;
  endpoint: ClusterEndpoint | undefined;
  destination: Workload | undefined;
  upstreamMs: number | undefined;
  bytesReceived: number;
  bytesSent: number;
  grpcStatus: string;
  span: RequestSpan | undefined;
}

const NO_TOKEN: AuthnResult = { kind: 'none' };
/**
 * The reason every request's `downstreamClosed` is aborted with, made once: that signal fires at the end of
 * every response (it also clears the route timeout), and an abort without a reason builds a DOMException with
 * a stack each time, which profiled at ~4% of the waypoint's CPU.
 */
const DOWNSTREAM_CLOSED = new DOMException('the downstream response closed', 'AbortError');

/** Envoy's challenge on a 401 for a bad JWT. */
function jwtChallenge(request: ParsedRequest): Record<string, string> {
  return {
    'www-authenticate': `Bearer realm="http://${request.authority}${request.path}", error="invalid_token"`,
  };
}

function ignore(): void {
  // Errors of streams whose failure is already handled through their close.
}

function newProgress(): Progress {
  return {
    flags: '-',
    cluster: undefined,
    endpoint: undefined,
    destination: undefined,
    upstreamMs: undefined,
    bytesReceived: 0,
    bytesSent: 0,
    grpcStatus: '',
    span: undefined,
  };
}

export class RequestEngine {
  readonly #deps: EngineDependencies;
  readonly #random: () => number;
  readonly #resilience: ResilienceServices;
  readonly #rateLimiter: RateLimiter;
  readonly #keys = new JwksCache();
  /** Requests in flight (drain waits for them). */
  active = 0;

  constructor(deps: EngineDependencies) {
    this.#deps = deps;
    this.#random = deps.random ?? Math.random;
    const clock = deps.clock ?? systemClock;
    this.#rateLimiter = new RateLimiter(() => clock.now());
    deps.metrics.requestsInFlight = () => this.active;
    this.#resilience = {
      clusterLimits: new ClusterLimits(),
      load: deps.load,
      clock,
      random: this.#random,
      mirrors: new RequestMirrors({
        clock,
        random: this.#random,
        count: (cluster, outcome) => deps.metrics.mirrored.inc({ cluster, outcome }),
      }),
    };
  }

  /** Serves one request to its end; never throws (failures become local replies and telemetry). */
  handle(req: DownstreamRequest, res: DownstreamResponse, tunnel: TunnelContext): void {
    const startedAt = performance.now();
    // The wall clock at the start, as a number: the access log's Date is made only when it writes a line.
    const startTime = Date.now();
    const request = parseRequest(req.method ?? 'GET', req.url ?? '/', req.headers);
    const grpc = isGrpc(request.header('content-type'));
    const requestId = request.header('x-request-id') ?? randomUUID();
    const progress = newProgress();
    const tracer = this.#deps.tracer;
    // The span's facts are gathered only when tracing is on (the tracer always exists; mostly it is off).
    progress.span = tracer?.tracing
      ? tracer.start(req.headers, {
          method: request.method,
          url: request.url,
          authority: request.authority,
          protocol: tunnel.wire === 'http2' ? 'HTTP/2' : 'HTTP/1.1',
          service: tunnel.target.service.hostname,
          port: tunnel.target.port.port,
          requestId,
          userAgent: request.header('user-agent'),
          clientIp: tunnel.client.ip,
          peerIdentity: tunnel.peerIdentity,
        })
      : undefined;
    const { metrics } = this.#deps;
    this.active++;
    res.once('close', () => {
      this.active--;
      if (!res.writableFinished && progress.flags === '-') progress.flags = 'DC';
      const code = res.headersSent ? res.statusCode : 0;
      this.#recordOutcome(
        request,
        code,
        tunnel,
        progress,
        grpc,
        requestId,
        startTime,
        performance.now() - startedAt,
      );
    });
    if (this.active > (this.#deps.maxActiveRequests ?? DEFAULT_MAX_ACTIVE_REQUESTS)) {
      progress.flags = 'UO';
      metrics.refused.inc({ reason: 'too-many-requests' });
      localReply(res, grpc, 503, 'overloaded: too many requests in flight');
      return;
    }
    this.#serve(req, res, tunnel, request, grpc, requestId, progress).catch((error: unknown) => {
      progress.flags = progress.flags === '-' ? 'UC' : progress.flags;
      if (!res.headersSent) localReply(res, grpc, 503, `upstream error: ${(error as Error).message}`);
      else res.destroy();
    });
  }

  async #serve(
    req: DownstreamRequest,
    res: DownstreamResponse,
    tunnel: TunnelContext,
    request: ParsedRequest,
    grpc: boolean,
    requestId: string,
    progress: Progress,
  ): Promise<void> {
    // Stage: authentication (a token that fails is refused; none passes on without a principal). Most
    // services have no rules: their answer is there at once, without a turn of the microtask queue.
    const authenticating = this.#authenticate(tunnel, request);
    const authn = authenticating instanceof Promise ? await authenticating : authenticating;
    if (authn.kind === 'invalid') return localReply(res, grpc, 401, authn.text, jwtChallenge(request));
    // Stages policy -> route -> filters -> load balancing.
    const plan = planRequest(
      tunnel,
      request,
      requestId,
      1,
      this.#random,
      authn.kind === 'valid' ? authn : undefined,
    );
    if (plan.kind === 'local') {
      progress.flags = plan.flags;
      progress.cluster = plan.cluster;
      return localReply(res, grpc, plan.status, plan.text);
    }
    // Stage: rate limit, for requests the policy allowed and a route serves.
    const limited = this.#rateLimit(tunnel);
    if (limited !== undefined) {
      progress.flags = 'RL';
      return localReply(res, grpc, 429, RATE_LIMITED, limited);
    }
    if (plan.kind === 'routeReply') return routeReply(res, plan.status, plan.headers, plan.route, plan.body);
    const { cluster } = plan;
    progress.cluster = cluster;
    progress.span?.inject(plan.headers);

    // Stages: faults, timeouts, and the upstream as an attempt loop (retries, circuit breaking, outlier
    // detection): `resilience/stage.ts`.
    const downstreamClosed = new AbortController();
    res.once('close', () => downstreamClosed.abort(DOWNSTREAM_CLOSED));
    const wire = upstreamWire(cluster, tunnel);
    const clientFor = (to: Cluster) =>
      upstreamWire(to, tunnel) === 'http2' ? this.#deps.http2 : this.#deps.http1;
    const sentAt = performance.now();
    const outcome = await resilientForward(
      {
        plan,
        state: tunnel.state,
        client: clientFor(cluster),
        clientFor,
        wire,
        method: request.method,
        grpc,
        grpcTimeout: request.header('grpc-timeout'),
        body: requestBody(req, progress),
        target: (to) => tunnelTarget(to, tunnel, plan.authority),
        downstreamClosed: downstreamClosed.signal,
      },
      this.#resilience,
    );
    if (outcome.kind === 'abort') {
      progress.flags = outcome.faultFlags;
      faultReply(res, grpc, outcome.httpStatus, outcome.grpcStatus, progress);
      return;
    }
    progress.flags = joinFlags(outcome.faultFlags, outcome.flags);
    if (outcome.destination !== undefined) {
      progress.endpoint = outcome.destination.endpoint;
      progress.destination = outcome.destination.workload;
    }
    if (outcome.kind === 'local') return localReply(res, grpc, outcome.status, outcome.text);
    const response = outcome.response;
    res.once('close', outcome.release);
    // The route timeout runs to the end of the response: one that fires mid-body cuts it (Envoy).
    outcome.timeout?.addEventListener('abort', () => {
      progress.flags = joinFlags(progress.flags, 'UT');
      res.destroy();
    });
    progress.upstreamMs = performance.now() - sentAt;
    // The body may fail or be torn down (the client went away) at any point from here on; `relayBody`
    // reports it, and an error must never go unhandled (it would take the process down).
    response.body.on('error', ignore);

    // Stage: response filters.
    const responseHeaders = forwardableHeaders(response.headers);
    applyHeaderOperations(responseHeaders, plan.backend.responseHeaders);
    applyHeaderOperations(responseHeaders, plan.route.responseHeaders);
    for (const name in plan.responseExtras) appendHeader(responseHeaders, name, plan.responseExtras[name]);
    addResponseHeaders(responseHeaders, progress.upstreamMs);
    const grpcInHeaders = response.headers['grpc-status'];
    if (grpcInHeaders !== undefined) progress.grpcStatus = joined(grpcInHeaders);
    if (res.destroyed) {
      response.body.destroy();
      return;
    }
    res.writeHead(response.status, responseHeaders as OutgoingHttpHeaders);
    await relayBody(response.body, response.trailers, res, progress);
  }

  /**
   * An HTTP/1.1 `Upgrade` (WebSocket...): the same decision stages, then the request head is written to a
   * tunnel to the endpoint and the two streams are spliced; the upstream's answer (101 or not) flows back
   * as bytes. Replies the waypoint makes itself are written on the socket and the connection closed.
   */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, tunnel: TunnelContext): void {
    this.#upgrade(req, socket, head, tunnel).catch(() => socket.destroy());
  }

  async #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, tunnel: TunnelContext): Promise<void> {
    const startedAt = performance.now();
    // The wall clock at the start, as a number: the access log's Date is made only when it writes a line.
    const startTime = Date.now();
    const request = parseRequest(req.method ?? 'GET', req.url ?? '/', req.headers);
    const requestId = request.header('x-request-id') ?? randomUUID();
    const progress = newProgress();
    const authn = await this.#authenticate(tunnel, request);
    const planned: Plan =
      authn.kind === 'invalid'
        ? { kind: 'local', status: 401, text: authn.text, flags: '-' }
        : planRequest(
            tunnel,
            request,
            requestId,
            1,
            this.#random,
            authn.kind === 'valid' ? authn : undefined,
          );
    const limited = planned.kind === 'local' ? undefined : this.#rateLimit(tunnel);
    const plan: Plan =
      limited === undefined ? planned : { kind: 'local', status: 429, text: RATE_LIMITED, flags: 'RL' };
    const finish = (code: number) =>
      this.#recordOutcome(
        request,
        code,
        tunnel,
        progress,
        false,
        requestId,
        startTime,
        performance.now() - startedAt,
      );
    if (plan.kind !== 'forward') {
      const status = plan.status;
      progress.flags = plan.kind === 'local' ? plan.flags : '-';
      const text = plan.kind === 'local' ? plan.text : '';
      const extra = plan.kind === 'routeReply' ? plan.headers : (limited ?? {});
      socket.end(rawResponse(status, extra, text));
      finish(status);
      return;
    }
    progress.cluster = plan.cluster;
    progress.endpoint = plan.endpoint;
    progress.destination = plan.destination;
    plan.headers.connection = 'upgrade';
    plan.headers.upgrade = req.headers.upgrade;
    plan.headers.host = plan.authority;
    const done = this.#deps.load.begin(endpointKey(plan.endpoint));
    this.#deps.tunnels
      .open(
        tunnelTarget({ endpoint: plan.endpoint, workload: plan.destination }, tunnel, plan.authority),
        connectionSettings(plan.cluster.policy.connectionPool).connectTimeoutMs,
      )
      .then(
        (upstream) => {
          let code = 0;
          upstream.once('data', (chunk: Buffer) => {
            code = Number(/^HTTP\/1\.[01] (\d{3})/.exec(chunk.toString('latin1', 0, 16))?.[1] ?? 0);
          });
          upstream.write(rawRequestHead(request.method, plan.path, plan.headers));
          if (head.length > 0) upstream.write(head);
          const counters = { upstream: 0, downstream: 0 };
          splice(socket, upstream, counters).then(() => {
            done();
            progress.bytesReceived = counters.upstream;
            progress.bytesSent = counters.downstream;
            finish(code);
          });
        },
        () => {
          done();
          progress.flags = 'UF';
          socket.end(rawResponse(503, {}, UPSTREAM_FAILED));
          finish(503);
        },
      );
  }

  /** The request's JWT against the served service's rules; `none` when it has no rules or no token. */
  #authenticate(tunnel: TunnelContext, request: ParsedRequest): Promise<AuthnResult> | AuthnResult {
    const rules = tunnel.target.service.requestAuthentication;
    if (rules === undefined || rules.length === 0) return NO_TOKEN;
    return authenticate(rules, request, this.#keys);
  }

  /** The 429's headers when the served service's rate limit refuses this request; undefined when it passes. */
  #rateLimit(tunnel: TunnelContext): Record<string, string> | undefined {
    const policy = tunnel.target.service.rateLimit;
    if (policy === undefined) return undefined;
    const decision = this.#rateLimiter.take(policy, tunnel.peerIdentity);
    if (decision.allowed) return undefined;
    this.#deps.metrics.rateLimited.inc({ policy: policy.policy, limit: decision.limit.kind });
    return rateLimitHeaders(decision);
  }

  #recordOutcome(
    request: ParsedRequest,
    code: number,
    tunnel: TunnelContext,
    progress: Progress,
    grpc: boolean,
    requestId: string,
    /** Epoch milliseconds. */
    startTime: number,
    durationMs: number,
  ): void {
    const cluster = progress.cluster;
    const service = cluster ? tunnel.state.service(cluster.hostname) : undefined;
    const protocol = grpc ? 'grpc' : 'http';
    const key = `${tunnel.peerIdentity}|${tunnel.source?.uid}|${progress.destination?.uid}|${cluster?.hostname ?? tunnel.target.service.hostname}|${protocol}|${progress.flags}|${code}|${progress.grpcStatus}`;
    const labels = (): RequestLabels => ({
      ...partyLabels(
        {
          source: tunnel.source,
          sourceIdentity: tunnel.peerIdentity,
          destination: progress.destination,
          destinationService: service ?? tunnel.target.service,
          protocol,
        },
        progress.flags,
      ),
      response_code: String(code),
      grpc_response_status: progress.grpcStatus,
    });
    const requestBytes = headerBytes(request.headers) + progress.bytesReceived;
    this.#deps.metrics.recordRequest(key, labels, durationMs, requestBytes, progress.bytesSent);
    const upstreamHost = progress.endpoint ? endpointKey(progress.endpoint) : undefined;
    progress.span?.end({
      responseCode: code,
      responseFlags: progress.flags,
      upstreamCluster: cluster?.name,
      upstreamHost,
      requestBytes,
      responseBytes: progress.bytesSent,
      grpcStatus: progress.grpcStatus,
    });
    if (!this.#deps.accessLog.enabled) return;
    this.#deps.accessLog.write({
      startTime: new Date(startTime),
      method: request.method,
      path: request.url,
      protocol: tunnel.wire === 'http2' ? 'HTTP/2' : 'HTTP/1.1',
      responseCode: code,
      responseFlags: progress.flags,
      bytesReceived: progress.bytesReceived,
      bytesSent: progress.bytesSent,
      durationMs,
      upstreamServiceMs: progress.upstreamMs,
      forwardedFor: request.header('x-forwarded-for') ?? tunnel.client.ip,
      userAgent: request.header('user-agent'),
      requestId,
      authority: request.authority,
      upstreamHost,
      upstreamCluster: cluster?.name,
      downstreamRemote: `${tunnel.client.ip}:${tunnel.client.port}`,
      downstreamLocal: `${tunnel.destinationIp}:${tunnel.destinationPort}`,
      downstreamPeer: tunnel.peerIdentity,
      grpcStatus: progress.grpcStatus,
      requestHeader: request.header,
      traceId: progress.span?.traceId,
    });
  }
}

/**
 * The wire toward the endpoints: the cluster's declared protocol, or (`detect`) the one the client spoke,
 * as Envoy's auto protocol does.
 */
export function upstreamWire(cluster: Cluster, tunnel: Pick<TunnelContext, 'wire'>): 'http1' | 'http2' {
  if (cluster.protocol === 'http2' || cluster.protocol === 'grpc') return 'http2';
  if (cluster.protocol === 'http') return 'http1';
  return tunnel.wire;
}

/**
 * The request body for the upstream, undefined when there is none. A body of declared length goes up as
 * it is (Node's parser holds it to that length, so the length is its size); one of unknown length (chunked,
 * HTTP/2 without `content-length`) is counted on its way through.
 */
function requestBody(req: DownstreamRequest, progress: Progress): Readable | undefined {
  const length = req.headers['content-length'];
  if (length !== undefined) {
    if (length === '0') return undefined;
    req.once('end', () => {
      progress.bytesReceived = Number(length);
    });
    return req;
  }
  const chunked =
    'stream' in req ? !req.stream.endAfterHeaders : req.headers['transfer-encoding'] !== undefined;
  return chunked ? counted(req, progress) : undefined;
}

/** The request body on its way up, counted (a pass-through, so the upstream client reads at its own pace). */
function counted(body: Readable, progress: Progress): Readable {
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      progress.bytesReceived += chunk.length;
      callback(null, chunk);
    },
  });
  body.once('error', (error) => counter.destroy(error));
  counter.on('error', ignore);
  return body.pipe(counter);
}

/** Streams the upstream body down, then its trailers (gRPC's status), then ends the response. */
function relayBody(
  body: Readable,
  trailers: Promise<HeaderMap>,
  res: DownstreamResponse,
  progress: Progress,
): Promise<void> {
  return new Promise((resolve) => {
    body.on('data', (chunk: Buffer) => {
      progress.bytesSent += chunk.length;
    });
    body.pipe(res, { end: false });
    body.once('end', () => {
      trailers.then((received) => {
        const status = received['grpc-status'];
        if (status !== undefined) progress.grpcStatus = joined(status);
        if (Object.keys(received).length > 0) {
          try {
            res.addTrailers(received as OutgoingHttpHeaders);
          } catch {
            // HTTP/1.1 without chunked encoding cannot carry trailers; the body already went.
          }
        }
        res.end();
        resolve();
      });
    });
    body.on('error', () => {
      progress.flags = progress.flags === '-' ? 'UPE' : progress.flags;
      res.destroy();
      resolve();
    });
    res.once('close', () => {
      if (!body.readableEnded) body.destroy();
      resolve();
    });
  });
}

/** A reply made by a route (redirect, direct response, CORS preflight), with the route's response headers. */
function routeReply(
  res: DownstreamResponse,
  status: number,
  headers: HeaderMap,
  route: Route,
  body?: Buffer,
): void {
  applyHeaderOperations(headers, route.responseHeaders);
  addResponseHeaders(headers, undefined);
  if (body !== undefined) headers['content-length'] = String(body.length);
  res.writeHead(status, headers as OutgoingHttpHeaders);
  endWith(res, body);
}

/**
 * A reply the waypoint makes itself (denied, no route, no upstream). gRPC clients get it as gRPC: HTTP 200
 * with the mapped `grpc-status` and the text as `grpc-message`, in one headers frame, as Envoy does.
 */
export function localReply(
  res: DownstreamResponse,
  grpc: boolean,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (grpc) {
    const reply = {
      'content-type': 'application/grpc',
      'grpc-status': String(grpcStatusOfHttp(status)),
      'grpc-message': encodeURIComponent(text),
      server: SERVER_NAME,
      ...headers,
    };
    // Over HTTP/2 a trailers-only response: one HEADERS frame with END_STREAM. writeHead then end sends the
    // status in leading headers and an empty DATA to end the stream, which gRPC clients do not read as a
    // status (grpc-js: "Call ended without gRPC status", INTERNAL instead of, say, UNIMPLEMENTED).
    const stream = (res as Partial<Pick<Http2ServerResponse, 'stream'>>).stream;
    if (stream !== undefined) stream.respond({ ':status': 200, ...reply }, { endStream: true });
    else {
      res.writeHead(200, reply);
      res.end();
    }
    return;
  }
  const body = Buffer.from(text);
  res.writeHead(status, {
    'content-type': 'text/plain',
    'content-length': String(body.length),
    server: SERVER_NAME,
    ...headers,
  });
  endWith(res, body);
}

/** Ends a response with its body, if it has one. */
function endWith(res: DownstreamResponse, body: Buffer | undefined): void {
  if (body === undefined) res.end();
  else res.end(body);
}

function appendHeader(headers: HeaderMap, name: string, value: string | string[] | undefined): void {
  if (value === undefined) return;
  const current = headers[name];
  if (current === undefined) headers[name] = value;
  else
    headers[name] = [
      ...(Array.isArray(current) ? current : [current]),
      ...(Array.isArray(value) ? value : [value]),
    ];
}

/** Approximate size of the request headers on the wire (`name: value\r\n`), for `istio_request_bytes`. */
function headerBytes(headers: Record<string, string | string[] | undefined>): number {
  let total = 0;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    total += name.length + 4 + (Array.isArray(value) ? value.join(', ').length : value.length);
  }
  return total;
}

/**
 * `authority`: the request's as sent upstream, whose host a DYNAMIC_DNS endpoint resolves (the lookup charged
 * to the caller).
 */
function tunnelTarget(to: Destination, tunnel: TunnelContext, authority: string): TunnelTarget {
  const { external } = to.endpoint;
  const target: TunnelTarget = {
    ip: to.endpoint.ip,
    port: to.endpoint.port,
    identity: to.workload.identity,
    client: tunnel.client,
    authority: to.endpoint.authority,
    external,
  };
  return external?.resolve?.under === undefined
    ? target
    : dynamicTarget(target, splitAuthority(authority).host, tunnel);
}

/** Envoy joins a request's response flags with commas; `-` or undefined is none. */
function joinFlags(first: string | undefined, second: string): string {
  if (first === undefined || first === '-') return second;
  return second === '-' ? first : `${first},${second}`;
}

/**
 * A fault's abort: the configured HTTP status, or for gRPC `grpcStatus` in a trailers-only answer (HTTP 200),
 * as Envoy's fault filter does. No upstream was involved.
 */
function faultReply(
  res: DownstreamResponse,
  grpc: boolean,
  httpStatus: number,
  grpcStatus: number | undefined,
  progress: Progress,
): void {
  if (grpcStatus === undefined) {
    localReply(res, grpc, httpStatus, 'fault filter abort');
    return;
  }
  progress.grpcStatus = String(grpcStatus);
  res.writeHead(200, {
    'content-type': 'application/grpc',
    'grpc-status': String(grpcStatus),
    'grpc-message': 'fault%20filter%20abort',
    server: SERVER_NAME,
  });
  res.end();
}

/** An HTTP/1.1 request head for the Upgrade path, which writes bytes instead of using a client. */
function rawRequestHead(method: string, path: string, headers: HeaderMap): string {
  let head = `${method} ${path} HTTP/1.1\r\n`;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) head += `${name}: ${one}\r\n`;
  }
  return `${head}\r\n`;
}

/** A complete HTTP/1.1 response that closes the connection (Upgrade requests the waypoint answers itself). */
function rawResponse(status: number, headers: HeaderMap, text: string): string {
  const body = Buffer.from(text);
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nserver: ${SERVER_NAME}\r\nconnection: close\r\ncontent-length: ${body.length}\r\n`;
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined) head += `${name}: ${joined(value)}\r\n`;
  }
  return `${head}\r\n${text}`;
}
