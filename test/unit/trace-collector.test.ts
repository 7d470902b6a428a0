/**
 * The trace collector (`ambit trace-collector`): reading OTLP/HTTP JSON, the bounded store, trace trees,
 * and the receiver over a real loopback socket refusing (and counting) what it will not hold; and the
 * waypoint's tracer exporting to it (continued context, propagation, counts, an unreachable collector).
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtlpReceiver } from '../../src/core/observe/otlp-receiver.ts';
import { renderTraceTree, spansOfOtlpJson, TraceStore } from '../../src/core/observe/trace-store.ts';
import { RequestTracer } from '../../src/waypoint/telemetry/tracing.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

const span = (spanId: string, parentSpanId: string | undefined, name: string, start: number, code = 200) => ({
  traceId: TRACE,
  spanId,
  ...(parentSpanId ? { parentSpanId } : {}),
  name,
  kind: 2,
  startTimeUnixNano: String(start * 1_000_000),
  endTimeUnixNano: String((start + 2) * 1_000_000),
  status: { code: code >= 500 ? 2 : 0 },
  attributes: [
    { key: 'http.status_code', value: { stringValue: String(code) } },
    { key: 'http.response.status_code', value: { intValue: code } },
  ],
});

const exportRequest = (spans: object[], service = 'waypoint.apps') => ({
  resourceSpans: [
    {
      resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
      scopeSpans: [{ scope: { name: 'ambit-waypoint' }, spans }],
    },
  ],
});

describe('OTLP JSON', () => {
  it('reads spans with their resource service, ids, status and attributes', () => {
    const [read] = spansOfOtlpJson(
      exportRequest([span('00f067aa0ba902b7', 'aaaaaaaaaaaaaaaa', 'a:80/*', 5, 503)]),
    );
    expect(read).toEqual({
      traceId: TRACE,
      spanId: '00f067aa0ba902b7',
      parentSpanId: 'aaaaaaaaaaaaaaaa',
      name: 'a:80/*',
      kind: 2,
      service: 'waypoint.apps',
      startTimeUnixNano: '5000000',
      durationMs: 2,
      statusCode: 2,
      attributes: { 'http.status_code': '503', 'http.response.status_code': 503 },
    });
  });

  it.each([
    [null, 'the body is not a JSON object'],
    [{ resourceSpans: {} }, 'resourceSpans is not a list'],
    [{ resourceSpans: [{ scopeSpans: [{ spans: 'x' }] }] }, 'spans is not a list'],
    [exportRequest([{ traceId: 'S/k=', spanId: 'AAAA' }]), 'span ids are not hex'],
  ])('refuses %j', (body, message) => {
    expect(() => spansOfOtlpJson(body)).toThrow(message);
  });
});

describe('trace store', () => {
  it('keeps the last spans only, and counts the ones it let go', () => {
    const store = new TraceStore(2);
    store.add(spansOfOtlpJson(exportRequest([span('0000000000000001', undefined, 'a', 1)])));
    store.add(
      spansOfOtlpJson(
        exportRequest([
          span('0000000000000002', undefined, 'b', 2),
          span('0000000000000003', undefined, 'c', 3),
        ]),
      ),
    );
    expect(store.spans.map((s) => s.name)).toEqual(['b', 'c']);
    expect(store.evicted).toBe(1);
  });

  it('shows a trace as a tree, children under their parent in start order', () => {
    const spans = spansOfOtlpJson(
      exportRequest([
        span('00000000000000c2', '00000000000000a1', 'reviews:9080/*', 4),
        span('00000000000000a1', 'ffffffffffffffff', 'productpage:9080/*', 1),
        span('00000000000000c1', '00000000000000a1', 'details:9080/*', 2, 503),
      ]),
    );
    expect(renderTraceTree(spans)).toBe(
      [
        `trace ${TRACE}`,
        '  waypoint.apps productpage:9080/* 200 2.0ms span=00000000000000a1 parent=ffffffffffffffff',
        '    waypoint.apps details:9080/* 503 ERROR 2.0ms span=00000000000000c1 parent=00000000000000a1',
        '    waypoint.apps reviews:9080/* 200 2.0ms span=00000000000000c2 parent=00000000000000a1',
        '',
      ].join('\n'),
    );
  });
});

describe('OTLP/HTTP receiver', () => {
  const receiver = new OtlpReceiver({ maxBodyBytes: 4096 });
  let base = '';
  beforeAll(async () => {
    await new Promise<void>((resolve) => receiver.server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(receiver.server.address() as AddressInfo).port}`;
  });
  afterAll(() => receiver.server.close());

  const post = (body: string, contentType = 'application/json') =>
    fetch(`${base}/v1/traces`, { method: 'POST', headers: { 'content-type': contentType }, body });

  it('stores what it is sent and shows it on GET /traces', async () => {
    const response = await post(
      JSON.stringify(exportRequest([span('00000000000000a1', undefined, 'page:9080/*', 1)])),
    );
    expect(response.status).toBe(200);
    expect(await (await fetch(`${base}/traces`)).text()).toContain(
      `trace ${TRACE}\n  waypoint.apps page:9080/* 200`,
    );
    const json = (await (await fetch(`${base}/traces?format=json`)).json()) as { spanId: string }[][];
    expect(json.flat().map((s) => s.spanId)).toContain('00000000000000a1');
  });

  it.each<[string, () => Promise<Response>, number, string]>([
    ['protobuf', () => post('\u0000', 'application/x-protobuf'), 415, 'not-json'],
    [
      'a body over the limit',
      () => post(JSON.stringify({ resourceSpans: [], pad: 'x'.repeat(5000) })),
      413,
      'too-large',
    ],
    ['a body that is not JSON', () => post('{'), 400, 'malformed'],
    [
      'base64 ids',
      () => post(JSON.stringify(exportRequest([{ traceId: 'S/k=', spanId: 'AAAA' }]))),
      400,
      'malformed',
    ],
    ['another path', () => fetch(`${base}/v1/metrics`, { method: 'POST' }), 404, 'not-found'],
    ['GET on the export path', () => fetch(`${base}/v1/traces`), 405, 'method'],
  ])('refuses %s with %s and counts it', async (_, send, status, reason) => {
    const before = receiver.refused[reason as keyof typeof receiver.refused];
    expect((await send()).status).toBe(status);
    expect(receiver.refused[reason as keyof typeof receiver.refused]).toBe(before + 1);
  });
});

describe('the waypoint’s tracer against a real receiver', () => {
  const facts = {
    method: 'GET',
    url: '/x',
    authority: 'echo.apps',
    protocol: 'HTTP/1.1' as const,
    service: 'echo.apps.svc.cluster.local',
    port: 80,
    requestId: 'r1',
    userAgent: undefined,
    clientIp: '10.244.0.7',
    peerIdentity: 'spiffe://cluster.local/ns/apps/sa/client',
  };
  const end = {
    responseCode: 200,
    responseFlags: '-',
    upstreamCluster: 'outbound|80||echo.apps.svc.cluster.local',
    upstreamHost: '10.244.1.5:8080',
    requestBytes: 10,
    responseBytes: 20,
    grpcStatus: '',
  };
  const config = (endpoint: string, samplingPercentage = 100) => ({
    provider: 'otel',
    endpoint,
    samplingPercentage,
    customTags: {},
  });

  it('exports a continued span on close and counts it; the upstream headers carry its context', async () => {
    const receiver = new OtlpReceiver();
    await new Promise<void>((resolve) => receiver.server.listen(0, '127.0.0.1', resolve));
    const { port } = receiver.server.address() as AddressInfo;
    const tracer = new RequestTracer('waypoint.apps');
    tracer.configure(config(`http://127.0.0.1:${port}/v1/traces`));
    const span = tracer.start({ traceparent: `00-${TRACE}-00f067aa0ba902b7-01` }, facts)!;
    const upstream: Record<string, string | string[] | undefined> = { b3: 'stale' };
    span.inject(upstream);
    span.end(end);
    await tracer.close();
    receiver.server.close();
    const [stored] = receiver.store.spans;
    expect(stored).toMatchObject({
      traceId: TRACE,
      parentSpanId: '00f067aa0ba902b7',
      service: 'waypoint.apps',
    });
    expect(upstream.traceparent).toBe(`00-${TRACE}-${stored!.spanId}-01`);
    expect(upstream).toMatchObject({
      'x-b3-traceid': TRACE,
      'x-b3-spanid': stored!.spanId,
      'x-b3-sampled': '1',
    });
    expect(upstream.b3).toBeUndefined();
    expect(tracer.counts).toEqual({ exported: 1, failed: 0 });
  });

  it('counts spans a collector could not take, and still stops', async () => {
    // A port that was just free: nothing listens there.
    const probe = new OtlpReceiver();
    await new Promise<void>((resolve) => probe.server.listen(0, '127.0.0.1', resolve));
    const { port } = probe.server.address() as AddressInfo;
    await new Promise((resolve) => probe.server.close(resolve));
    const tracer = new RequestTracer('waypoint.apps');
    tracer.configure(config(`http://127.0.0.1:${port}/v1/traces`));
    tracer.start({}, facts)!.end(end);
    await tracer.close();
    expect(tracer.counts).toEqual({ exported: 0, failed: 1 });
  });

  it('starts no span without a tracing config, and records none for an unsampled new trace', async () => {
    const tracer = new RequestTracer('waypoint.apps');
    expect(tracer.start({}, facts)).toBeUndefined();
    tracer.configure(config('http://127.0.0.1:9/v1/traces', 0));
    const span = tracer.start({}, facts)!;
    const upstream: Record<string, string> = {};
    span.inject(upstream);
    expect(upstream.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    expect(upstream['x-b3-sampled']).toBe('0');
    await tracer.close();
    expect(tracer.counts).toEqual({ exported: 0, failed: 0 });
  });
});
