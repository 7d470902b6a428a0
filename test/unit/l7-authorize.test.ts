/**
 * L7 authorization as a pure function, by tables: DENY before ALLOW, any ALLOW means default deny, AUDIT
 * only reported; scoping to served services; every matcher (principals, namespaces, IP blocks, hosts with and
 * without port, methods, paths with Istio templates, ports, `not*`, `when` keys).
 */
import { describe, expect, it } from 'vitest';
import { authorizeRequest, type RequestAttributes } from '../../src/core/l7/authorize.ts';
import type {
  L7AuthorizationPolicy,
  L7Condition,
  L7Operation,
  L7Rule,
  L7Source,
  PolicyMatcher,
} from '../../src/core/l7/types.ts';
import { policyMatcherMatches } from '../../src/core/policy/string-match.ts';

const SERVICE = 'reviews.shop.svc.cluster.local';

function attributes(
  overrides: Partial<Omit<RequestAttributes, 'header'>> & { headers?: Record<string, string> } = {},
): RequestAttributes {
  const { headers = {}, ...rest } = overrides;
  return {
    sourceIdentity: 'spiffe://cluster.local/ns/shop/sa/frontend',
    sourceIp: '10.244.1.5',
    destinationIp: '10.96.0.9',
    destinationPort: 9080,
    host: 'reviews:9080',
    method: 'GET',
    path: '/api/items',
    header: (name) => headers[name],
    ...rest,
  };
}

const source = (fields: Partial<L7Source>): L7Source => ({
  principals: [],
  notPrincipals: [],
  namespaces: [],
  notNamespaces: [],
  ipBlocks: [],
  notIpBlocks: [],
  remoteIpBlocks: [],
  notRemoteIpBlocks: [],
  ...fields,
});
const operation = (fields: Partial<L7Operation>): L7Operation => ({
  hosts: [],
  notHosts: [],
  ports: [],
  notPorts: [],
  methods: [],
  notMethods: [],
  paths: [],
  notPaths: [],
  ...fields,
});
const rule = (fields: Partial<L7Rule>): L7Rule => ({ from: [], to: [], when: [], ...fields });
const exact = (value: string): PolicyMatcher => ({ kind: 'exact', value });

function policy(
  name: string,
  action: L7AuthorizationPolicy['action'],
  rules: L7Rule[],
  appliesTo: L7AuthorizationPolicy['appliesTo'] = { kind: 'waypoint' },
): L7AuthorizationPolicy {
  return { name, namespace: 'shop', action, appliesTo, rules };
}

describe('decision order', () => {
  const getOnly = policy('get-only', 'ALLOW', [rule({ to: [operation({ methods: [exact('GET')] })] })]);
  const denyAdmin = policy('deny-admin', 'DENY', [rule({ to: [operation({ paths: [exact('/admin')] })] })]);
  const audit = policy('audit-all', 'AUDIT', [rule({})]);
  it.each<[string, L7AuthorizationPolicy[], RequestAttributes, boolean, string, string | undefined]>([
    ['no policy: allowed', [], attributes(), true, 'no-policy', undefined],
    ['ALLOW matches', [getOnly], attributes(), true, 'allowed', 'get-only'],
    [
      'ALLOW exists, no match: default deny',
      [getOnly],
      attributes({ method: 'POST' }),
      false,
      'not-allowed',
      undefined,
    ],
    ['DENY beats ALLOW', [getOnly, denyAdmin], attributes({ path: '/admin' }), false, 'denied', 'deny-admin'],
    ['DENY not matching, no ALLOW', [denyAdmin], attributes(), true, 'no-policy', undefined],
    ['AUDIT never decides', [audit], attributes({ method: 'DELETE' }), true, 'no-policy', undefined],
    [
      'ALLOW without rules allows nothing',
      [policy('empty', 'ALLOW', [])],
      attributes(),
      false,
      'not-allowed',
      undefined,
    ],
    [
      'an empty rule matches everything',
      [policy('all', 'ALLOW', [rule({})])],
      attributes(),
      true,
      'allowed',
      'all',
    ],
    [
      'a policy for another service does not apply',
      [policy('other', 'ALLOW', [], { kind: 'services', hostnames: ['ratings.shop.svc.cluster.local'] })],
      attributes(),
      true,
      'no-policy',
      undefined,
    ],
    [
      'a policy for this service applies',
      [policy('mine', 'ALLOW', [], { kind: 'services', hostnames: [SERVICE] })],
      attributes(),
      false,
      'not-allowed',
      undefined,
    ],
  ])('%s', (_name, policies, request, allowed, reason, by) => {
    const decision = authorizeRequest(policies, SERVICE, request);
    expect([decision.allowed, decision.reason, decision.policy?.name]).toEqual([allowed, reason, by]);
  });
  it('reports the AUDIT policies that matched', () => {
    expect(authorizeRequest([audit, getOnly], SERVICE, attributes()).audited.map((p) => p.name)).toEqual([
      'audit-all',
    ]);
  });
});

