/**
 * The waypoint's pure route decisions over a compiled table, by tables: string matchers, request matches,
 * first-match route selection, the served target of an address, weighted backend choice, path rewrites.
 */
import { describe, expect, it } from 'vitest';
import {
  chooseBackend,
  findServedTarget,
  type RequestView,
  requestMatches,
  rewritePath,
  selectRoute,
  stringMatches,
} from '../../src/core/l7/match.ts';
import type {
  Backend,
  PathRewrite,
  RequestMatch,
  Route,
  RouteTable,
  StringMatcher,
} from '../../src/core/l7/types.ts';

function request(
  overrides: Partial<Omit<RequestView, 'header' | 'queryParam'>> & {
    headers?: Record<string, string>;
    query?: Record<string, string>;
  } = {},
): RequestView {
  const { headers = {}, query = {}, ...rest } = overrides;
  return {
    authority: 'reviews:9080',
    method: 'GET',
    scheme: 'http',
    path: '/api/v1/items',
    header: (name) => headers[name],
    queryParam: (name) => query[name],
    ...rest,
  };
}

const match = (fields: Partial<RequestMatch>): RequestMatch => ({ headers: [], queryParams: [], ...fields });

describe('string matchers', () => {
  it.each<[StringMatcher, string, boolean]>([
    [{ kind: 'exact', value: '/a' }, '/a', true],
    [{ kind: 'exact', value: '/a' }, '/A', false],
    [{ kind: 'exact', value: '/a', ignoreCase: true }, '/A', true],
    [{ kind: 'exact', value: '/a', ignoreCase: true }, '/ab', false],
    [{ kind: 'prefix', value: '/api' }, '/api/x', true],
    [{ kind: 'prefix', value: '/api' }, '/apix', true],
    [{ kind: 'prefix', value: '/api' }, '/ap', false],
    [{ kind: 'prefix', value: '/API', ignoreCase: true }, '/api/x', true],
    [{ kind: 'prefix', value: '' }, 'anything', true],
    // Regexes match the whole value (Envoy), in RE2 syntax.
    [{ kind: 'regex', regex: '/v[0-9]+' }, '/v12', true],
    [{ kind: 'regex', regex: '/v[0-9]+' }, '/v12/x', false],
    [{ kind: 'regex', regex: '(?i)/V1' }, '/v1', true],
    [{ kind: 'regex', regex: '[[:digit:]]+' }, '42', true],
    // Gateway API PathPrefix: by whole segments.
    [{ kind: 'pathPrefix', value: '/foo' }, '/foo', true],
    [{ kind: 'pathPrefix', value: '/foo' }, '/foo/', true],
    [{ kind: 'pathPrefix', value: '/foo' }, '/foo/bar', true],
    [{ kind: 'pathPrefix', value: '/foo' }, '/foobar', false],
    [{ kind: 'pathPrefix', value: '/' }, '/anything', true],
  ])('%j on %j: %s', (matcher, value, expected) => expect(stringMatches(matcher, value)).toBe(expected));
});

describe('request matches: every set field must hold', () => {
  it.each<[string, RequestMatch, RequestView, boolean]>([
    ['empty match', match({}), request(), true],
    [
      'path and method',
      match({ path: { kind: 'prefix', value: '/api' }, method: { kind: 'exact', value: 'GET' } }),
      request(),
      true,
    ],
    ['method differs', match({ method: { kind: 'exact', value: 'POST' } }), request(), false],
    ['scheme', match({ scheme: { kind: 'exact', value: 'https' } }), request(), false],
    ['authority', match({ authority: { kind: 'prefix', value: 'reviews' } }), request(), true],
    [
      'header exact',
      match({ headers: [{ name: 'end-user', match: { kind: 'exact', value: 'jason' }, invert: false }] }),
      request({ headers: { 'end-user': 'jason' } }),
      true,
    ],
    [
      'header absent',
      match({ headers: [{ name: 'end-user', match: { kind: 'exact', value: 'jason' }, invert: false }] }),
      request(),
      false,
    ],
    [
      'header present',
      match({ headers: [{ name: 'x-canary', match: { kind: 'present' }, invert: false }] }),
      request({ headers: { 'x-canary': '' } }),
      true,
    ],
    [
      'withoutHeaders: absent header passes',
      match({ headers: [{ name: 'x-test', match: { kind: 'exact', value: '1' }, invert: true }] }),
      request(),
      true,
    ],
    [
      'withoutHeaders: matching header fails',
      match({ headers: [{ name: 'x-test', match: { kind: 'exact', value: '1' }, invert: true }] }),
      request({ headers: { 'x-test': '1' } }),
      false,
    ],
    [
      'withoutHeaders: other value passes',
      match({ headers: [{ name: 'x-test', match: { kind: 'exact', value: '1' }, invert: true }] }),
      request({ headers: { 'x-test': '2' } }),
      true,
    ],
    [
      'query regex',
      match({ queryParams: [{ name: 'v', match: { kind: 'regex', regex: '[0-9]+' }, invert: false }] }),
      request({ query: { v: '12' } }),
      true,
    ],
    [
      'query missing',
      match({ queryParams: [{ name: 'v', match: { kind: 'regex', regex: '[0-9]+' }, invert: false }] }),
      request(),
      false,
    ],
  ])('%s', (_name, matcher, view, expected) => expect(requestMatches(matcher, view)).toBe(expected));
});

