/**
 * The pieces every route compiler shares: matchers and header operations in the table's form, Istio's
 * default retry policy, and the default route that catches what no user route matched.
 */
import type { StringMatch } from '../../../core/config/kinds/common.ts';
import type { HeaderModifier } from '../../../core/config/kinds/gateway.ts';
import type { HeaderOperations as IstioHeaderOperations } from '../../../core/config/kinds/istio-networking.ts';
import type {
  HeaderOperations,
  Route,
  RouteOrigin,
  ServedService,
  StringMatcher,
} from '../../../core/l7/types.ts';
import type { ClusterSet } from './clusters.ts';

/**
 * Istio's retry policy for routes that say nothing (since 1.24 503 is not retried by default): two retries
 * on connection-level failures and gRPC's retriable statuses, 25 ms backoff base (Envoy's).
 */
export const DEFAULT_RETRY_ON: readonly string[] = [
  'connect-failure',
  'refused-stream',
  'unavailable',
  'cancelled',
  'retriable-status-codes',
];
export const DEFAULT_RETRY_ATTEMPTS = 2;
export const DEFAULT_BACKOFF_BASE_MS = 25;

export const NO_HEADER_OPERATIONS: HeaderOperations = Object.freeze({ set: [], add: [], remove: [] });

export function defaultRetry(): Route['retry'] {
  return {
    attempts: DEFAULT_RETRY_ATTEMPTS,
    retryOn: [...DEFAULT_RETRY_ON],
    retriableStatusCodes: [],
    backoffBaseMs: DEFAULT_BACKOFF_BASE_MS,
  };
}

/** An Istio StringMatch as a table matcher; `ignoreCase` folds into regexes as RE2's `(?i)`. */
export function stringMatcher(match: StringMatch, ignoreCase = false): StringMatcher {
  if ('exact' in match)
    return ignoreCase
      ? { kind: 'exact', value: match.exact, ignoreCase }
      : { kind: 'exact', value: match.exact };
  if ('prefix' in match)
    return ignoreCase
      ? { kind: 'prefix', value: match.prefix, ignoreCase }
      : { kind: 'prefix', value: match.prefix };
  return { kind: 'regex', regex: ignoreCase ? caseInsensitive(match.regex) : match.regex };
}

/** Adds `i` to a leading RE2 flag group, or prepends `(?i)` (RE2 takes one flag group at the start). */
function caseInsensitive(regex: string): string {
  const flags = /^\(\?([imsU]+)\)/.exec(regex);
  if (!flags) return `(?i)${regex}`;
  return flags[1]!.includes('i') ? regex : `(?${flags[1]}i)${regex.slice(flags[0].length)}`;
}

/** VirtualService header operations (maps of name to value) in the table's form. */
export function istioHeaderOperations(ops: IstioHeaderOperations | undefined): HeaderOperations {
  if (!ops) return NO_HEADER_OPERATIONS;
  const pairs = (record: Record<string, string>) =>
    Object.entries(record).map(([name, value]) => ({ name: name.toLowerCase(), value }));
  return {
    set: pairs(ops.set),
    add: pairs(ops.add),
    remove: ops.remove.map((name) => name.toLowerCase()),
  };
}

/** Gateway API header modifiers (lists of name/value) in the table's form. */
export function gatewayHeaderOperations(modifier: HeaderModifier | undefined): HeaderOperations {
  if (!modifier) return NO_HEADER_OPERATIONS;
  const pairs = (list: readonly { name: string; value: string }[]) =>
    list.map(({ name, value }) => ({ name: name.toLowerCase(), value }));
  return {
    set: pairs(modifier.set),
    add: pairs(modifier.add),
    remove: modifier.remove.map((name) => name.toLowerCase()),
  };
}

/** Whether a route takes every request, so that nothing after it can be reached. */
export function catchesAll(route: Route): boolean {
  return route.matches.length === 0 || route.matches.some(matchesEverything);
}

function matchesEverything(match: Route['matches'][number]): boolean {
  const everyPath =
    match.path === undefined ||
    (match.path.kind === 'prefix' && match.path.value === '/' && !match.path.ignoreCase) ||
    (match.path.kind === 'pathPrefix' && match.path.value === '/');
  return (
    everyPath &&
    match.method === undefined &&
    match.scheme === undefined &&
    match.authority === undefined &&
    match.headers.length === 0 &&
    match.queryParams.length === 0
  );
}

/**
 * The route Istio's waypoint falls through to when no user route matches: the service itself on the
 * request's port, with the default retry policy and nothing else.
 */
export function defaultRoute(
  service: ServedService,
  port: number,
  clusters: ClusterSet,
  cluster = clusters.intern(service.hostname, port),
): Route {
  const origin: RouteOrigin = { kind: 'default', namespace: service.namespace, name: service.name, rule: 0 };
  return {
    origin,
    matches: [],
    action: {
      kind: 'forward',
      backends: [
        {
          kind: 'cluster',
          cluster,
          weight: 1,
          requestHeaders: NO_HEADER_OPERATIONS,
          responseHeaders: NO_HEADER_OPERATIONS,
        },
      ],
    },
    requestHeaders: NO_HEADER_OPERATIONS,
    responseHeaders: NO_HEADER_OPERATIONS,
    retry: defaultRetry(),
    mirrors: [],
  };
}