describe('rule fields (an ALLOW policy with one rule)', () => {
  const allowed = (r: L7Rule, request: RequestAttributes) =>
    authorizeRequest([policy('p', 'ALLOW', [r])], SERVICE, request).allowed;
  it.each<[string, L7Rule, RequestAttributes, boolean]>([
    [
      'principal exact',
      rule({ from: [source({ principals: [exact('cluster.local/ns/shop/sa/frontend')] })] }),
      attributes(),
      true,
    ],
    [
      'principal prefix',
      rule({ from: [source({ principals: [{ kind: 'prefix', value: 'cluster.local/ns/shop/' }] })] }),
      attributes(),
      true,
    ],
    [
      'principal suffix',
      rule({ from: [source({ principals: [{ kind: 'suffix', value: '/sa/batch' }] })] }),
      attributes(),
      false,
    ],
    [
      'principal any needs a principal',
      rule({ from: [source({ principals: [{ kind: 'any' }] })] }),
      attributes({ sourceIdentity: undefined }),
      false,
    ],
    [
      'notPrincipals excludes',
      rule({ from: [source({ notPrincipals: [{ kind: 'any' }] })] }),
      attributes(),
      false,
    ],
    [
      'notPrincipals: a plaintext peer is not excluded',
      rule({ from: [source({ notPrincipals: [{ kind: 'any' }] })] }),
      attributes({ sourceIdentity: undefined }),
      true,
    ],
    [
      'namespace from the identity',
      rule({ from: [source({ namespaces: [exact('shop')] })] }),
      attributes(),
      true,
    ],
    ['notNamespaces', rule({ from: [source({ notNamespaces: [exact('shop')] })] }), attributes(), false],
    ['ipBlocks CIDR', rule({ from: [source({ ipBlocks: ['10.244.0.0/16'] })] }), attributes(), true],
    ['ipBlocks address', rule({ from: [source({ ipBlocks: ['10.244.1.6'] })] }), attributes(), false],
    [
      'ipBlocks, IPv4-mapped peer',
      rule({ from: [source({ ipBlocks: ['10.244.0.0/16'] })] }),
      attributes({ sourceIp: '::ffff:10.244.1.5' }),
      true,
    ],
    ['notIpBlocks', rule({ from: [source({ notIpBlocks: ['10.244.1.0/24'] })] }), attributes(), false],
    [
      'remoteIpBlocks default to the peer',
      rule({ from: [source({ remoteIpBlocks: ['10.244.1.0/24'] })] }),
      attributes(),
      true,
    ],
    [
      'remoteIpBlocks use the remote address',
      rule({ from: [source({ remoteIpBlocks: ['10.244.1.0/24'] })] }),
      attributes({ remoteIp: '192.0.2.1' }),
      false,
    ],
    [
      'IPv6 block',
      rule({ from: [source({ ipBlocks: ['fd00::/8'] })] }),
      attributes({ sourceIp: 'fd00::5' }),
      true,
    ],
    [
      'some from entry',
      rule({ from: [source({ namespaces: [exact('x')] }), source({ namespaces: [exact('shop')] })] }),
      attributes(),
      true,
    ],
    ['host without port', rule({ to: [operation({ hosts: [exact('reviews')] })] }), attributes(), true],
    ['host with port', rule({ to: [operation({ hosts: [exact('reviews:9080')] })] }), attributes(), true],
    [
      'host case-insensitive (compiled lowercase)',
      rule({ to: [operation({ hosts: [exact('reviews')] })] }),
      attributes({ host: 'Reviews:9080' }),
      true,
    ],
    [
      'host suffix',
      rule({ to: [operation({ hosts: [{ kind: 'suffix', value: '.svc.cluster.local' }] })] }),
      attributes(),
      false,
    ],
    [
      'notHosts',
      rule({ to: [operation({ notHosts: [{ kind: 'prefix', value: 'rev' }] })] }),
      attributes(),
      false,
    ],
    [
      'IPv6 authority with port',
      rule({ to: [operation({ hosts: [exact('[fd00::9]')] })] }),
      attributes({ host: '[fd00::9]:9080' }),
      true,
    ],
    ['ports', rule({ to: [operation({ ports: [9080] })] }), attributes(), true],
    ['notPorts', rule({ to: [operation({ notPorts: [9080] })] }), attributes(), false],
    ['methods', rule({ to: [operation({ methods: [exact('POST')] })] }), attributes(), false],
    ['notMethods', rule({ to: [operation({ notMethods: [exact('DELETE')] })] }), attributes(), true],
    [
      'paths prefix',
      rule({ to: [operation({ paths: [{ kind: 'prefix', value: '/api/' }] })] }),
      attributes(),
      true,
    ],
    [
      'notPaths',
      rule({ to: [operation({ notPaths: [{ kind: 'prefix', value: '/api/' }] })] }),
      attributes(),
      false,
    ],
    [
      'path template',
      rule({ to: [operation({ paths: [{ kind: 'template', segments: ['api', '{*}'] }] })] }),
      attributes(),
      true,
    ],
    [
      'from and to both needed',
      rule({
        from: [source({ namespaces: [exact('other')] })],
        to: [operation({ methods: [exact('GET')] })],
      }),
      attributes(),
      false,
    ],
  ])('%s', (_name, r, request, expected) => expect(allowed(r, request)).toBe(expected));
});

