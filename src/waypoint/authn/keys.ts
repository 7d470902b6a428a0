/**
 * The key sets JWT rules verify with: an inline `jwks` parsed once per rule, a `jwksUri` fetched by `jose`
 * (bounded by the rule's `timeout`, Istio's default 5 s; cached, refetched when a token names an unknown key
 * and at most every 30 s) and shared by every rule naming the same URI. Kept across snapshots (a push must
 * not refetch every key set), bounded in number.
 */
import { createLocalJWKSet, createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
import type { JwtRule } from '../../core/l7/types.ts';

/** Istio's default `timeout` for fetching a `jwksUri`. */
export const DEFAULT_JWKS_TIMEOUT_MS = 5000;
/** Distinct key sets kept; beyond, the oldest is dropped (it is rebuilt when used again). */
export const MAX_KEY_SETS = 256;

export class JwksCache {
  readonly #sets = new Map<string, JWTVerifyGetKey>();

  /** The key set of `rule`; a rule without `jwks` or `jwksUri` has an empty one (every token fails). */
  keySet(rule: JwtRule): JWTVerifyGetKey {
    const key = rule.jwks !== undefined ? `inline:${rule.jwks}` : `uri:${rule.jwksUri ?? ''}`;
    let set = this.#sets.get(key);
    if (set === undefined) {
      set = build(rule);
      if (this.#sets.size >= MAX_KEY_SETS) this.#sets.delete(this.#sets.keys().next().value!);
      this.#sets.set(key, set);
    }
    return set;
  }
}

function build(rule: JwtRule): JWTVerifyGetKey {
  if (rule.jwks !== undefined) {
    try {
      return createLocalJWKSet(JSON.parse(rule.jwks));
    } catch {
      // Checked at the wire boundary; should one still not parse, it verifies nothing (fails closed).
      return createLocalJWKSet({ keys: [] });
    }
  }
  if (rule.jwksUri !== undefined)
    return createRemoteJWKSet(new URL(rule.jwksUri), {
      timeoutDuration: rule.timeout ?? DEFAULT_JWKS_TIMEOUT_MS,
      cooldownDuration: 30_000,
    });
  return createLocalJWKSet({ keys: [] });
}
