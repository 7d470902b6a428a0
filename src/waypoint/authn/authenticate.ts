/**
 * JWT authentication at the waypoint (Istio's RequestAuthentication, Envoy's `jwt_authn` as Istio configures
 * it): a request without a token passes on without a principal (authorization decides, Istio's semantics);
 * a token is verified with `jose` against the rule of its issuer (signature by the rule's JWKS, `exp`/`nbf`
 * with Envoy's 60 s clock skew, `aud` against `audiences` when set), and one that fails is refused with 401.
 * A valid token gives the request its `request.auth.*` attributes and the header edits the rule asks for
 * (`outputPayloadToHeader`, `outputClaimToHeaders`, the token's header removed unless
 * `forwardOriginalToken`).
 */
import { decodeJwt, errors, jwtVerify } from 'jose';
import type { RequestAuth } from '../../core/l7/authorize.ts';
import type { JwtRule } from '../../core/l7/types.ts';
import { type JwksCache, type KeySet, rememberVerified, type Verification } from './keys.ts';
import { findToken, type TokenSource } from './tokens.ts';

/** Envoy's default allowed clock skew, in seconds. */
const CLOCK_SKEW_SECONDS = 60;

export interface AuthenticatedRequest {
  auth: RequestAuth;
  /** Applied to the request before it goes upstream. */
  removeHeaders: string[];
  setHeaders: [string, string][];
}

export type AuthnResult =
  | { kind: 'none' }
  | ({ kind: 'valid' } & AuthenticatedRequest)
  /** `text` is Envoy's body for the failure. */
  | { kind: 'invalid'; text: string };

export async function authenticate(
  rules: readonly JwtRule[],
  request: TokenSource,
  keys: JwksCache,
  now: () => number = Date.now,
): Promise<AuthnResult> {
  const found = findToken(rules, request);
  if (found === undefined)
    return rules.some((rule) => rule.presence === 'REQUIRED')
      ? { kind: 'invalid', text: 'Jwt is missing' }
      : { kind: 'none' };
  // A token a rule's key set verified before needs only its expiry checked again (the rest cannot change),
  // and its rule is found without decoding the token again: the one whose issuer it verified with (rules
  // of other issuers may share the key set).
  for (const rule of rules) {
    const set = keys.keySet(rule);
    const cacheKey = verifiedKey(rule, found.token);
    const remembered = set.verified.get(cacheKey);
    if (remembered === undefined || remembered.iss !== rule.issuer) continue;
    const exp = remembered.exp;
    if (typeof exp !== 'number' || exp + CLOCK_SKEW_SECONDS > now() / 1000)
      return { kind: 'valid', ...authenticated(rule, remembered, found.header) };
    set.verified.delete(cacheKey);
    return { kind: 'invalid', text: 'Jwt is expired' };
  }
  let issuer: unknown;
  try {
    issuer = decodeJwt(found.token).iss;
  } catch {
    return { kind: 'invalid', text: 'Jwt is not in the form of Header.Payload.Signature' };
  }
  const rule = rules.find((candidate) => candidate.issuer === issuer);
  if (rule === undefined) return { kind: 'invalid', text: 'Jwt issuer is not configured' };
  const outcome = await verifyOnce(rule, keys.keySet(rule), found.token);
  if ('error' in outcome) return { kind: 'invalid', text: failureText(outcome.error) };
  return { kind: 'valid', ...authenticated(rule, outcome.payload, found.header) };
}

/** The cache key of a token under a rule: the audiences count, since two rules may share keys but not them. */
function verifiedKey(rule: JwtRule, token: string): string {
  return `${rule.audiences.join(',')}|${token}`;
}

/** Verifies `token` under `rule`, joining a verification of the same token already under way. */
function verifyOnce(rule: JwtRule, set: KeySet, token: string): Promise<Verification> {
  const cacheKey = verifiedKey(rule, token);
  const pending = set.verifying.get(cacheKey);
  if (pending !== undefined) return pending;
  const verification = jwtVerify(token, set.getKey, {
    issuer: rule.issuer,
    audience: rule.audiences.length > 0 ? rule.audiences : undefined,
    clockTolerance: CLOCK_SKEW_SECONDS,
  }).then(
    ({ payload }): Verification => {
      rememberVerified(set, cacheKey, payload as Record<string, unknown>);
      return { payload: payload as Record<string, unknown> };
    },
    (error: unknown): Verification => ({ error }),
  );
  set.verifying.set(cacheKey, verification);
  void verification.then(() => set.verifying.delete(cacheKey));
  return verification;
}

function failureText(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'Jwt is expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') return 'Audiences in Jwt are not allowed';
    if (error.claim === 'nbf') return 'Jwt not yet valid';
  }
  return 'Jwt verification fails';
}

function authenticated(
  rule: JwtRule,
  payload: Record<string, unknown>,
  tokenHeader: string | undefined,
): AuthenticatedRequest {
  const audience = payload.aud;
  const audiences =
    typeof audience === 'string' ? [audience] : Array.isArray(audience) ? audience.filter(isString) : [];
  const subject = typeof payload.sub === 'string' ? payload.sub : '';
  const setHeaders: [string, string][] = [];
  if (rule.outputPayloadToHeader !== undefined)
    setHeaders.push([rule.outputPayloadToHeader, Buffer.from(JSON.stringify(payload)).toString('base64url')]);
  for (const { header, claim } of rule.outputClaimToHeaders) {
    const value = payload[claim];
    // Envoy copies string, number and boolean claims; others (objects, lists) are left out.
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
      setHeaders.push([header, String(value)]);
  }
  return {
    auth: {
      principal: `${rule.issuer}/${subject}`,
      audiences,
      presenter: typeof payload.azp === 'string' ? payload.azp : undefined,
      claims: withSpaceDelimitedClaims(payload, rule.spaceDelimitedClaims ?? []),
    },
    removeHeaders: rule.forwardOriginalToken || tokenHeader === undefined ? [] : [tokenHeader],
    setHeaders,
  };
}

/** The payload with each named claim that holds a string split into its words, so that rules match a word. */
function withSpaceDelimitedClaims(
  payload: Record<string, unknown>,
  claims: readonly string[],
): Record<string, unknown> {
  if (!claims.some((claim) => typeof payload[claim] === 'string')) return payload;
  const split = { ...payload };
  for (const claim of claims) {
    const value = split[claim];
    if (typeof value === 'string') split[claim] = value.split(' ').filter((word) => word !== '');
  }
  return split;
}

function isString(value: unknown): value is string {
  return typeof value === 'string';
}
