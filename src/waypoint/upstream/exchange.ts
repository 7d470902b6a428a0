/**
 * What the request path hands an upstream client and gets back, whatever the wire (HTTP/1.1 through undici,
 * HTTP/2 through node:http2): one request with a streaming body, one response with a streaming body and,
 * for HTTP/2 (gRPC), trailers. Failures carry the Envoy response flag they map to.
 */
import type { Readable } from 'node:stream';
import type { HeaderMap } from '../pipeline/headers.ts';
import type { ConnectionSettings } from './connection-settings.ts';
import { DnsLookupError } from './dns-cache.ts';
import type { TunnelTarget } from './tunnels.ts';

export interface UpstreamRequest {
  target: TunnelTarget;
  method: string;
  /** Path and query. */
  path: string;
  authority: string;
  headers: HeaderMap;
  /** Undefined when the request has no body. */
  body: Readable | undefined;
  /** Cancels the request (a per-try or route timeout fired, or the client left). */
  signal?: AbortSignal | undefined;
  /** The cluster's connection settings; undefined: the defaults. */
  connection?: ConnectionSettings | undefined;
}

export interface UpstreamResponse {
  status: number;
  headers: HeaderMap;
  body: Readable;
  /** Resolves once the body ended, with the trailers (empty when none were sent). */
  trailers: Promise<HeaderMap>;
}

export interface UpstreamClient {
  send(request: UpstreamRequest): Promise<UpstreamResponse>;
  close(): Promise<void>;
}

/**
 * Why an upstream exchange failed: `UF` the tunnel or connection could not be opened, `UC` it broke before
 * a response (Envoy's upstream connection termination), `UR` the upstream reset the stream, `UO` a bound
 * refused the connection before it was tried (a client over its share of DNS lookups).
 */
export type UpstreamFailureFlag = 'UF' | 'UC' | 'UR' | 'UO';

export class UpstreamFailure extends Error {
  readonly flag: UpstreamFailureFlag;

  constructor(flag: UpstreamFailureFlag, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UpstreamFailure';
    this.flag = flag;
  }
}

/** A tunnel that did not open, as the failure the request reports: `UO` when a bound refused it, else `UF`. */
export function connectFailure(error: Error): UpstreamFailure {
  const flag = error instanceof DnsLookupError && error.overflow ? 'UO' : 'UF';
  return new UpstreamFailure(flag, `upstream connect failed: ${error.message}`, { cause: error });
}