describe('when conditions', () => {
  const when = (condition: L7Condition) => rule({ when: [condition] });
  const allowed = (r: L7Rule, request: RequestAttributes) =>
    authorizeRequest([policy('p', 'ALLOW', [r])], SERVICE, request).allowed;
  it.each<[string, L7Rule, RequestAttributes, boolean]>([
    [
      'request header',
      when({
        kind: 'string',
        key: { kind: 'requestHeader', name: 'x-token' },
        values: [exact('admin')],
        notValues: [],
      }),
      attributes({ headers: { 'x-token': 'admin' } }),
      true,
    ],
    [
      'request header absent',
      when({
        kind: 'string',
        key: { kind: 'requestHeader', name: 'x-token' },
        values: [exact('admin')],
        notValues: [],
      }),
      attributes(),
      false,
    ],
    [
      'request header notValues',
      when({
        kind: 'string',
        key: { kind: 'requestHeader', name: 'x-token' },
        values: [],
        notValues: [{ kind: 'prefix', value: 'guest' }],
      }),
      attributes({ headers: { 'x-token': 'guest-1' } }),
      false,
    ],
    [
      'source.namespace',
      when({ kind: 'string', key: { kind: 'sourceNamespace' }, values: [exact('shop')], notValues: [] }),
      attributes(),
      true,
    ],
    [
      'source.principal',
      when({
        kind: 'string',
        key: { kind: 'sourcePrincipal' },
        values: [{ kind: 'suffix', value: '/sa/frontend' }],
        notValues: [],
      }),
      attributes(),
      true,
    ],
    [
      'destination.port',
      when({ kind: 'string', key: { kind: 'destinationPort' }, values: [exact('9080')], notValues: [] }),
      attributes(),
      true,
    ],
    [
      'connection.sni absent',
      when({ kind: 'string', key: { kind: 'sni' }, values: [exact('reviews')], notValues: [] }),
      attributes(),
      false,
    ],
    [
      'source.ip',
      when({ kind: 'ip', key: { kind: 'sourceIp' }, values: ['10.244.1.0/24'], notValues: [] }),
      attributes(),
      true,
    ],
    [
      'destination.ip notValues',
      when({ kind: 'ip', key: { kind: 'destinationIp' }, values: [], notValues: ['10.96.0.0/16'] }),
      attributes(),
      false,
    ],
    [
      'remote.ip',
      when({ kind: 'ip', key: { kind: 'remoteIp' }, values: ['192.0.2.0/24'], notValues: [] }),
      attributes({ remoteIp: '192.0.2.7' }),
      true,
    ],
  ])('%s', (_name, r, request, expected) => expect(allowed(r, request)).toBe(expected));
});

describe('Istio path templates', () => {
  it.each<[string[], string, boolean]>([
    [['api', '{*}'], '/api/items', true],
    [['api', '{*}'], '/api/items/1', false],
    [['api', '{*}'], '/api/', false],
    [['api', '{*}', 'reviews'], '/api/7/reviews', true],
    [['api', '{*}', 'reviews'], '/api/7/ratings', false],
    [['api', '{**}'], '/api/a/b/c', true],
    [['api', '{**}'], '/api/', true],
    [['api', '{**}'], '/apix/a', false],
    [['{*}', 'healthz'], '/svc/healthz', true],
    [['{*}', 'healthz'], 'svc/healthz', false],
  ])('%j on %s: %s', (segments, path, expected) =>
    expect(policyMatcherMatches({ kind: 'template', segments }, path)).toBe(expected),
  );
});
