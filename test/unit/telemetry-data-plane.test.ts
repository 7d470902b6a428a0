/**
 * The data plane's telemetry decisions as tables: access log formats (Envoy's command operators, text and
 * typed JSON), filter expressions (the CEL subset), the request span's name and attributes, and the
 * waypoint's access logs carrying out a pushed config (formats, filters, destinations, the bound).
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { compileFilter } from '../../src/core/observe/access-log-filter.ts';
import {
  type AccessLogEntry,
  compileFormat,
  compileLabels,
  DEFAULT_JSON_LABELS,
  renderJson,
  renderText,
} from '../../src/core/observe/access-log-format.ts';
import { LineWriter } from '../../src/core/observe/line-writer.ts';
import { AccessLog, accessLogProblems } from '../../src/waypoint/access-log.ts';
import { endAttributes, spanName, startAttributes } from '../../src/waypoint/telemetry/span-attributes.ts';

const headers: Record<string, string> = { 'x-debug': '1', 'x-envoy-original-path': '/before-rewrite' };

const entry = (fields: Partial<AccessLogEntry> = {}): AccessLogEntry => ({
  startTime: new Date('2026-12-01T09:00:00.000Z'),
  method: 'GET',
  path: '/reviews/1?x=y',
  protocol: 'HTTP/1.1',
  responseCode: 503,
  responseFlags: 'UF',
  bytesReceived: 10,
  bytesSent: 91,
  durationMs: 12.6,
  upstreamServiceMs: undefined,
  forwardedFor: '10.244.0.7',
  userAgent: 'curl/8.5.0',
  requestId: 'req-1',
  authority: 'reviews:9080',
  upstreamHost: '10.244.1.5:9080',
  upstreamCluster: 'outbound|9080||reviews.apps.svc.cluster.local',
  downstreamPeer: 'spiffe://cluster.local/ns/apps/sa/client',
  grpcStatus: '',
  requestHeader: (name) => headers[name],
  ...fields,
});

describe('access log formats', () => {
  it.each([
    ['%START_TIME% %RESPONSE_CODE% %RESPONSE_FLAGS%', '2026-12-01T09:00:00.000Z 503 UF'],
    ['%REQ(:METHOD)% %REQ(:PATH)% %PROTOCOL%', 'GET /reviews/1?x=y HTTP/1.1'],
    ['%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%', '/before-rewrite'],
    ['%REQ(X-MISSING?:AUTHORITY)%', 'reviews:9080'],
    ['%REQ(X-DEBUG)% %REQ(X-ABSENT)%', '1 -'],
    ['%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% %DURATION%', '- 13'],
    [
      '%BYTES_RECEIVED%/%BYTES_SENT% %UPSTREAM_HOST% %UPSTREAM_CLUSTER%',
      '10/91 10.244.1.5:9080 outbound|9080||reviews.apps.svc.cluster.local',
    ],
    ['%DOWNSTREAM_PEER_URI_SAN% %GRPC_STATUS% %ROUTE_NAME%', 'spiffe://cluster.local/ns/apps/sa/client - -'],
    ['100%% done: %RESPONSE_CODE%', '100% done: 503'],
    ['%REQ(USER-AGENT):5%', 'curl/8.5.0'],
    ['plain text', 'plain text'],
  ])('%s', (format, expected) => {
    const compiled = compileFormat(format);
    if ('error' in compiled) throw new Error(compiled.error);
    expect(renderText(compiled.format, entry())).toBe(expected);
  });

  it.each([
    ['%NOT_AN_OPERATOR%', 'unknown command operator %NOT_AN_OPERATOR%'],
    ['%REQ%', '%REQ% needs a header name'],
    ['%RESPONSE_CODE(x)%', '%RESPONSE_CODE% takes no argument'],
    ['%RESPONSE_CODE', 'unterminated command operator'],
  ])('refuses %s', (format, message) => {
    const compiled = compileFormat(format);
    expect('error' in compiled && compiled.error).toContain(message);
  });

  it('writes typed JSON: numbers stay numbers, absent values are null, mixed labels are strings', () => {
    const compiled = compileLabels({
      code: '%RESPONSE_CODE%',
      service_time: '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%',
      route: '%REQ(:METHOD)% %REQ(:PATH)%',
      flags: '%RESPONSE_FLAGS%',
    });
    if ('error' in compiled) throw new Error(compiled.error);
    expect(JSON.parse(renderJson(compiled.labels, entry()))).toEqual({
      code: 503,
      service_time: null,
      route: 'GET /reviews/1?x=y',
      flags: 'UF',
    });
  });

  it('has default JSON keys for every field of the default text line', () => {
    const compiled = compileLabels(DEFAULT_JSON_LABELS);
    if ('error' in compiled) throw new Error(compiled.error);
    expect(JSON.parse(renderJson(compiled.labels, entry()))).toMatchObject({
      start_time: '2026-12-01T09:00:00.000Z',
      method: 'GET',
      path: '/before-rewrite',
      response_code: 503,
      response_flags: 'UF',
      bytes_sent: 91,
      duration: 13,
      upstream_service_time: null,
      request_id: 'req-1',
      authority: 'reviews:9080',
      upstream_host: '10.244.1.5:9080',
    });
  });
});

describe('access log filter expressions', () => {
  it.each<[string, Partial<AccessLogEntry>, boolean]>([
    ['response.code >= 400', {}, true],
    ['response.code >= 400', { responseCode: 200 }, false],
    ['response.code == 503 && request.method == "GET"', {}, true],
    ['response.code == 503 && request.method == "POST"', {}, false],
    ["response.code < 500 || request.headers['x-debug'] == '1'", {}, true],
    ["request.headers['x-absent'] == '1'", {}, false],
    ["request.headers['x-absent'] != '1'", {}, true],
    ['!(response.code >= 500)', {}, false],
    ["request.url_path.startsWith('/reviews')", {}, true],
    ["request.url_path.endsWith('/1')", {}, true],
    ["request.path.endsWith('/1')", {}, false],
    ["request.host.contains('reviews')", {}, true],
    ["request.headers['x-debug'].startsWith('1')", {}, true],
    ["request.method in ['GET', 'HEAD']", {}, true],
    ['response.code in [200, 204]', {}, false],
    ["response.flags == 'UF'", {}, true],
    ['connection.mtls', {}, true],
    ['connection.mtls == false', {}, false],
    ["source.principal == 'spiffe://cluster.local/ns/apps/sa/client'", {}, true],
    ['response.grpc_status == 14', { grpcStatus: '14' }, true],
    ['response.grpc_status == 14', {}, false],
    ['response.code >= 400 && response.code < 500 || response.code == 503', { responseCode: 404 }, true],
  ])('%s on %j is %s', (expression, fields, expected) => {
    const compiled = compileFilter(expression);
    if ('error' in compiled) throw new Error(compiled.error);
    expect(compiled.filter({ entry: entry(fields), mtls: true })).toBe(expected);
  });

  it.each([
    ['response.code >=', 'unexpected end of expression'],
    ['response.size > 10', 'unknown attribute response.size'],
    ['response.code >= 400 400', 'unexpected 400'],
    ["request.headers[x] == 'a'", 'request.headers takes a quoted name'],
    ["request.path.matches('a')", 'unknown attribute request.path.matches'],
    ['request.path.startsWith(1)', 'startsWith takes one string literal'],
    ['(response.code >= 400', 'expected ), got the end'],
    ['response.code # 3', 'unexpected character'],
    ['response.code in [request.method]', 'a list holds number or string literals only'],
  ])('refuses %s', (expression, message) => {
    const compiled = compileFilter(expression);
    expect('error' in compiled && compiled.error).toContain(message);
  });
});

describe('request spans', () => {
  const start = {
    method: 'GET',
    url: '/reviews/1?x=y',
    authority: 'reviews:9080',
    protocol: 'HTTP/2' as const,
    service: 'reviews.apps.svc.cluster.local',
    port: 9080,
    requestId: 'req-1',
    userAgent: 'curl/8.5.0',
    clientIp: '10.244.0.7',
    peerIdentity: 'spiffe://cluster.local/ns/apps/sa/client',
  };

  it("are named after the served service and port, as Istio's are", () => {
    expect(spanName(start)).toBe('reviews.apps.svc.cluster.local:9080/*');
  });

  it("carry Envoy's tags and the custom tags at start", () => {
    const tags = {
      team: { literal: 'payments' },
      user: { header: 'x-user' },
      tier: { header: 'x-tier', defaultValue: 'free' },
      absent: { header: 'x-absent' },
    };
    expect(startAttributes(start, { customTags: tags }, { 'x-user': 'ana' })).toEqual({
      component: 'proxy',
      'http.method': 'GET',
      'http.url': 'http://reviews:9080/reviews/1?x=y',
      'http.protocol': 'HTTP/2',
      'guid:x-request-id': 'req-1',
      'peer.address': '10.244.0.7',
      'istio.source_principal': 'spiffe://cluster.local/ns/apps/sa/client',
      user_agent: 'curl/8.5.0',
      team: 'payments',
      user: 'ana',
      tier: 'free',
    });
  });

  it.each<[number, string, boolean]>([
    [200, '-', false],
    [404, '-', false],
    [503, 'UF', true],
    [0, 'DC', true],
  ])('at end, a %s (%s) is an error: %s', (code, flags, error) => {
    const attributes = endAttributes({
      responseCode: code,
      responseFlags: flags,
      upstreamCluster: 'outbound|9080||reviews.apps.svc.cluster.local',
      upstreamHost: '10.244.1.5:9080',
      requestBytes: 120,
      responseBytes: 358,
      grpcStatus: '',
    });
    expect(attributes).toMatchObject({
      'http.status_code': String(code),
      response_flags: flags,
      upstream_cluster: 'outbound|9080||reviews.apps.svc.cluster.local',
      upstream_address: '10.244.1.5:9080',
      request_size: '120',
      response_size: '358',
    });
    expect(attributes.error === 'true').toBe(error);
  });
});

/** What reached a sink once the writers' batches went out (they write on the next turn of the loop). */
async function written(sink: PassThrough): Promise<string> {
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  const chunks: Buffer[] = [];
  for (let chunk = sink.read(); chunk !== null; chunk = sink.read()) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

describe('the waypoint’s access logs', () => {
  it("write Envoy's default text line until the control plane says otherwise", async () => {
    const stdout = new PassThrough();
    const log = new AccessLog(stdout);
    log.write(entry());
    expect(await written(stdout)).toBe(
      '[2026-12-01T09:00:00.000Z] "GET /before-rewrite HTTP/1.1" 503 UF 10 91 13 - "10.244.0.7" "curl/8.5.0" "req-1" "reviews:9080" "10.244.1.5:9080"\n',
    );
  });

  it('carry out a pushed config: JSON and a custom text format, each with its filter', async () => {
    const stdout = new PassThrough();
    const log = new AccessLog(stdout);
    log.configure([
      {
        provider: 'json',
        path: '/dev/stdout',
        encoding: 'JSON',
        labels: { c: '%RESPONSE_CODE%' },
        filter: 'response.code >= 500',
      },
      { provider: 'text', path: '/dev/stdout', encoding: 'TEXT', format: '%REQ(:METHOD)% %RESPONSE_CODE%\n' },
    ]);
    log.write(entry({ responseCode: 200 }));
    log.write(entry({ responseCode: 503 }));
    expect(await written(stdout)).toBe('GET 200\n{"c":503}\nGET 503\n');
  });

  it('write nothing with no configured log, or without a standard output at all', async () => {
    const stdout = new PassThrough();
    const log = new AccessLog(stdout);
    log.configure([]);
    expect(log.enabled).toBe(false);
    log.write(entry());
    expect(await written(stdout)).toBe('');
    expect(new AccessLog(undefined).enabled).toBe(false);
  });

  it('name what a malformed push holds, so that the waypoint refuses it', () => {
    expect(
      accessLogProblems([
        { provider: 'ok', path: '/dev/stdout', encoding: 'TEXT' },
        { provider: 'bad-format', path: '/dev/stdout', encoding: 'TEXT', format: '%NOPE%' },
        { provider: 'bad-filter', path: '/dev/stdout', encoding: 'JSON', filter: 'response.code >=' },
      ]),
    ).toEqual([
      'accessLogs[1] (bad-format): access log format: unknown command operator %NOPE% (known: START_TIME, REQ, RESP, PROTOCOL, RESPONSE_CODE, RESPONSE_FLAGS, BYTES_RECEIVED, BYTES_SENT, DURATION, UPSTREAM_HOST, UPSTREAM_CLUSTER, ROUTE_NAME, DOWNSTREAM_REMOTE_ADDRESS, DOWNSTREAM_LOCAL_ADDRESS, DOWNSTREAM_PEER_URI_SAN, GRPC_STATUS, TRACE_ID)',
      'accessLogs[2] (bad-filter): access log filter: unexpected end of expression',
    ]);
  });
});

describe('line writer', () => {
  it('holds at most its bound while the stream is busy, and counts what it drops', async () => {
    // A stream whose first write never completes: everything after it waits in the writer.
    const stuck = new PassThrough({ highWaterMark: 1 });
    stuck.write = ((_chunk: unknown, callback?: () => void) => {
      void callback;
      return false;
    }) as typeof stuck.write;
    const writer = new LineWriter(stuck, 3);
    writer.write('first\n');
    await new Promise((resolve) => setImmediate(resolve));
    for (const line of ['a\n', 'b\n', 'c\n', 'd\n', 'e\n']) writer.write(line);
    expect(writer.dropped).toBe(2);
  });
});
