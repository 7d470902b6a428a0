/**
 * Header work as pure functions over plain header maps (lowercase names, as Node gives them): the route's and
 * backend's operations, the hop-by-hop headers a proxy must not forward, and the headers Envoy adds on the
 * way up (`x-forwarded-for`, `x-forwarded-proto`, `x-request-id`, `x-envoy-attempt-count`) and down
 * (`server`, `x-envoy-upstream-service-time`).
 */
import type { HeaderOperations } from '../../core/l7/types.ts';

export type HeaderMap = Record<string, string | string[] | undefined>;

/** What the waypoint says it is in `server` (Envoy overwrites the upstream's with `istio-envoy`). */
export const SERVER_NAME = 'ambit';

/**
 * Connection-scoped headers (RFC 9110 section 7.6.1) and HTTP/2 pseudo-headers: never forwarded. `te` is
 * dropped unless it is `trailers` (gRPC needs that one).
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/** Envoy applies remove, then set (replacing every value), then add (appending), each in config order. */
export function applyHeaderOperations(headers: HeaderMap, operations: HeaderOperations): void {
  for (const name of operations.remove) delete headers[name];
  for (const { name, value } of operations.set) headers[name] = value;
  for (const { name, value } of operations.add) {
    const current = headers[name];
    if (current === undefined) headers[name] = value;
    else if (Array.isArray(current)) current.push(value);
    else headers[name] = [current, value];
  }
}

/** A copy of `headers` without hop-by-hop headers, pseudo-headers and the names `connection` lists. */
export function forwardableHeaders(headers: HeaderMap): HeaderMap {
  const out: HeaderMap = {};
  const listed = headers.connection;
  const named =
    listed === undefined
      ? undefined
      : new Set(
          joined(listed)
            .toLowerCase()
            .split(/\s*,\s*/),
        );
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || name.charCodeAt(0) === 0x3a /* ':' */ || HOP_BY_HOP.has(name)) continue;
    if (named?.has(name)) continue;
    if (name === 'te' && joined(value).trim().toLowerCase() !== 'trailers') continue;
    if (name === 'host') continue;
    out[name] = value;
  }
  return out;
}

export interface ForwardingFacts {
  /** The original client's address (the source ztunnel's `forwarded`, else the tunnel peer). */
  clientIp: string;
  /** The scheme the client used (always `http` inside a tunnel unless it said otherwise). */
  scheme: string;
  requestId: string;
  /** 1 for the first try; each retry counts one more. */
  attempt: number;
}

/** Envoy's request headers toward the upstream (`x-forwarded-for` appended, the others set if absent). */
export function addForwardingHeaders(headers: HeaderMap, facts: ForwardingFacts): void {
  const xff = headers['x-forwarded-for'];
  headers['x-forwarded-for'] = xff === undefined ? facts.clientIp : `${joined(xff)}, ${facts.clientIp}`;
  if (headers['x-forwarded-proto'] === undefined) headers['x-forwarded-proto'] = facts.scheme;
  headers['x-request-id'] = facts.requestId;
  headers['x-envoy-attempt-count'] = String(facts.attempt);
}

/** The response headers Envoy sets on the way down. */
export function addResponseHeaders(headers: HeaderMap, upstreamServiceMs: number | undefined): void {
  headers.server = SERVER_NAME;
  if (upstreamServiceMs !== undefined)
    headers['x-envoy-upstream-service-time'] = String(Math.round(upstreamServiceMs));
}

/** One value of a header that may have been sent several times (joined with `,` as Envoy matches them). */
export function joined(value: string | string[]): string {
  return Array.isArray(value) ? value.join(',') : value;
}
