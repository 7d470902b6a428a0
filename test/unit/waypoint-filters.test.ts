/**
 * The waypoint's per-request filters as tables: protocol detection, header operations and Envoy's added
 * headers, hop-by-hop stripping, redirect locations, CORS decisions, gRPC status mapping, access log lines.
 */
import { describe, expect, it } from 'vitest';
import type { CorsPolicy, HeaderOperations, RedirectAction } from '../../src/core/l7/types.ts';
import { formatAccessLogLine } from '../../src/waypoint/access-log.ts';
import { declaredWire, detectProtocol, HTTP2_PREFACE } from '../../src/waypoint/inbound/protocol.ts';
import { corsDecision } from '../../src/waypoint/pipeline/cors.ts';
import { grpcStatusOfHttp, isGrpc } from '../../src/waypoint/pipeline/grpc.ts';
import {
  addForwardingHeaders,
  addResponseHeaders,
  applyHeaderOperations,
  forwardableHeaders,
  type HeaderMap,
} from '../../src/waypoint/pipeline/headers.ts';
import { redirectLocation, splitAuthority } from '../../src/waypoint/pipeline/redirect.ts';
import { match } from '../support/route-table.ts';

describe('protocol detection', () => {
  it.each([
    ['GET / HTTP/1.1\r\n', false, 'http1'],
    ['POST /x HTTP/1.1\r\n', false, 'http1'],
    ['OPTIONS', false, 'more'],
    ['OPTIONS', true, 'tcp'],
    ['M-SEARCH * HTTP/1.1', false, 'http1'],
    ['get / HTTP/1.1', false, 'tcp'],
    [' GET /', false, 'tcp'],
    ['\x16\x03\x01\x02\x00', false, 'tcp'], // a TLS ClientHello
    ['SSH-2.0-OpenSSH', false, 'tcp'],
    ['PRI * HTTP/2.0\r\n', false, 'more'],
    ['PRI * HTTP/2.0\r\n', true, 'http1'], // a complete request line with method PRI, preface cut short
    ['PRI', false, 'more'],
    ['', false, 'more'],
    ['', true, 'tcp'],
    ['ABCDEFGHIJKLMNOPQRSTUV', false, 'tcp'], // no method is that long
  ])('%j (final %s) -> %s', (text, final, expected) => {
    expect(detectProtocol(Buffer.from(text, 'latin1'), final)).toBe(expected);
  });

  it('recognises the whole HTTP/2 preface, with frames after it', () => {
    expect(detectProtocol(HTTP2_PREFACE)).toBe('http2');
    expect(detectProtocol(Buffer.concat([HTTP2_PREFACE, Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]))).toBe(
      'http2',
    );
  });

  it.each([
    ['http', 'http1'],
    ['http2', 'http2'],
    ['grpc', 'http2'],
    ['tcp', 'tcp'],
    ['detect', 'detect'],
  ] as const)('declared %s -> %s', (protocol, wire) => {
    expect(declaredWire(protocol)).toBe(wire);
  });
});

