/**
 * Telemetry through a real waypoint in a local cluster: the mesh config (ConfigMap istio/istio-system)
 * names an OpenTelemetry collector, which is an OTLP/HTTP receiver this test runs inside the waypoint pod's
 * network namespace (on its loopback: nothing leaves the cluster's namespaces), parsing the JSON the
 * waypoint's exporter really sends. Telemetry objects turn tracing on at 100% and then at 0%, and shape
 * the access logs (text and JSON, a filter, a disabled provider), which are read from the waypoint pod's log.
 * Absence is asserted without timing: a later request that must show up (a sampled trace, a logged line)
 * comes after the ones that must not, on the same ordered export or log stream.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waypointGateway } from '../../src/core/config/waypoint-gateway.ts';
import { OtlpReceiver } from '../../src/core/observe/otlp-receiver.ts';
import type { StoredSpan } from '../../src/core/observe/trace-store.ts';
import { listenTcp, Netns } from '../../src/core/sys/netns-socket.ts';
import { podNetns } from '../../src/local/names.ts';
import { ambit } from '../support/cli.ts';
import { eventually } from '../support/eventually.ts';
import {
  leftovers,
  makeStateRoot,
  NOTHING_LEFT,
  uniqueName,
  writeClusterFile,
} from '../support/local-cluster.ts';
import { clusterDoc, echoPod, manifests, namespaceDoc, podDoc } from '../support/manifests.ts';
import { canRunNetnsTests } from '../support/privileges.ts';

const COLLECTOR_PORT = 4318;

const clusterYaml = (name: string) =>
  manifests(
    clusterDoc(name),
    namespaceDoc('apps', { ambient: true, labels: { 'istio.io/use-waypoint': 'waypoint' } }),
    waypointGateway('waypoint', 'apps', 'service'),
    echoPod('echo', { namespace: 'apps', node: 'n2', labels: { app: 'echo' } }),
    podDoc('client', { namespace: 'apps', node: 'n1', serviceAccount: 'client' }),
    serviceDoc('echo', 'apps', 80, 'http'),
    // Bookinfo's page and two of its services, which forward the trace headers they receive.
    ...(['productpage', 'details', 'reviews'] as const).flatMap((app) => [
      podDoc(app, {
        namespace: 'apps',
        labels: { app },
        command: ['ambit', 'app', `bookinfo-${app}`, '--port', '9080'],
        ports: { http: 9080 },
      }),
      serviceDoc(app, 'apps', 9080, 'http'),
    ]),
    // An in-cluster collector outside the mesh, found by its Service name.
    namespaceDoc('observability'),
    podDoc('collector', {
      namespace: 'observability',
      labels: { app: 'collector' },
      command: ['ambit', 'trace-collector', '--port', '4318'],
      ports: { otlp: 4318 },
    }),
    serviceDoc('otel-collector', 'observability', 4318, 'otlp', 'collector'),
  );

function serviceDoc(name: string, namespace: string, port: number, targetPort: string, app = name): object {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace },
    spec: { selector: { app }, ports: [{ name: 'http', port, targetPort }] },
  };
}

const MESH_CONFIG = `apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    accessLogFile: /dev/stdout
    extensionProviders:
    - name: otel
      opentelemetry: {service: 127.0.0.1, port: ${COLLECTOR_PORT}}
    - name: cluster-collector
      opentelemetry: {service: otel-collector.observability.svc.cluster.local, port: 4318}
    - name: json-log
      envoyFileAccessLog:
        path: /dev/stdout
        logFormat:
          labels:
            kind: "json-line"
            code: "%RESPONSE_CODE%"
            request_id: "%REQ(X-REQUEST-ID)%"
            trace_id: "%TRACE_ID%"
            cluster: "%UPSTREAM_CLUSTER%"
`;

const tracingAt = (percent: number, provider = 'otel') => `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  tracing:
  - providers: [{name: ${provider}}]
    randomSamplingPercentage: ${percent}
    customTags:
      run: {literal: {value: it}}
`;

/** The apps namespace: JSON lines for failures only, the mesh's text log off. */
const FILTERED_LOGS = `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: logs, namespace: apps}
spec:
  accessLogging:
  - providers: [{name: json-log}]
    filter: {expression: "response.code >= 400"}
  - providers: [{name: envoy}]
    disabled: true
`;