function route(name: string, matches: RequestMatch[]): Route {
  return {
    origin: { kind: 'VirtualService', namespace: 'ns', name, rule: 0 },
    matches,
    action: { kind: 'directResponse', status: 200 },
    requestHeaders: { set: [], add: [], remove: [] },
    responseHeaders: { set: [], add: [], remove: [] },
    retry: { attempts: 0, retryOn: [], retriableStatusCodes: [], backoffBaseMs: 25 },
    mirrors: [],
  };
}

describe('route selection: the first route whose matches accept the request', () => {
  const v2 = match({
    headers: [{ name: 'end-user', match: { kind: 'exact', value: 'jason' }, invert: false }],
  });
  const api = match({ path: { kind: 'prefix', value: '/api' } });
  const routes = [
    route('jason', [v2]),
    route('api', [match({ method: { kind: 'exact', value: 'POST' } }), api]),
    route('rest', []),
  ];
  it.each<[string, RequestView, string | undefined, RequestMatch | undefined]>([
    ['header route first', request({ headers: { 'end-user': 'jason' } }), 'jason', v2],
    ['second match of the second route', request(), 'api', api],
    ['catch-all last', request({ path: '/other' }), 'rest', undefined],
  ])('%s', (_name, view, expected, matched) => {
    const selection = selectRoute(routes, view);
    expect(selection?.route.origin.name).toBe(expected);
    expect(selection?.match).toBe(matched);
  });
  it('nothing when no route matches (the waypoint answers 404 NR)', () => {
    expect(selectRoute(routes.slice(0, 2), request({ path: '/other' }))).toBeUndefined();
  });
});

describe('served target', () => {
  const table: RouteTable = {
    servedServices: [
      {
        name: 'reviews',
        namespace: 'ns',
        hostname: 'reviews.ns.svc.cluster.local',
        vips: ['10.96.0.9'],
        ports: [{ port: 9080, protocol: 'http', routes: [] }],
      },
    ],
    clusters: [],
    authorization: [],
  };
  it.each<[string, number, string | undefined]>([
    ['10.96.0.9', 9080, 'reviews'],
    ['reviews.ns.svc.cluster.local', 9080, 'reviews'],
    ['10.96.0.9', 80, undefined],
    ['10.96.0.10', 9080, undefined],
  ])('%s:%i', (host, port, expected) =>
    expect(findServedTarget(table, host, port)?.service.name).toBe(expected),
  );
});

