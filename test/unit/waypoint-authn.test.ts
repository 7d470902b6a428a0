/**
 * JWT authentication at the waypoint as tables, with real keys and tokens made by `jose`: where a token is
 * found (Istio's default locations and a rule's own), what a valid token gives the request (principal
 * `iss/sub`, audiences, claims, header edits), Envoy's 401 texts for the failures, and authorization over
 * the result (`requestPrincipals`, `request.auth.*` conditions, a missing token under a principal rule).
 */
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { authorizeRequest, type RequestAttributes, type RequestAuth } from '../../src/core/l7/authorize.ts';
import type { JwtRule, L7Condition, StringConditionKey } from '../../src/core/l7/types.ts';
import { policyMatcher } from '../../src/core/policy/string-match.ts';
import { authenticate } from '../../src/waypoint/authn/authenticate.ts';
import { JwksCache } from '../../src/waypoint/authn/keys.ts';
import { findToken } from '../../src/waypoint/authn/tokens.ts';
import { l7Policy, l7Rule, l7Source } from '../support/route-table.ts';

const ISSUER = 'https://issuer.example';
const rule = (overrides: Partial<JwtRule> = {}): JwtRule => ({
  issuer: ISSUER,
  audiences: [],
  fromHeaders: [],
  fromParams: [],
  fromCookies: [],
  outputClaimToHeaders: [],
  forwardOriginalToken: false,
  ...overrides,
});
const source = (headers: Record<string, string>, query: Record<string, string> = {}) => ({
  header: (name: string) => headers[name],
  queryParam: (name: string) => query[name],
});

describe('token locations', () => {
  it.each<[string, JwtRule[], ReturnType<typeof source>, { token: string; header?: string } | undefined]>([
    ['none', [rule()], source({}), undefined],
    [
      'default: Authorization Bearer',
      [rule()],
      source({ authorization: 'Bearer abc' }),
      { token: 'abc', header: 'authorization' },
    ],
    ['default: not Bearer', [rule()], source({ authorization: 'Basic abc' }), undefined],
    ['default: access_token parameter', [rule()], source({}, { access_token: 'q' }), { token: 'q' }],
    [
      'a rule header with its prefix',
      [rule({ fromHeaders: [{ name: 'x-jwt', prefix: 'Token ' }] })],
      source({ 'x-jwt': 'Token t1', authorization: 'Bearer other' }),
      { token: 't1', header: 'x-jwt' },
    ],
    [
      'a rule with its own locations does not read the defaults',
      [rule({ fromParams: ['jwt'] })],
      source({ authorization: 'Bearer other' }),
      undefined,
    ],
    ['a rule parameter', [rule({ fromParams: ['jwt'] })], source({}, { jwt: 'p1' }), { token: 'p1' }],
    [
      'the first rule holding a token wins',
      [rule({ fromHeaders: [{ name: 'x-a' }] }), rule({ issuer: 'b', fromHeaders: [{ name: 'x-b' }] })],
      source({ 'x-b': 'second', 'x-a': 'first' }),
      { token: 'first', header: 'x-a' },
    ],
  ])('%s', (_name, rules, request, expected) => {
    expect(findToken(rules, request)).toEqual(expected);
  });
});

