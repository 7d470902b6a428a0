/**
 * The `Location` of a redirect route, as Envoy builds it: each part (scheme, host, port, path) replaced
 * or kept from the request; a port that is the scheme's default is left out; the query string is kept
 * unless a full-path replacement brings its own.
 */
import { rewritePath } from '../../core/l7/match.ts';
import type { RedirectAction, RequestMatch } from '../../core/l7/types.ts';

export interface RedirectRequest {
  scheme: string;
  /** Host / `:authority` as sent, with its port if it had one. */
  authority: string;
  /** Without the query string. */
  path: string;
  /** `?...` or empty. */
  query: string;
}

const DEFAULT_PORTS: Record<string, number> = { http: 80, https: 443 };

export function redirectLocation(
  action: RedirectAction,
  match: RequestMatch | undefined,
  request: RedirectRequest,
): string {
  const scheme = action.scheme ?? request.scheme;
  const { host: requestHost, port: requestPort } = splitAuthority(request.authority);
  const host = action.host ?? requestHost;
  let port: number | undefined;
  if (typeof action.port === 'number') port = action.port;
  else if (action.port === 'fromScheme') port = undefined;
  else port = requestPort;
  if (port !== undefined && DEFAULT_PORTS[scheme] === port) port = undefined;
  let path = request.path;
  let query = request.query;
  if (action.path) {
    path = rewritePath(action.path, match, request.path);
    const mark = path.indexOf('?');
    if (action.path.kind === 'full' && mark >= 0) {
      query = path.slice(mark);
      path = path.slice(0, mark);
    }
  }
  return `${scheme}://${formatHost(host)}${port === undefined ? '' : `:${port}`}${path}${query}`;
}

/** `host[:port]`, `[v6][:port]`; a port that is not a number is kept as part of the host. */
export function splitAuthority(authority: string): { host: string; port: number | undefined } {
  const bracket = authority.startsWith('[') ? authority.indexOf(']') : -1;
  const colon = authority.lastIndexOf(':');
  if (colon > bracket && colon > 0) {
    const port = Number(authority.slice(colon + 1));
    if (Number.isInteger(port) && port > 0 && port < 65536) {
      const host = authority.slice(0, colon);
      return { host: bracket >= 0 ? host.slice(1, -1) : host, port };
    }
  }
  return { host: bracket >= 0 ? authority.slice(1, bracket) : authority, port: undefined };
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
