/**
 * CORS as Envoy's filter applies a route's policy: a preflight (`OPTIONS` with `Origin` and
 * `Access-Control-Request-Method`) from an allowed origin is answered by the waypoint itself; one from an
 * origin the policy does not allow is forwarded upstream (`forward`, Istio's default) or answered without
 * CORS headers (`ignore`); a simple request from an allowed origin gets the allow/expose headers on its
 * response.
 */
import { stringMatches } from '../../core/l7/match.ts';
import type { CorsPolicy } from '../../core/l7/types.ts';
import type { HeaderMap } from './headers.ts';

export type CorsDecision =
  /** Not a CORS request, or the policy does not apply: carry on. */
  | { kind: 'none' }
  /** Answer the preflight here with these headers (200). */
  | { kind: 'preflight'; headers: HeaderMap }
  /** Forward; add these headers to the response. */
  | { kind: 'forward'; responseHeaders: HeaderMap };

export function originAllowed(policy: CorsPolicy, origin: string): boolean {
  return policy.allowOrigins.some((matcher) =>
    matcher.kind === 'exact' && matcher.value === '*' ? true : stringMatches(matcher, origin),
  );
}

export function corsDecision(
  policy: CorsPolicy | undefined,
  method: string,
  origin: string | undefined,
  requestMethod: string | undefined,
): CorsDecision {
  if (policy === undefined || origin === undefined) return { kind: 'none' };
  const allowed = originAllowed(policy, origin);
  const preflight = method === 'OPTIONS' && requestMethod !== undefined;
  if (preflight) {
    if (!allowed)
      return policy.unmatchedPreflights === 'ignore' ? { kind: 'preflight', headers: {} } : { kind: 'none' };
    const headers: HeaderMap = { 'access-control-allow-origin': origin };
    if (policy.allowMethods.length > 0)
      headers['access-control-allow-methods'] = policy.allowMethods.join(',');
    if (policy.allowHeaders.length > 0)
      headers['access-control-allow-headers'] = policy.allowHeaders.join(',');
    if (policy.maxAgeSeconds !== undefined) headers['access-control-max-age'] = String(policy.maxAgeSeconds);
    if (policy.allowCredentials) headers['access-control-allow-credentials'] = 'true';
    return { kind: 'preflight', headers };
  }
  if (!allowed) return { kind: 'none' };
  const responseHeaders: HeaderMap = { 'access-control-allow-origin': origin };
  if (policy.allowCredentials) responseHeaders['access-control-allow-credentials'] = 'true';
  if (policy.exposeHeaders.length > 0)
    responseHeaders['access-control-expose-headers'] = policy.exposeHeaders.join(',');
  return { kind: 'forward', responseHeaders };
}