describe('weighted backend choice, a pure function of a random number in [0, 1)', () => {
  const backend = (name: string, weight: number): Backend => ({
    kind: 'cluster',
    cluster: name,
    weight,
    requestHeaders: { set: [], add: [], remove: [] },
    responseHeaders: { set: [], add: [], remove: [] },
  });
  const split = [backend('v1', 90), backend('v2', 10)];
  const withZero = [backend('v1', 0), backend('v2', 3), backend('v3', 1)];
  it.each<[string, Backend[], number, string | undefined]>([
    ['90/10 low', split, 0, 'v1'],
    ['90/10 just under the boundary', split, 0.8999, 'v1'],
    ['90/10 at the boundary', split, 0.9, 'v2'],
    ['90/10 top', split, 0.999999, 'v2'],
    ['weight 0 never chosen, even at 0', withZero, 0, 'v2'],
    ['3/1 boundary', withZero, 0.75, 'v3'],
    ['all zero: none', [backend('a', 0), backend('b', 0)], 0.5, undefined],
  ])('%s', (_name, backends, random, expected) => {
    const chosen = chooseBackend(backends, random);
    expect(chosen?.kind === 'cluster' ? chosen.cluster : undefined).toBe(expected);
  });
  it('spreads by weight over evenly spaced draws', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 1000; i++) {
      const chosen = chooseBackend(split, i / 1000) as { cluster: string };
      counts.set(chosen.cluster, (counts.get(chosen.cluster) ?? 0) + 1);
    }
    expect(Object.fromEntries(counts)).toEqual({ v1: 900, v2: 100 });
  });
});

describe('path rewrites', () => {
  const prefix = (value: string) => match({ path: { kind: 'prefix', value } });
  const segments = (value: string) => match({ path: { kind: 'pathPrefix', value } });
  const exact = (value: string) => match({ path: { kind: 'exact', value } });
  it.each<[string, PathRewrite, RequestMatch | undefined, string, string]>([
    ['full', { kind: 'full', value: '/new' }, prefix('/old'), '/old/x', '/new'],
    // VirtualService rewrite.uri: Envoy's prefix_rewrite, plain concatenation.
    ['prefix', { kind: 'prefix', value: '/v2' }, prefix('/v1'), '/v1/items', '/v2/items'],
    ['prefix, no slash kept', { kind: 'prefix', value: '/' }, prefix('/v1'), '/v1/items', '//items'],
    ['prefix on exact', { kind: 'prefix', value: '/b' }, exact('/a'), '/a', '/b'],
    ['prefix without path match', { kind: 'prefix', value: '/v2/' }, undefined, '/items', '/v2/items'],
    // Gateway API ReplacePrefixMatch: the spec's table.
    [
      'RPM /foo->/xyz on /foo/bar',
      { kind: 'replacePrefixMatch', value: '/xyz' },
      segments('/foo'),
      '/foo/bar',
      '/xyz/bar',
    ],
    [
      'RPM /foo->/xyz/ on /foo/bar',
      { kind: 'replacePrefixMatch', value: '/xyz/' },
      segments('/foo'),
      '/foo/bar',
      '/xyz/bar',
    ],
    [
      'RPM /foo->/xyz on /foo',
      { kind: 'replacePrefixMatch', value: '/xyz' },
      segments('/foo'),
      '/foo',
      '/xyz',
    ],
    [
      'RPM /foo->/xyz on /foo/',
      { kind: 'replacePrefixMatch', value: '/xyz' },
      segments('/foo'),
      '/foo/',
      '/xyz/',
    ],
    [
      'RPM /foo->"" on /foo/bar',
      { kind: 'replacePrefixMatch', value: '' },
      segments('/foo'),
      '/foo/bar',
      '/bar',
    ],
    ['RPM /foo->"" on /foo', { kind: 'replacePrefixMatch', value: '' }, segments('/foo'), '/foo', '/'],
    ['RPM /foo->/ on /foo/', { kind: 'replacePrefixMatch', value: '/' }, segments('/foo'), '/foo/', '/'],
    [
      'RPM /foo->/ on /foo/bar',
      { kind: 'replacePrefixMatch', value: '/' },
      segments('/foo'),
      '/foo/bar',
      '/bar',
    ],
    ['RPM /->/xyz on /a', { kind: 'replacePrefixMatch', value: '/xyz' }, segments('/'), '/a', '/xyz/a'],
    // uriRegexRewrite: RE2 groups as \1.
    [
      'regex',
      { kind: 'regex', regex: '^/service/([^/]+)(/.*)$', substitution: '\\2/instance/\\1' },
      undefined,
      '/service/foo/v1/api',
      '/v1/api/instance/foo',
    ],
    [
      'regex, every match, $ kept literal',
      { kind: 'regex', regex: 'a', substitution: '$' },
      undefined,
      '/aba',
      '/$b$',
    ],
  ])('%s', (_name, rewrite, matched, path, expected) =>
    expect(rewritePath(rewrite, matched, path)).toBe(expected),
  );
});