describe('header operations', () => {
  const ops = (o: Partial<HeaderOperations>): HeaderOperations => ({ set: [], add: [], remove: [], ...o });

  it.each([
    [{ a: '1' }, ops({ set: [{ name: 'a', value: '2' }] }), { a: '2' }],
    [{ a: ['1', '2'] }, ops({ set: [{ name: 'a', value: '3' }] }), { a: '3' }],
    [{ a: '1' }, ops({ add: [{ name: 'a', value: '2' }] }), { a: ['1', '2'] }],
    [
      {},
      ops({
        add: [
          { name: 'a', value: '1' },
          { name: 'a', value: '2' },
        ],
      }),
      { a: ['1', '2'] },
    ],
    [{ a: '1', b: '2' }, ops({ remove: ['a'] }), { b: '2' }],
    // remove, then set, then add: a removed-and-set header ends with the set value plus the added one
    [
      { a: '1' },
      ops({ remove: ['a'], set: [{ name: 'a', value: 's' }], add: [{ name: 'a', value: 'x' }] }),
      { a: ['s', 'x'] },
    ],
  ] as [HeaderMap, HeaderOperations, HeaderMap][])('%j with %j -> %j', (before, operations, after) => {
    const headers = structuredClone(before);
    applyHeaderOperations(headers, operations);
    expect(headers).toEqual(after);
  });

  it('drops hop-by-hop headers, pseudo-headers, host, the ones `connection` names, and te other than trailers', () => {
    expect(
      forwardableHeaders({
        ':authority': 'x',
        host: 'x',
        connection: 'keep-alive, x-hop',
        'keep-alive': 'timeout=5',
        'transfer-encoding': 'chunked',
        upgrade: 'h2c',
        'x-hop': '1',
        te: 'gzip',
        'x-keep': 'yes',
      }),
    ).toEqual({ 'x-keep': 'yes' });
    expect(forwardableHeaders({ te: 'trailers', 'content-type': 'application/grpc' })).toEqual({
      te: 'trailers',
      'content-type': 'application/grpc',
    });
  });

  it('adds Envoy request headers: x-forwarded-for appended, proto kept, request id and attempt set', () => {
    const fresh: HeaderMap = {};
    addForwardingHeaders(fresh, { clientIp: '10.0.0.1', scheme: 'http', requestId: 'id-1', attempt: 1 });
    expect(fresh).toEqual({
      'x-forwarded-for': '10.0.0.1',
      'x-forwarded-proto': 'http',
      'x-request-id': 'id-1',
      'x-envoy-attempt-count': '1',
    });
    const relayed: HeaderMap = { 'x-forwarded-for': '1.2.3.4', 'x-forwarded-proto': 'https' };
    addForwardingHeaders(relayed, { clientIp: '10.0.0.1', scheme: 'https', requestId: 'id-2', attempt: 2 });
    expect(relayed['x-forwarded-for']).toBe('1.2.3.4, 10.0.0.1');
    expect(relayed['x-forwarded-proto']).toBe('https');
    expect(relayed['x-envoy-attempt-count']).toBe('2');
  });

  it('overwrites server and adds the upstream service time', () => {
    const headers: HeaderMap = { server: 'gunicorn' };
    addResponseHeaders(headers, 12.6);
    expect(headers).toEqual({ server: 'ambit', 'x-envoy-upstream-service-time': '13' });
    const local: HeaderMap = {};
    addResponseHeaders(local, undefined);
    expect(local).toEqual({ server: 'ambit' });
  });
});

describe('redirect location', () => {
  const request = { scheme: 'http', authority: 'shop.default:8080', path: '/cart/items', query: '?id=7' };
  it.each([
    [{ kind: 'redirect', status: 302 }, 'http://shop.default:8080/cart/items?id=7'],
    [{ kind: 'redirect', status: 301, scheme: 'https' }, 'https://shop.default:8080/cart/items?id=7'],
    [
      { kind: 'redirect', status: 301, scheme: 'https', port: 'fromScheme' },
      'https://shop.default/cart/items?id=7',
    ],
    [{ kind: 'redirect', status: 301, port: 443, scheme: 'https' }, 'https://shop.default/cart/items?id=7'],
    [{ kind: 'redirect', status: 301, port: 9090 }, 'http://shop.default:9090/cart/items?id=7'],
    [{ kind: 'redirect', status: 301, host: 'new.shop' }, 'http://new.shop:8080/cart/items?id=7'],
    [
      { kind: 'redirect', status: 301, path: { kind: 'full', value: '/moved' } },
      'http://shop.default:8080/moved?id=7',
    ],
    [
      { kind: 'redirect', status: 301, path: { kind: 'full', value: '/moved?to=x' } },
      'http://shop.default:8080/moved?to=x',
    ],
    [
      { kind: 'redirect', status: 301, path: { kind: 'prefix', value: '/basket' } },
      'http://shop.default:8080/basket/items?id=7',
    ],
  ] as [RedirectAction, string][])('%j -> %s', (action, location) => {
    const prefixMatch = match({ path: { kind: 'prefix', value: '/cart' } });
    expect(redirectLocation(action, prefixMatch, request)).toBe(location);
  });

  it.each([
    ['a.b', 'a.b', undefined],
    ['a.b:80', 'a.b', 80],
    ['[fd00::1]:8080', 'fd00::1', 8080],
    ['[fd00::1]', 'fd00::1', undefined],
    ['a.b:notaport', 'a.b:notaport', undefined],
  ])('authority %s -> host %s port %s', (authority, host, port) => {
    expect(splitAuthority(authority)).toEqual({ host, port });
  });

  it('brackets an IPv6 host in the location', () => {
    expect(
      redirectLocation({ kind: 'redirect', status: 302 }, undefined, {
        ...request,
        authority: '[fd00::1]:81',
      }),
    ).toBe('http://[fd00::1]:81/cart/items?id=7');
  });
});