describe('verification', () => {
  let jwks: string;
  let sign: (claims: Record<string, unknown>, expiresIn?: string) => Promise<string>;
  let foreign: string;
  beforeAll(async () => {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256' }] });
    sign = (claims, expiresIn = '5m') =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setIssuedAt()
        .setExpirationTime(expiresIn)
        .sign(privateKey);
    const other = await generateKeyPair('RS256');
    foreign = await new SignJWT({ iss: ISSUER, sub: 'x' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setExpirationTime('5m')
      .sign(other.privateKey);
  });
  const keys = new JwksCache();
  const bearer = (token: string) => source({ authorization: `Bearer ${token}` });

  it('a valid token gives the principal, audiences and claims, and drops the token unless forwarded', async () => {
    const token = await sign({
      iss: ISSUER,
      sub: 'alice',
      aud: ['shop', 'other'],
      azp: 'web',
      groups: ['admin'],
    });
    const result = await authenticate(
      [
        rule({
          jwks,
          audiences: ['shop'],
          outputPayloadToHeader: 'x-jwt-payload',
          outputClaimToHeaders: [{ header: 'x-sub', claim: 'sub' }],
        }),
      ],
      bearer(token),
      keys,
    );
    expect(result.kind).toBe('valid');
    if (result.kind !== 'valid') return;
    expect(result.auth).toMatchObject({
      principal: `${ISSUER}/alice`,
      audiences: ['shop', 'other'],
      presenter: 'web',
    });
    expect(result.auth.claims.groups).toEqual(['admin']);
    expect(result.removeHeaders).toEqual(['authorization']);
    const [payloadHeader, subHeader] = result.setHeaders;
    expect(payloadHeader![0]).toBe('x-jwt-payload');
    expect(JSON.parse(Buffer.from(payloadHeader![1], 'base64url').toString()).sub).toBe('alice');
    expect(subHeader).toEqual(['x-sub', 'alice']);

    const forwarded = await authenticate([rule({ jwks, forwardOriginalToken: true })], bearer(token), keys);
    expect(forwarded.kind === 'valid' && forwarded.removeHeaders).toEqual([]);
  });

  it.each<[string, () => Promise<string>, Partial<JwtRule>, string]>([
    ['expired', () => sign({ iss: ISSUER, sub: 'a' }, '-2m'), {}, 'Jwt is expired'],
    [
      'an audience not allowed',
      () => sign({ iss: ISSUER, sub: 'a', aud: 'elsewhere' }),
      { audiences: ['shop'] },
      'Audiences in Jwt are not allowed',
    ],
    [
      'an issuer no rule names',
      () => sign({ iss: 'https://other', sub: 'a' }),
      {},
      'Jwt issuer is not configured',
    ],
    ['signed by another key', async () => foreign, {}, 'Jwt verification fails'],
    ['not a JWT', async () => 'garbage', {}, 'Jwt is not in the form of Header.Payload.Signature'],
    [
      'a rule without keys verifies nothing',
      () => sign({ iss: ISSUER, sub: 'a' }),
      { jwks: undefined },
      'Jwt verification fails',
    ],
  ])('refuses %s', async (_name, token, overrides, text) => {
    const result = await authenticate([rule({ jwks, ...overrides })], bearer(await token()), keys);
    expect(result).toEqual({ kind: 'invalid', text });
  });

  it('expiry within the 60 s clock skew still passes', async () => {
    const token = await sign({ iss: ISSUER, sub: 'a' }, '-30s');
    expect((await authenticate([rule({ jwks })], bearer(token), keys)).kind).toBe('valid');
  });

  it('remembers a verified token per key set and still expires it', async () => {
    const cache = new JwksCache();
    const jwtRule = rule({ jwks });
    const token = await sign({ iss: ISSUER, sub: 'a' }, '10s');
    expect((await authenticate([jwtRule], bearer(token), cache)).kind).toBe('valid');
    expect(cache.keySet(jwtRule).verified.size).toBe(1);
    // Served from memory while it lasts; past exp and the 60 s skew it is expired without verifying again.
    expect((await authenticate([jwtRule], bearer(token), cache)).kind).toBe('valid');
    const later = () => Date.now() + 75_000;
    expect(await authenticate([jwtRule], bearer(token), cache, later)).toEqual({
      kind: 'invalid',
      text: 'Jwt is expired',
    });
    expect(cache.keySet(jwtRule).verified.size).toBe(0);
    // A failing token is never remembered.
    await authenticate([jwtRule], bearer(foreign), cache);
    expect(cache.keySet(jwtRule).verified.size).toBe(0);
  });

  it('a burst of requests with a token not seen yet verifies it once, and each gets the same answer', async () => {
    const cache = new JwksCache();
    const jwtRule = rule({ jwks });
    const set = cache.keySet(jwtRule);
    let lookups = 0;
    const getKey = set.getKey;
    set.getKey = (...args) => {
      lookups++;
      return getKey(...args);
    };
    const token = await sign({ iss: ISSUER, sub: 'burst' });
    const results = await Promise.all(
      Array.from({ length: 32 }, () => authenticate([jwtRule], bearer(token), cache)),
    );
    expect(results.every((result) => result.kind === 'valid')).toBe(true);
    expect(lookups).toBe(1);
    expect(set.verifying.size).toBe(0);
    // A failing token's burst shares its one failure too.
    const refused = await Promise.all(
      Array.from({ length: 8 }, () => authenticate([jwtRule], bearer(foreign), cache)),
    );
    expect(refused).toEqual(Array(8).fill({ kind: 'invalid', text: 'Jwt verification fails' }));
    expect(lookups).toBe(2);
  });

  it('a remembered token is valid only under the rule of its own issuer, even where rules share keys', async () => {
    const cache = new JwksCache();
    const other = rule({ jwks, issuer: 'https://other.example' });
    const own = rule({ jwks });
    const token = await sign({ iss: ISSUER, sub: 'a' });
    expect((await authenticate([own], bearer(token), cache)).kind).toBe('valid');
    const result = await authenticate([other, own], bearer(token), cache);
    expect(result.kind === 'valid' && result.auth.principal).toBe(`${ISSUER}/a`);
    expect(await authenticate([other], bearer(token), cache)).toEqual({
      kind: 'invalid',
      text: 'Jwt issuer is not configured',
    });
  });

  it('no token: passes on without a principal', async () => {
    expect(await authenticate([rule({ jwks })], source({}), keys)).toEqual({ kind: 'none' });
  });

  it.each<[string, Partial<JwtRule>[], string]>([
    ['presence REQUIRED', [{ presence: 'REQUIRED' }], 'invalid'],
    ['presence OPTIONAL', [{ presence: 'OPTIONAL' }], 'none'],
    ['one rule of several REQUIRED', [{}, { issuer: 'b', presence: 'REQUIRED' }], 'invalid'],
  ])('no token under %s', async (_name, overrides, kind) => {
    const result = await authenticate(
      overrides.map((given) => rule({ jwks, ...given })),
      source({}),
      keys,
    );
    expect(result.kind).toBe(kind);
    if (result.kind === 'invalid') expect(result.text).toBe('Jwt is missing');
  });

  it('splits the spaceDelimitedClaims that hold a string into words, and leaves the others', async () => {
    const token = await sign({
      iss: ISSUER,
      sub: 'a',
      scope: 'read  write',
      note: 'two words',
      roles: ['x y'],
    });
    const result = await authenticate(
      [rule({ jwks, spaceDelimitedClaims: ['scope', 'roles', 'absent'] })],
      bearer(token),
      keys,
    );
    expect(result.kind === 'valid' && result.auth.claims).toMatchObject({
      scope: ['read', 'write'],
      note: 'two words',
      roles: ['x y'],
    });
  });
});

describe('authorization over the token', () => {
  const alice: RequestAuth = {
    principal: `${ISSUER}/alice`,
    audiences: ['shop'],
    presenter: 'web',
    claims: { sub: 'alice', groups: ['dev', 'admin'], org: { team: 'core' }, level: 3 },
  };
  const attributes = (auth: RequestAuth | undefined): RequestAttributes => ({
    sourceIdentity: 'spiffe://cluster.local/ns/shop/sa/web',
    destinationIp: '10.96.0.1',
    destinationPort: 80,
    host: 'shop',
    method: 'GET',
    path: '/',
    header: () => undefined,
    auth,
  });
  const when = (key: StringConditionKey, values: string[], notValues: string[] = []): L7Condition => ({
    kind: 'string',
    key,
    values: values.map((value) => policyMatcher(value)),
    notValues: notValues.map((value) => policyMatcher(value)),
  });
  const allow = (rule: ReturnType<typeof l7Rule>) => [
    l7Policy({ name: 'jwt', action: 'ALLOW', rules: [rule] }),
  ];

  it.each<[string, ReturnType<typeof l7Rule>, RequestAuth | undefined, boolean]>([
    [
      'requestPrincipals "*": a token passes',
      l7Rule({ from: [l7Source({ requestPrincipals: [policyMatcher('*')] })] }),
      alice,
      true,
    ],
    [
      'requestPrincipals "*": no token is denied',
      l7Rule({ from: [l7Source({ requestPrincipals: [policyMatcher('*')] })] }),
      undefined,
      false,
    ],
    [
      'requestPrincipals by issuer prefix',
      l7Rule({ from: [l7Source({ requestPrincipals: [policyMatcher(`${ISSUER}/*`)] })] }),
      alice,
      true,
    ],
    [
      'requestPrincipals: another subject',
      l7Rule({ from: [l7Source({ requestPrincipals: [policyMatcher(`${ISSUER}/bob`)] })] }),
      alice,
      false,
    ],
    [
      'notRequestPrincipals excludes the subject',
      l7Rule({ from: [l7Source({ notRequestPrincipals: [policyMatcher(`${ISSUER}/alice`)] })] }),
      alice,
      false,
    ],
    [
      'a list claim: any item matches',
      l7Rule({ when: [when({ kind: 'authClaim', path: ['groups'] }, ['admin'])] }),
      alice,
      true,
    ],
    [
      'a list claim: no item matches',
      l7Rule({ when: [when({ kind: 'authClaim', path: ['groups'] }, ['ops'])] }),
      alice,
      false,
    ],
    [
      'a list claim under notValues',
      l7Rule({ when: [when({ kind: 'authClaim', path: ['groups'] }, [], ['dev'])] }),
      alice,
      false,
    ],
    [
      'a nested claim',
      l7Rule({ when: [when({ kind: 'authClaim', path: ['org', 'team'] }, ['core'])] }),
      alice,
      true,
    ],
    [
      'a number claim compares as text',
      l7Rule({ when: [when({ kind: 'authClaim', path: ['level'] }, ['3'])] }),
      alice,
      true,
    ],
    [
      'a claim of a missing token',
      l7Rule({ when: [when({ kind: 'authClaim', path: ['groups'] }, ['admin'])] }),
      undefined,
      false,
    ],
    ['audiences', l7Rule({ when: [when({ kind: 'authAudiences' }, ['shop'])] }), alice, true],
    ['principal', l7Rule({ when: [when({ kind: 'authPrincipal' }, [`${ISSUER}/alice`])] }), alice, true],
    ['presenter', l7Rule({ when: [when({ kind: 'authPresenter' }, ['mobile'])] }), alice, false],
  ])('%s', (_name, rule, auth, allowed) => {
    expect(authorizeRequest(allow(rule), 'shop.default.svc.cluster.local', attributes(auth)).allowed).toBe(
      allowed,
    );
  });
});
