/**
 * The request as route matching and policy read it (`RequestView`), over Node's request objects for both
 * HTTP/1.1 and HTTP/2 (the compatibility API gives both the same shape). The query string is parsed only
 * if a matcher asks for a parameter.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { RequestView } from '../../core/l7/match.ts';
import { joined } from './headers.ts';

export interface ParsedRequest extends RequestView {
  /** `?a=b` or empty. */
  query: string;
  headers: IncomingHttpHeaders;
  /** Path and query as received (what goes upstream unless rewritten). */
  url: string;
}

export function parseRequest(method: string, url: string, headers: IncomingHttpHeaders): ParsedRequest {
  const mark = url.indexOf('?');
  const path = mark < 0 ? url : url.slice(0, mark);
  const query = mark < 0 ? '' : url.slice(mark);
  const authority = headers[':authority'] ?? headers.host ?? '';
  const proto = headers['x-forwarded-proto'];
  let params: URLSearchParams | undefined;
  return {
    method,
    url,
    path,
    query,
    headers,
    authority: typeof authority === 'string' ? authority : '',
    scheme: typeof proto === 'string' && proto !== '' ? proto : 'http',
    header(name) {
      const value = headers[name];
      return value === undefined ? undefined : joined(value);
    },
    queryParam(name) {
      params ??= new URLSearchParams(query);
      return params.get(name) ?? undefined;
    },
  };
}
