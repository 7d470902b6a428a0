/**
 * Where a request carries its JWT, as Istio's RequestAuthentication reads it (pure): a rule's `fromHeaders`
 * (the value after its `prefix`) and `fromParams`; a rule with neither takes Istio's defaults,
 * `Authorization: Bearer <token>` and the `access_token` query parameter. The first location of the first
 * rule that holds a token wins.
 */
import type { JwtRule } from '../../core/l7/types.ts';

export interface TokenSource {
  header(name: string): string | undefined;
  queryParam(name: string): string | undefined;
}

export interface FoundToken {
  token: string;
  /** The header it came in (lowercase), so that it can be removed; undefined for a query parameter. */
  header?: string | undefined;
}

const DEFAULT_HEADERS = [{ name: 'authorization', prefix: 'Bearer ' }];
const DEFAULT_PARAMS = ['access_token'];

export function findToken(rules: readonly JwtRule[], request: TokenSource): FoundToken | undefined {
  for (const rule of rules) {
    const defaults = rule.fromHeaders.length === 0 && rule.fromParams.length === 0;
    for (const location of defaults ? DEFAULT_HEADERS : rule.fromHeaders) {
      const value = request.header(location.name);
      if (value === undefined) continue;
      const prefix = location.prefix ?? '';
      // Envoy compares the prefix exactly; a value without it carries no token for this location.
      if (!value.startsWith(prefix)) continue;
      const token = value.slice(prefix.length).trim();
      if (token !== '') return { token, header: location.name };
    }
    for (const name of defaults ? DEFAULT_PARAMS : rule.fromParams) {
      const token = request.queryParam(name);
      if (token !== undefined && token !== '') return { token };
    }
  }
  return undefined;
}
