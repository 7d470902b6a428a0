/**
 * What a waypoint's request span says: its name and attributes, with the tags Envoy's tracers write under
 * Istio (what Istio's dashboards and Jaeger/Zipkin users search by: `http.method`, `http.status_code`,
 * `response_flags`, `upstream_cluster`, `guid:x-request-id`...). Only those: OpenTelemetry's semantic
 * convention twins (`http.request.method`...) would double the attributes, and each costs CPU on every
 * traced request (bench/waypoint-http.ts). A pure function of the request's facts and the tracing config,
 * tested as a table.
 */
import type { Attributes } from '@opentelemetry/api';
import type { TracingConfig } from '../../core/observe/telemetry-config.ts';

/** What the engine knows of a request when its span starts. */
export interface SpanStart {
  method: string;
  /** Path and query as received. */
  url: string;
  authority: string;
  protocol: 'HTTP/1.1' | 'HTTP/2';
  /** The served service's hostname and the port called: the span's name. */
  service: string;
  port: number;
  requestId: string;
  userAgent: string | undefined;
  /** The original client's address. */
  clientIp: string;
  /** The caller's SPIFFE identity. */
  peerIdentity: string;
}

/** What the response adds when it ends. */
export interface SpanEnd {
  responseCode: number;
  responseFlags: string;
  upstreamCluster?: string | undefined;
  upstreamHost?: string | undefined;
  requestBytes?: number | undefined;
  responseBytes?: number | undefined;
  grpcStatus?: string | undefined;
}

/** Istio names a proxy's span after the service and port it served: `reviews.default.svc.cluster.local:9080/*`. */
export function spanName(facts: Pick<SpanStart, 'service' | 'port'>): string {
  return `${facts.service}:${facts.port}/*`;
}

/** The attributes the response adds; 5xx and no answer at all (code 0) are errors, as Envoy marks them. */
export function endAttributes(facts: SpanEnd): Attributes {
  const attributes: Attributes = {
    'http.status_code': String(facts.responseCode),
    response_flags: facts.responseFlags,
    response_size: String(facts.responseBytes ?? 0),
    request_size: String(facts.requestBytes ?? 0),
  };
  if (facts.upstreamCluster !== undefined) {
    attributes.upstream_cluster = facts.upstreamCluster;
    attributes['upstream_cluster.name'] = facts.upstreamCluster;
  }
  if (facts.upstreamHost !== undefined) attributes.upstream_address = facts.upstreamHost;
  if (facts.grpcStatus) attributes['grpc.status_code'] = facts.grpcStatus;
  if (isError(facts.responseCode)) attributes.error = 'true';
  return attributes;
}

export function isError(responseCode: number): boolean {
  return responseCode === 0 || responseCode >= 500;
}

/** The attributes known when the request arrives, with the config's custom tags. */
export function startAttributes(
  facts: SpanStart,
  config: Pick<TracingConfig, 'customTags'>,
  headers: Readonly<Record<string, string | string[] | undefined>>,
): Attributes {
  const attributes: Attributes = {
    component: 'proxy',
    'http.method': facts.method,
    'http.url': `http://${facts.authority}${facts.url}`,
    'http.protocol': facts.protocol,
    'guid:x-request-id': facts.requestId,
    'peer.address': facts.clientIp,
    'istio.source_principal': facts.peerIdentity,
  };
  if (facts.userAgent !== undefined) attributes.user_agent = facts.userAgent;
  for (const [name, tag] of Object.entries(config.customTags)) {
    if ('literal' in tag) attributes[name] = tag.literal;
    else {
      const value = headers[tag.header];
      const text = Array.isArray(value) ? value.join(',') : value;
      if (text !== undefined) attributes[name] = text;
      else if (tag.defaultValue !== undefined) attributes[name] = tag.defaultValue;
    }
  }
  return attributes;
}
