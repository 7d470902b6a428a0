/**
 * Route selection over the compiled table, as pure functions: which served service and port a request is
 * for, which route takes it (the first whose matches accept it), which backend gets it (by weight, from a
 * random number the caller draws), and how its path is rewritten. No I/O, no clock, no logging: the waypoint
 * asks, these answer.
 */
import { fullMatchRegex, substitutionRegex } from './regex-cache.ts';
import type {
  Backend,
  PathRewrite,
  RequestMatch,
  Route,
  RouteTable,
  ServedPort,
  ServedService,
  StringMatcher,
  ValueCondition,
} from './types.ts';

/** What route matching reads of a request. Header names are asked in lowercase. */
export interface RequestView {
  /** The Host header or `:authority`, as sent. */
  authority: string;
  method: string;
  /** `http` or `https`. */
  scheme: string;
  /** The path without the query string. */
  path: string;
  /** A header's value (several values joined with `,`, as Envoy matches them); undefined when absent. */
  header(name: string): string | undefined;
  /** A query parameter's first value (decoded); undefined when absent. */
  queryParam(name: string): string | undefined;
}

export interface ServedTarget {
  service: ServedService;
  port: ServedPort;
}

/** What the waypoint serves: the bound services, then the bound workloads (addressed by pod IP). */
export function servedEntries(table: RouteTable): ServedService[] {
  const workloads = table.servedWorkloads ?? [];
  return workloads.length === 0 ? table.servedServices : [...table.servedServices, ...workloads];
}

/**
 * The served service and port a request is addressed to: by one of its VIPs (the HBONE `:authority` the
 * source ztunnel sends) or its hostname, and the Service port; or a served workload by pod IP and port. Undefined when this waypoint does not serve it.
 */
export function findServedTarget(table: RouteTable, host: string, port: number): ServedTarget | undefined {
  for (const service of servedEntries(table)) {
    if (service.hostname !== host && !service.vips.includes(host)) continue;
    const served = service.ports.find((candidate) => candidate.port === port);
    return served ? { service, port: served } : undefined;
  }
  return undefined;
}

export interface RouteSelection {
  route: Route;
  /** The match that accepted the request; undefined for a route without matches (it takes everything). */
  match: RequestMatch | undefined;
}

/** The first route whose matches accept the request (Envoy's and Istio's first-match semantics). */
export function selectRoute(routes: readonly Route[], request: RequestView): RouteSelection | undefined {
  for (const route of routes) {
    if (route.matches.length === 0) return { route, match: undefined };
    for (const match of route.matches) if (requestMatches(match, request)) return { route, match };
  }
  return undefined;
}

export function requestMatches(match: RequestMatch, request: RequestView): boolean {
  if (match.path && !stringMatches(match.path, request.path)) return false;
  if (match.method && !stringMatches(match.method, request.method)) return false;
  if (match.scheme && !stringMatches(match.scheme, request.scheme)) return false;
  if (match.authority && !stringMatches(match.authority, request.authority)) return false;
  for (const condition of match.headers) {
    if (!conditionHolds(condition, request.header(condition.name))) return false;
  }
  for (const condition of match.queryParams) {
    if (!conditionHolds(condition, request.queryParam(condition.name))) return false;
  }
  return true;
}

export function stringMatches(matcher: StringMatcher, value: string): boolean {
  switch (matcher.kind) {
    case 'exact':
      return matcher.ignoreCase ? equalsIgnoreCase(value, matcher.value) : value === matcher.value;
    case 'prefix':
      return matcher.ignoreCase
        ? equalsIgnoreCase(value.slice(0, matcher.value.length), matcher.value)
        : value.startsWith(matcher.value);
    case 'regex':
      return fullMatchRegex(matcher.regex).test(value);
    case 'pathPrefix':
      return (
        matcher.value === '/' ||
        (value.startsWith(matcher.value) &&
          (value.length === matcher.value.length || value.charCodeAt(matcher.value.length) === SLASH))
      );
  }
}

const SLASH = 0x2f;

function equalsIgnoreCase(a: string, b: string): boolean {
  return a.length === b.length && a.toLowerCase() === b.toLowerCase();
}

function conditionHolds(condition: ValueCondition, value: string | undefined): boolean {
  const matched =
    value !== undefined && (condition.match.kind === 'present' || stringMatches(condition.match, value));
  return condition.invert ? !matched : matched;
}

/**
 * A backend by weight: `random` in [0, 1) picks a point on the weights' sum; weight-0 backends never win.
 * Undefined when every weight is 0 (the compiler answers those routes with a 500 instead).
 */
export function chooseBackend<B extends Backend>(backends: readonly B[], random: number): B | undefined {
  let total = 0;
  for (const backend of backends) total += backend.weight;
  if (total <= 0) return undefined;
  let point = random * total;
  for (const backend of backends) {
    if (backend.weight <= 0) continue;
    if (point < backend.weight) return backend;
    point -= backend.weight;
  }
  // Rounding can leave `point` a hair above the last weight when `random` is just below 1.
  return backends.findLast((backend) => backend.weight > 0);
}

/** The path after a rewrite (see `PathRewrite` for each kind's semantics). */
export function rewritePath(rewrite: PathRewrite, match: RequestMatch | undefined, path: string): string {
  switch (rewrite.kind) {
    case 'full':
      return rewrite.value;
    case 'regex':
      return path.replace(substitutionRegex(rewrite.regex), re2Substitution(rewrite.substitution));
    case 'prefix':
      return rewrite.value + path.slice(matchedLength(match, path));
    case 'replacePrefixMatch': {
      const rest = path.slice(matchedLength(match, path));
      const joined =
        rewrite.value.endsWith('/') && rest.startsWith('/')
          ? rewrite.value + rest.slice(1)
          : rewrite.value + rest;
      return joined === '' ? '/' : joined;
    }
  }
}

/** How much of the path the match's path matcher consumed (a `pathPrefix` of `/` consumes nothing). */
function matchedLength(match: RequestMatch | undefined, path: string): number {
  const matcher = match?.path;
  if (matcher === undefined) return 1;
  if (matcher.kind === 'prefix') return matcher.value.length;
  if (matcher.kind === 'pathPrefix') return matcher.value === '/' ? 0 : matcher.value.length;
  return path.length;
}

/** RE2 substitutions write groups as `\1`; JavaScript's `replace` wants `$1` (and `$` itself as `$$`). */
function re2Substitution(substitution: string): string {
  return substitution.replace(/\$/g, '$$$$').replace(/\\(\d)/g, '$$$1');
}
