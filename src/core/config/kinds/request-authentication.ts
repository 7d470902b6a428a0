/**
 * Istio's `RequestAuthentication` (`security.istio.io/v1`): which JWTs a workload accepts. Ambit enforces it
 * at the waypoint, for policies attached with `targetRefs` (the waypoint's Gateway or a Service it serves),
 * as Istio's ambient mode does. Validated as Istio's CRD and webhook do: `issuer` required, `jwks` and
 * `jwksUri` exclusive, `jwks` a JSON Web Key Set, `jwksUri` an http(s) URL, header names and claim headers
 * well formed.
 */
import type { Field } from '../field.ts';
import type { KindDefinition } from '../resource.ts';
import { HEADER_NAME, workloadSelector } from './common.ts';
import { ISTIO_SECURITY_VERSIONS, type PolicyTargetRef, policyTargetRefs } from './istio-security.ts';

export interface JwtHeader {
  /** Lowercase. */
  name: string;
  /** Stripped from the value before the token (`Bearer `). */
  prefix?: string | undefined;
}

export interface JwtRuleSpec {
  issuer: string;
  audiences: string[];
  jwksUri?: string | undefined;
  /** The JWKS document itself (JSON text). */
  jwks?: string | undefined;
  fromHeaders: JwtHeader[];
  fromParams: string[];
  fromCookies: string[];
  outputPayloadToHeader?: string | undefined;
  outputClaimToHeaders: { header: string; claim: string }[];
  forwardOriginalToken: boolean;
  /** Fetching `jwksUri` (ms); Istio's default 5 s. */
  timeout?: number | undefined;
  /** `REQUIRED`: a request without a token of any rule is refused (401), not passed on to authorization. */
  presence?: 'OPTIONAL' | 'REQUIRED' | undefined;
  /** Claims whose string value is a space-separated list (as OAuth's `scope`): matched word by word. */
  spaceDelimitedClaims?: string[] | undefined;
}

export interface RequestAuthenticationSpec {
  selector?: Record<string, string> | undefined;
  targetRefs: PolicyTargetRef[];
  jwtRules: JwtRuleSpec[];
}

function jwksProblem(text: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return `not JSON (${(error as Error).message})`;
  }
  const keys = (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) return 'not a JSON Web Key Set: it needs a "keys" list';
  const bad = keys.findIndex((key) => typeof (key as { kty?: unknown } | null)?.kty !== 'string');
  return bad >= 0 ? `keys[${bad}] has no "kty"` : undefined;
}

function header(field: Field): string | undefined {
  const name = field.string({ required: true, pattern: HEADER_NAME, patternHint: 'a header name' });
  return name?.toLowerCase();
}

function jwtRule(item: Field): JwtRuleSpec | undefined {
  const object = item.object(
    [
      'issuer',
      'audiences',
      'jwksUri',
      'jwks',
      'fromHeaders',
      'fromParams',
      'fromCookies',
      'outputPayloadToHeader',
      'outputClaimToHeaders',
      'forwardOriginalToken',
      'timeout',
      'presence',
      'spaceDelimitedClaims',
    ],
    { required: true },
  );
  if (!object) return undefined;
  object.exclusive(['jwks', 'jwksUri']);
  const issuer = object.child('issuer').string({ required: true, nonEmpty: true });
  const jwksUri = object.child('jwksUri').string({
    nonEmpty: true,
    pattern: /^https?:\/\/[^\s/?#]+[^\s]*$/,
    patternHint: 'an http:// or https:// URL',
  });
  const jwksField = object.child('jwks');
  const jwks = jwksField.string({ nonEmpty: true });
  const problem = jwks === undefined ? undefined : jwksProblem(jwks);
  if (problem !== undefined) jwksField.error(problem);
  if (!object.child('jwks').present && !object.child('jwksUri').present)
    object.warn(
      'neither jwks nor jwksUri: Ambit does not discover keys from the issuer (OpenID discovery); every token of this issuer fails',
    );
  const fromHeaders =
    object.child('fromHeaders').list((entry) => {
      const fields = entry.object(['name', 'prefix'], { required: true });
      if (!fields) return undefined;
      const name = header(fields.child('name'));
      const prefix = fields.child('prefix').string();
      return name === undefined ? undefined : { name, prefix };
    }) ?? [];
  const claimHeaders =
    object.child('outputClaimToHeaders').list((entry) => {
      const fields = entry.object(['header', 'claim'], { required: true });
      if (!fields) return undefined;
      const name = header(fields.child('header'));
      const claim = fields.child('claim').string({ required: true, nonEmpty: true });
      return name === undefined || claim === undefined ? undefined : { header: name, claim };
    }) ?? [];
  const outputField = object.child('outputPayloadToHeader');
  const outputPayloadToHeader = outputField.present ? header(outputField) : undefined;
  return issuer === undefined || problem !== undefined
    ? undefined
    : {
        issuer,
        audiences: object.child('audiences').strings({ nonEmptyItems: true }) ?? [],
        jwksUri,
        jwks,
        fromHeaders,
        fromParams: object.child('fromParams').strings({ nonEmptyItems: true }) ?? [],
        fromCookies: object.child('fromCookies').strings({ nonEmptyItems: true }) ?? [],
        outputPayloadToHeader,
        outputClaimToHeaders: claimHeaders,
        forwardOriginalToken: object.child('forwardOriginalToken').boolean() ?? false,
        timeout: object.child('timeout').duration({ min: 1 }),
        presence: object.child('presence').oneOf(['OPTIONAL', 'REQUIRED'] as const) ?? 'OPTIONAL',
        spaceDelimitedClaims: spaceDelimitedClaims(object.child('spaceDelimitedClaims')),
      };
}

/** At most 64 non-empty claim names, as Istio's schema allows. */
function spaceDelimitedClaims(field: Field): string[] {
  const claims = field.list((item) => item.string({ required: true, nonEmpty: true })) ?? [];
  if (claims.length > 64) field.error(`${claims.length} claims: at most 64`);
  return claims;
}

function parseRequestAuthentication(doc: Field): RequestAuthenticationSpec | undefined {
  const spec = doc.child('spec').object(['selector', 'targetRef', 'targetRefs', 'jwtRules']);
  const fields = spec ?? doc.child('spec');
  if (spec) spec.exclusive(['selector', 'targetRef', 'targetRefs']);
  const issuers = new Set<string>();
  const jwtRules =
    fields.child('jwtRules').list((item) => {
      const rule = jwtRule(item);
      if (rule !== undefined && issuers.has(rule.issuer))
        item.child('issuer').error(`issuer ${JSON.stringify(rule.issuer)} has another rule in this policy`);
      if (rule !== undefined) issuers.add(rule.issuer);
      return rule;
    }) ?? [];
  return {
    selector: fields.child('selector').present ? workloadSelector(fields.child('selector')) : undefined,
    targetRefs: policyTargetRefs(fields),
    jwtRules,
  };
}

export const REQUEST_AUTHENTICATION: KindDefinition<RequestAuthenticationSpec> = {
  kind: 'RequestAuthentication',
  apiVersions: ISTIO_SECURITY_VERSIONS,
  namespaced: true,
  parse: (doc: Field) => parseRequestAuthentication(doc),
};
