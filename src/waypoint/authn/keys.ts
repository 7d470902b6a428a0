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

/** Verified tokens remembered per key set (Envoy's `jwt_cache_config` plays this part). */
export const MAX_VERIFIED_TOKENS = 1000;

/** A verification's outcome: the token's payload, or why it failed. */
export type Verification = { payload: Record<string, unknown> } | { error: unknown };

/**
 * A key set and the tokens it verified: a client sends the same token with every request, and checking its
 * signature again each time is most of the cost of authentication. An entry holds the payload; its `exp` is
 * checked on every use, and it goes with its key set (new keys verify afresh). `verifying` holds the
 * verifications under way, so that a burst of requests with a token not seen yet (every connection of a
 * client starting at once) verifies it once, not once per request.
 */
export interface KeySet {
  getKey: JWTVerifyGetKey;
  verified: Map<string, Record<string, unknown>>;
  verifying: Map<string, Promise<Verification>>;
}

export class JwksCache {
  readonly #sets = new Map<string, KeySet>();
  /** The set of each rule object of the current snapshot: found without building and hashing the JWKS text. */
  #ofRule = new WeakMap<JwtRule, KeySet>();

  /** The key set of `rule`; a rule without `jwks` or `jwksUri` has an empty one (every token fails). */
  keySet(rule: JwtRule): KeySet {
    const known = this.#ofRule.get(rule);
    if (known !== undefined) return known;
    const key = rule.jwks !== undefined ? `inline:${rule.jwks}` : `uri:${rule.jwksUri ?? ''}`;
    let set = this.#sets.get(key);
    if (set === undefined) {
      set = { getKey: build(rule), verified: new Map(), verifying: new Map() };
      if (this.#sets.size >= MAX_KEY_SETS) {
        this.#sets.delete(this.#sets.keys().next().value!);
        // A dropped set must not stay reachable from its rules either.
        this.#ofRule = new WeakMap();
      }
      this.#sets.set(key, set);
    }
    this.#ofRule.set(rule, set);
    return set;
  }
}

/** Remembers a verified token, the oldest going first beyond the bound. */
export function rememberVerified(set: KeySet, token: string, payload: Record<string, unknown>): void {
  if (set.verified.size >= MAX_VERIFIED_TOKENS) set.verified.delete(set.verified.keys().next().value!);
  set.verified.set(token, payload);
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