describe('CORS', () => {
  const policy: CorsPolicy = {
    allowOrigins: [
      { kind: 'exact', value: 'https://app.example' },
      { kind: 'prefix', value: 'https://dev.' },
    ],
    allowMethods: ['GET', 'POST'],
    allowHeaders: ['x-token'],
    exposeHeaders: ['x-trace'],
    maxAgeSeconds: 600,
    allowCredentials: true,
    unmatchedPreflights: 'forward',
  };

  it.each([
    ['no policy', undefined, 'GET', 'https://app.example', undefined, { kind: 'none' }],
    ['no origin', policy, 'GET', undefined, undefined, { kind: 'none' }],
    [
      'allowed preflight',
      policy,
      'OPTIONS',
      'https://dev.example',
      'POST',
      {
        kind: 'preflight',
        headers: {
          'access-control-allow-origin': 'https://dev.example',
          'access-control-allow-methods': 'GET,POST',
          'access-control-allow-headers': 'x-token',
          'access-control-max-age': '600',
          'access-control-allow-credentials': 'true',
        },
      },
    ],
    ['unmatched preflight, forward', policy, 'OPTIONS', 'https://evil.example', 'POST', { kind: 'none' }],
    [
      'unmatched preflight, ignore',
      { ...policy, unmatchedPreflights: 'ignore' as const },
      'OPTIONS',
      'https://evil.example',
      'POST',
      { kind: 'preflight', headers: {} },
    ],
    [
      'simple request, allowed',
      policy,
      'GET',
      'https://app.example',
      undefined,
      {
        kind: 'forward',
        responseHeaders: {
          'access-control-allow-origin': 'https://app.example',
          'access-control-allow-credentials': 'true',
          'access-control-expose-headers': 'x-trace',
        },
      },
    ],
    ['simple request, not allowed', policy, 'GET', 'https://evil.example', undefined, { kind: 'none' }],
    [
      'wildcard origin',
      {
        ...policy,
        allowOrigins: [{ kind: 'exact' as const, value: '*' }],
        allowCredentials: false,
        exposeHeaders: [],
      },
      'GET',
      'https://any.example',
      undefined,
      { kind: 'forward', responseHeaders: { 'access-control-allow-origin': 'https://any.example' } },
    ],
  ])('%s', (_name, cors, method, origin, requestMethod, expected) => {
    expect(corsDecision(cors as CorsPolicy | undefined, method, origin, requestMethod)).toEqual(expected);
  });
});

describe('gRPC', () => {
  it.each([
    [400, 13],
    [401, 16],
    [403, 7],
    [404, 12],
    [429, 14],
    [502, 14],
    [503, 14],
    [504, 14],
    [500, 2],
    [418, 2],
  ])('HTTP %i -> grpc-status %i', (status, grpc) => {
    expect(grpcStatusOfHttp(status)).toBe(grpc);
  });

  it.each([
    ['application/grpc', true],
    ['application/grpc+proto', true],
    ['application/grpc-web', true],
    ['application/json', false],
    [undefined, false],
  ])('%s is gRPC: %s', (contentType, expected) => {
    expect(isGrpc(contentType)).toBe(expected);
  });
});

describe('access log', () => {
  it("formats Envoy's default line, with - for what is missing", () => {
    expect(
      formatAccessLogLine({
        startTime: new Date('2026-12-01T09:00:00.000Z'),
        method: 'GET',
        path: '/reviews/1',
        protocol: 'HTTP/1.1',
        responseCode: 200,
        responseFlags: '-',
        bytesReceived: 0,
        bytesSent: 358,
        durationMs: 4.4,
        upstreamServiceMs: 3.2,
        forwardedFor: '10.244.0.7',
        userAgent: 'curl/8.5.0',
        requestId: 'abc',
        authority: 'reviews:9080',
        upstreamHost: '10.244.1.5:9080',
      }),
    ).toBe(
      '[2026-12-01T09:00:00.000Z] "GET /reviews/1 HTTP/1.1" 200 - 0 358 4 3 "10.244.0.7" "curl/8.5.0" "abc" "reviews:9080" "10.244.1.5:9080"\n',
    );
    expect(
      formatAccessLogLine({
        startTime: new Date('2026-12-01T09:00:00.000Z'),
        method: 'GET',
        path: '/',
        protocol: 'HTTP/2',
        responseCode: 404,
        responseFlags: 'NR',
        bytesReceived: 0,
        bytesSent: 0,
        durationMs: 0,
        upstreamServiceMs: undefined,
        forwardedFor: undefined,
        userAgent: undefined,
        requestId: undefined,
        authority: '',
        upstreamHost: undefined,
      }),
    ).toBe('[2026-12-01T09:00:00.000Z] "GET / HTTP/2" 404 NR 0 0 0 - "-" "-" "-" "-" "-"\n');
  });
});