describe.runIf(canRunNetnsTests())('telemetry through a waypoint in a local cluster', () => {
  const root = makeStateRoot();
  const name = uniqueName('it-wptel');
  const run = (...args: string[]) => ambit(args, { stateRoot: root });
  const local = (...args: string[]) => run('local', ...args, '--name', name);
  const waypointNetns = () => podNetns(name, 'apps', 'waypoint-0');
  const collector = new OtlpReceiver();
  const spans = (): readonly StoredSpan[] => collector.store.spans;
  let netns: Netns | undefined;

  const apply = async (file: string, yaml: string) => {
    const result = await run('apply', '-f', writeClusterFile(root, file, yaml), '--name', name);
    expect(result.code, result.stderr).toBe(0);
  };
  /** The echo's report of one request from the client pod: the headers the upstream saw, and the status. */
  const inPod = (pod: string, namespace: string, ...command: string[]) =>
    run('local', 'exec', pod, '-n', namespace, '--name', name, '--', ...command);
  const request = async (path: string, headers: Record<string, string> = {}) => {
    const flags = Object.entries(headers).flatMap(([key, value]) => ['-H', `${key}: ${value}`]);
    const result = await inPod(
      'client',
      'apps',
      'curl',
      '-s',
      '-w',
      '\n%{http_code}',
      ...flags,
      `http://echo.apps${path}`,
    );
    const lines = result.stdout.trimEnd().split('\n');
    const status = Number(lines.pop());
    let seen: Record<string, string> = {};
    try {
      seen = (JSON.parse(lines.join('\n')) as { request: { headers: Record<string, string> } }).request
        .headers;
    } catch {
      // A failure status from the echo carries no report.
    }
    return { status, seen };
  };
  /** The waypoint's resolved telemetry, from its admin config dump. */
  const telemetry = () => {
    const dump = execFileSync(
      'ip',
      ['netns', 'exec', waypointNetns(), 'curl', '-s', 'http://127.0.0.1:15000/config_dump'],
      { encoding: 'utf8' },
    );
    return (
      JSON.parse(dump) as {
        snapshot?: {
          telemetry?: {
            tracing?: { samplingPercentage: number; provider: string };
            accessLogs: { provider: string }[];
          };
        };
      }
    ).snapshot?.telemetry;
  };
  const waypointLog = () => readFileSync(join(root, name, 'logs', 'pod_apps_waypoint-0.log'), 'utf8');
  const spanOf = (traceId: string) => spans().find((span) => span.traceId === traceId);

  beforeAll(async () => {
    const result = await run('local', 'up', '-f', writeClusterFile(root, name, clusterYaml(name)));
    expect(result.code, result.stderr).toBe(0);
    // The collector listens inside the waypoint pod's namespace, on its loopback.
    netns = Netns.open(`/run/netns/${waypointNetns()}`);
    await listenTcp(netns, { address: '127.0.0.1', port: COLLECTOR_PORT }, collector.server);
    await apply('mesh', MESH_CONFIG);
    await apply('tracing', tracingAt(100));
    await eventually(() => telemetry()?.tracing?.samplingPercentage === 100, {
      timeout: 20_000,
      what: 'the waypoint to trace at 100%',
    });
    await eventually(async () => (await request('/ready')).status === 200, {
      timeout: 20_000,
      what: 'a first answer through the waypoint',
    });
  });

  afterAll(async () => {
    collector.server.close();
    netns?.close();
    const result = await local('down');
    expect(result.code, result.stderr).toBe(0);
    expect(leftovers(name, root)).toEqual(NOTHING_LEFT);
    rmSync(root, { recursive: true, force: true });
  });

  it("continues the caller's W3C trace: a server span with its parent, Envoy's attributes, exported over OTLP/HTTP", async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parent = '00f067aa0ba902b7';
    const answer = await request('/traced?x=1', { traceparent: `00-${traceId}-${parent}-01` });
    expect(answer.status).toBe(200);
    // The upstream sees the same trace, with the waypoint's span as its parent.
    const [, upstreamTrace, upstreamParent, flags] = answer.seen.traceparent!.split('-');
    expect(upstreamTrace).toBe(traceId);
    expect(upstreamParent).not.toBe(parent);
    expect(flags).toBe('01');
    await eventually(() => spanOf(traceId) !== undefined, {
      timeout: 15_000,
      what: 'the span at the collector',
    });
    const span = spanOf(traceId)!;
    // The exporter's requests were OTLP/HTTP JSON the receiver could read: none refused.
    expect(collector.refused).toMatchObject({ 'not-json': 0, malformed: 0 });
    expect(span.parentSpanId).toBe(parent);
    expect(span.spanId).toBe(upstreamParent);
    expect(span.kind).toBe(2); // SERVER
    expect(span.name).toBe('echo.apps.svc.cluster.local:80/*');
    expect(span.service).toBe('waypoint.apps');
    expect(span.attributes).toMatchObject({
      'http.method': 'GET',
      'http.url': 'http://echo.apps/traced?x=1',
      'http.status_code': '200',
      response_flags: '-',
      'istio.source_principal': 'spiffe://cluster.local/ns/apps/sa/client',
      run: 'it',
    });
    expect(String(span.attributes.upstream_cluster)).toContain('echo.apps.svc.cluster.local');
    expect(span.statusCode).not.toBe(2);
  });

  it('continues a B3 trace, starts new traces, and marks a 5xx span as an error', async () => {
    const b3Trace = '80f198ee56343ba864fe8b2a57d3eff7';
    const b3Span = 'e457b5a2e4d86bd1';
    const b3 = await request('/b3', { 'x-b3-traceid': b3Trace, 'x-b3-spanid': b3Span, 'x-b3-sampled': '1' });
    expect(b3.seen['x-b3-traceid']).toBe(b3Trace);
    expect(b3.seen.traceparent?.split('-')[1]).toBe(b3Trace);

    const fresh = await request('/fresh');
    const freshTrace = fresh.seen.traceparent!.split('-')[1]!;
    expect(fresh.seen['x-b3-traceid']).toBe(freshTrace);

    const failed = await request('/fail?status=503');
    expect(failed.status).toBe(503);

    await eventually(() => spanOf(b3Trace) !== undefined && spanOf(freshTrace) !== undefined, {
      timeout: 15_000,
      what: 'the B3 and the new trace at the collector',
    });
    expect(spanOf(b3Trace)!.parentSpanId).toBe(b3Span);
    expect(spanOf(b3Trace)!.spanId).toBe(b3.seen['x-b3-spanid']);
    expect(spanOf(freshTrace)!.parentSpanId).toBeUndefined();
    await eventually(
      () => spans().some((span) => span.attributes['http.url'] === 'http://echo.apps/fail?status=503'),
      {
        timeout: 15_000,
        what: 'the failed request span',
      },
    );
    const error = spans().find((span) => span.attributes['http.url'] === 'http://echo.apps/fail?status=503')!;
    expect(error.statusCode).toBe(2);
    expect(error.attributes).toMatchObject({ 'http.status_code': '503', error: 'true' });
  });

  it('at 0% sampling exports no span for new traces, yet propagates their context unsampled', async () => {
    await apply('tracing', tracingAt(0));
    await eventually(() => telemetry()?.tracing?.samplingPercentage === 0, { what: 'the waypoint at 0%' });
    const unsampled: string[] = [];
    for (let i = 0; i < 10; i++) {
      const answer = await request(`/unsampled/${i}`);
      const [, traceId, , flags] = answer.seen.traceparent!.split('-');
      expect(flags).toBe('00');
      unsampled.push(traceId!);
    }
    // A caller's sampled decision is still kept: this span is exported after the 10 would have been.
    const marker = 'aaaabbbbccccddddeeeeffff00001111';
    await request('/marker', { traceparent: `00-${marker}-1111222233334444-01` });
    await eventually(() => spanOf(marker) !== undefined, { timeout: 15_000, what: 'the marker span' });
    expect(unsampled.filter((traceId) => spanOf(traceId) !== undefined)).toEqual([]);
    expect(spans().filter((span) => String(span.attributes['http.url']).includes('/unsampled/'))).toEqual([]);
  });

  it('writes access logs in text and JSON, filtered and disabled by Telemetry', async () => {
    // The mesh-wide text log (accessLogFile) and no JSON log, as the mesh config says.
    await request('/text-line', { 'x-request-id': 'text-line-1' });
    await eventually(
      () => /"GET \/text-line HTTP\/1\.1" 200 - .* "text-line-1" "echo\.apps"/.test(waypointLog()),
      {
        what: "Envoy's default text line",
      },
    );

    await apply('logs', FILTERED_LOGS);
    await eventually(
      () => {
        const providers = telemetry()?.accessLogs.map((log) => log.provider);
        return providers?.join() === 'json-log';
      },
      { what: 'the waypoint to log JSON only' },
    );
    await request('/ok', { 'x-request-id': 'filtered-ok' });
    await request('/missing?status=404', { 'x-request-id': 'filtered-404' });
    await eventually(() => waypointLog().includes('"request_id":"filtered-404"'), {
      what: 'the JSON line of the 404',
    });
    const lines = waypointLog().split('\n');
    const json = lines.filter((line) => line.includes('"kind":"json-line"')).map((line) => JSON.parse(line));
    expect(json.find((line) => line.request_id === 'filtered-404')).toMatchObject({
      code: 404,
      kind: 'json-line',
    });
    // The 200 before it passed no filter and the text log is off: neither wrote a line for it.
    expect(lines.filter((line) => line.includes('filtered-ok'))).toEqual([]);
  });

  it('connects the spans of one page across services at the in-cluster collector (ambit trace-collector)', async () => {
    await apply('tracing', tracingAt(100, 'cluster-collector'));
    await eventually(() => telemetry()?.tracing?.provider === 'cluster-collector', {
      what: 'the waypoint to export to the collector Service',
    });
    const traceId = 'cafebabecafebabecafebabecafebabe';
    const page = await inPod(
      'client',
      'apps',
      'curl',
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-H',
      `traceparent: 00-${traceId}-0123456789abcdef-01`,
      'http://productpage.apps:9080/productpage',
    );
    expect(page.stdout).toBe('200');
    const stored = async () => {
      const result = await inPod(
        'collector',
        'observability',
        'curl',
        '-s',
        'http://127.0.0.1:4318/traces?format=json',
      );
      return (JSON.parse(result.stdout || '[]') as StoredSpan[][])
        .flat()
        .filter((span) => span.traceId === traceId);
    };
    let trace: StoredSpan[] = [];
    await eventually(
      async () => {
        trace = await stored();
        return trace.length >= 3;
      },
      { timeout: 20_000, what: 'three spans of the page at the collector' },
    );
    const byName = (service: string) =>
      trace.find((span) => span.name === `${service}.apps.svc.cluster.local:9080/*`);
    const root = byName('productpage')!;
    expect(root.parentSpanId).toBe('0123456789abcdef');
    // productpage forwarded the waypoint's context: its calls are children of the page's span.
    expect(byName('details')?.parentSpanId).toBe(root.spanId);
    expect(byName('reviews')?.parentSpanId).toBe(root.spanId);
    const tree = await inPod('collector', 'observability', 'curl', '-s', 'http://127.0.0.1:4318/traces');
    expect(tree.stdout).toContain(`trace ${traceId}`);
    expect(tree.stdout).toMatch(
      /\n {2}waypoint\.apps productpage\.apps\.svc\.cluster\.local:9080\/\* 200 .*\n {4}waypoint\.apps /,
    );
  });
});
