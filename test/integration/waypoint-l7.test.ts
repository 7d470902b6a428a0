/**
 * L7 through a real waypoint in a local cluster: `ambit echo` v1 and v2 behind a Service bound to the
 * namespace's waypoint, a curl client in the mesh. Header-based routing and a 90/10 split over 1000
 * requests (within binomial bounds, never a fixed count) with DestinationRule subsets; the Gateway API
 * HTTPRoute equivalent; an L7 DENY by path (403 vs 200); a WebSocket upgrade and plain TCP through the
 * waypoint-bound Service; and the waypoint's request metrics matching, by label, the requests sent.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waypointGateway } from '../../src/core/config/waypoint-gateway.ts';
import type { ClusterReport } from '../../src/local/report.ts';
import { ambit } from '../support/cli.ts';
import { clusterDown, clusterUp } from '../support/cluster-lifecycle.ts';
import { eventually } from '../support/eventually.ts';
import { makeStateRoot, uniqueName, writeClusterFile } from '../support/local-cluster.ts';
import { clusterDoc, echoPod, manifests, namespaceDoc, podDoc } from '../support/manifests.ts';
import { canRunNetnsTests } from '../support/privileges.ts';
import { waypointMetric } from '../support/waypoint-metrics.ts';

const service = (name: string, selector: Record<string, string>, tcp: boolean) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'apps' },
  spec: {
    selector,
    ports: [
      { name: 'http', port: 80, targetPort: 'http' },
      ...(tcp ? [{ name: 'tcp-echo', port: 9000, targetPort: 'tcp' }] : []),
    ],
  },
});

const clusterYaml = (name: string) =>
  manifests(
    clusterDoc(name),
    namespaceDoc('apps', { ambient: true, labels: { 'istio.io/use-waypoint': 'waypoint' } }),
    waypointGateway('waypoint', 'apps', 'service'),
    echoPod('echo-v1', {
      namespace: 'apps',
      node: 'n2',
      labels: { app: 'echo', version: 'v1' },
      tcp: true,
      version: 'v1',
    }),
    echoPod('echo-v2', {
      namespace: 'apps',
      node: 'n1',
      labels: { app: 'echo', version: 'v2' },
      tcp: true,
      version: 'v2',
    }),
    podDoc('client', { namespace: 'apps', node: 'n1', serviceAccount: 'client' }),
    service('echo', { app: 'echo' }, true),
    service('echo-v1', { app: 'echo', version: 'v1' }, false),
    service('echo-v2', { app: 'echo', version: 'v2' }, false),
  );

const SUBSETS = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: apps}
spec:
  host: echo
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: apps}
spec:
  hosts: [echo]
  http:
  - match: [{headers: {x-canary: {exact: "yes"}}}]
    route: [{destination: {host: echo, subset: v2}}]
  - route:
    - {destination: {host: echo, subset: v1}, weight: 90}
    - {destination: {host: echo, subset: v2}, weight: 10}
`;

const HTTP_ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: echo, namespace: apps}
spec:
  parentRefs: [{group: "", kind: Service, name: echo, port: 80}]
  rules:
  - matches: [{headers: [{name: x-route, value: v2}]}]
    backendRefs: [{name: echo-v2, port: 80}]
  - backendRefs: [{name: echo-v1, port: 80}]
`;

const DENY_ADMIN = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-admin, namespace: apps}
spec:
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: waypoint}]
  action: DENY
  rules: [{to: [{operation: {paths: ["/admin/*"]}}]}]
`;

/** A WebSocket handshake and a message from inside the client pod, with the pod's own Node. */
const WEBSOCKET_CLIENT = `import { request } from 'node:http';
const [host, port] = process.argv.slice(2);
const req = request({ host, port: Number(port), path: '/ws', headers: {
  connection: 'Upgrade', upgrade: 'websocket',
  'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' } });
req.on('upgrade', (res, socket) => {
  socket.once('data', (data) => {
    console.log(JSON.stringify({ status: res.statusCode, accept: res.headers['sec-websocket-accept'], echoed: data.toString() }));
    socket.destroy();
  });
  socket.write('hello through the waypoint');
});
req.on('response', (res) => { console.log(JSON.stringify({ status: res.statusCode })); });
req.end();
`;

/** Binomial bounds: n draws with probability p stay within mean +- 5 standard deviations (p ~ 6e-7). */
function binomialBounds(n: number, p: number): [number, number] {
  const sd = Math.sqrt(n * p * (1 - p));
  return [n * p - 5 * sd, n * p + 5 * sd];
}

describe.runIf(canRunNetnsTests())('L7 through a waypoint in a local cluster', () => {
  const root = makeStateRoot();
  const name = uniqueName('it-wpl7');
  const run = (...args: string[]) => ambit(args, { stateRoot: root });
  const local = (...args: string[]) => run('local', ...args, '--name', name);
  const status = async () => JSON.parse((await local('status', '-o', 'json')).stdout) as ClusterReport;
  const fromClient = (...command: string[]) =>
    run('local', 'exec', 'client', '-n', 'apps', '--name', name, '--', ...command);
  const config = async (verb: 'apply' | 'delete', file: string, yaml: string) => {
    const result = await run(verb, '-f', writeClusterFile(root, file, yaml), '--name', name);
    expect(result.code, result.stderr).toBe(0);
  };
  /** The `x-echo-version` of each answer to `count` requests on one connection (curl's URL globbing). */
  const versions = async (count: number, headers: string[] = []) => {
    const url = count === 1 ? 'http://echo.apps/r' : `http://echo.apps/r/[1-${count}]`;
    const result = await fromClient('curl', '-s', '-o', '/dev/null', '-D', '-', ...headers, url);
    return [...result.stdout.matchAll(/^x-echo-version: (\S+)/gim)].map((match) => match[1]!);
  };
  const httpCodeOf = async (url: string) =>
    Number((await fromClient('curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', url)).stdout);
  const httpCode = (path: string) => httpCodeOf(`http://echo.apps${path}`);
  /** `istio_requests_total` of the waypoint, summed over the series whose labels include `match`. */
  const requestsTotal = (match: Record<string, string>) =>
    waypointMetric(name, 'istio_requests_total', match);
  let echoVip = '';

  beforeAll(async () => {
    await clusterUp(root, name, clusterYaml(name));
    const report = await status();
    expect(report.pods.find((pod) => pod.name === 'waypoint-0')?.ready).toBe(true);
    echoVip = report.services.find((s) => s.name === 'echo')!.clusterIP!;
    // The waypoint has received the bound Service: requests through it are answered.
    await eventually(async () => (await versions(1)).length === 1, {
      timeout: 20_000,
      what: 'a first answer through the waypoint',
    });
  });

  afterAll(async () => {
    await clusterDown(root, name);
  });

  it('routes by header and splits 90/10 over 1000 requests within binomial bounds (DestinationRule subsets)', async () => {
    await config('apply', 'subsets', SUBSETS);
    await eventually(async () => (await versions(3, ['-H', 'x-canary: yes'])).join() === 'v2,v2,v2', {
      timeout: 15_000,
      what: 'the header route to v2',
    });
    const byVersion = (version: string) =>
      requestsTotal({
        reporter: 'waypoint',
        source_workload: 'client',
        destination_service_name: 'echo',
        destination_version: version,
        response_code: '200',
      });
    const before = { v1: byVersion('v1'), v2: byVersion('v2') };
    const split = await versions(1000);
    expect(split).toHaveLength(1000);
    const v2 = split.filter((version) => version === 'v2').length;
    const [low, high] = binomialBounds(1000, 0.1);
    expect(v2).toBeGreaterThan(low);
    expect(v2).toBeLessThan(high);
    expect(split.filter((version) => version === 'v1')).toHaveLength(1000 - v2);
    // The waypoint counted exactly these requests, by destination version.
    await eventually(() => byVersion('v2') - before.v2 === v2 && byVersion('v1') - before.v1 === 1000 - v2, {
      what: `istio_requests_total to count ${v2} requests to v2 and ${1000 - v2} to v1`,
    });
    await config('delete', 'subsets', SUBSETS);
  });

  it('routes with the Gateway API equivalent, an HTTPRoute on the Service', async () => {
    await config('apply', 'route', HTTP_ROUTE);
    await eventually(async () => (await versions(5)).join() === 'v1,v1,v1,v1,v1', {
      timeout: 15_000,
      what: 'the HTTPRoute default rule to v1',
    });
    expect(await versions(5, ['-H', 'x-route: v2'])).toEqual(['v2', 'v2', 'v2', 'v2', 'v2']);
    await config('delete', 'route', HTTP_ROUTE);
  });

  it('carries a WebSocket upgrade and plain TCP through the waypoint-bound Service', async () => {
    const script = join(root, 'ws-client.mjs');
    writeFileSync(script, WEBSOCKET_CLIENT, { mode: 0o644 });
    const ws = await fromClient('node', script, echoVip, '80');
    expect(JSON.parse(ws.stdout), ws.stderr).toEqual({
      status: 101,
      accept: 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=',
      echoed: 'hello through the waypoint',
    });
    // One upgrade, counted once (as Envoy does, with its 101), whenever the waypoint closes it.
    await eventually(
      () => requestsTotal({ reporter: 'waypoint', source_workload: 'client', response_code: '101' }) === 1,
      {
        what: 'istio_requests_total to count the upgrade',
      },
    );
    const tcp = await fromClient('sh', '-c', `echo tcp-ping | socat -t 3 - TCP:${echoVip}:9000`);
    expect(tcp.stdout.trim(), tcp.stderr).toBe('tcp-ping');
  });

  /** A VirtualService for echo-v1 with one route whose resilience field is `field` (YAML flow style). */
  const echoV1Route = (field: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo-v1, namespace: apps}
spec:
  hosts: [echo-v1]
  http:
  - route: [{destination: {host: echo-v1}}]
    ${field}
`;
  /** Status codes and the attempt counts the pod saw, for `count` requests to `url` on one connection. */
  const answers = async (url: string, count: number) => {
    const result = await fromClient('curl', '-s', '-D', '-', url.replace('?', `[1-${count}]?`));
    return {
      codes: [...result.stdout.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => Number(m[1])),
      attempts: [...result.stdout.matchAll(/"x-envoy-attempt-count": "(\d+)"/g)].map((m) => Number(m[1])),
      versions: [...result.stdout.matchAll(/^x-echo-version: (\S+)/gim)].map((m) => m[1]!),
    };
  };

  it('VirtualService retries hide a pod failing every other request; attempts 0 surfaces the failures', async () => {
    const vs = (retries: string) => echoV1Route(`retries: ${retries}`);
    await config('apply', 'retries', vs('{attempts: 2, retryOn: 5xx}'));
    await eventually(
      async () => (await answers('http://echo-v1.apps/r?fail-every=2', 4)).codes.join() === '200,200,200,200',
      {
        timeout: 15_000,
        what: 'the retry policy to hide the failures',
      },
    );
    const retried = await answers('http://echo-v1.apps/r?fail-every=2', 20);
    expect(retried.codes).toEqual(Array(20).fill(200));
    expect(retried.attempts.filter((n) => n === 2).length).toBeGreaterThanOrEqual(19);
    await config('apply', 'retries', vs('{attempts: 0}'));
    await eventually(
      async () => (await answers('http://echo-v1.apps/r?fail-every=2', 4)).codes.includes(503),
      {
        timeout: 15_000,
        what: 'attempts 0 to take effect',
      },
    );
    const surfaced = await answers('http://echo-v1.apps/r?fail-every=2', 20);
    expect(surfaced.codes.filter((code) => code === 503)).toHaveLength(10);
    await config('delete', 'retries', vs('{attempts: 0}'));
  });

  it('a fault abort answers its status with FI in the metrics', async () => {
    const fault = echoV1Route('fault: {abort: {httpStatus: 418, percentage: {value: 100}}}');
    await config('apply', 'fault', fault);
    await eventually(async () => (await httpCodeOf('http://echo-v1.apps/f')) === 418, {
      timeout: 15_000,
      what: 'the fault to take effect',
    });
    expect(
      requestsTotal({ reporter: 'waypoint', response_code: '418', response_flags: 'FI' }),
    ).toBeGreaterThanOrEqual(1);
    await config('delete', 'fault', fault);
  });

  it('DestinationRule outlier detection ejects a failing pod, shown in the admin /clusters, then takes it back', async () => {
    const outlier = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: apps}
spec:
  host: echo
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    outlierDetection: {consecutive5xxErrors: 3, interval: 1s, baseEjectionTime: 10s, maxEjectionPercent: 50}
`;
    await config('apply', 'outlier', outlier);
    const bad = 'http://echo.apps/o?status=503&only=echo-v2';
    // Round robin: within ten requests, v2 answers its three 503s in a row and is ejected.
    await eventually(async () => (await answers(bad, 10)).versions.slice(-4).join() === 'v1,v1,v1,v1', {
      timeout: 15_000,
      what: 'echo-v2 to be ejected',
    });
    const during = await answers(bad, 10);
    expect(during.versions).toEqual(Array(10).fill('v1'));
    expect(during.codes).toEqual(Array(10).fill(200));
    const admin = execFileSync(
      'curl',
      [
        '-s',
        '--unix-socket',
        join(root, name, 'waypoints', 'apps.waypoint', 'admin.sock'),
        'http://localhost/clusters',
      ],
      { encoding: 'utf8' },
    );
    const rows = JSON.parse(admin) as { name: string; endpoints: { health: string }[] }[];
    const echoRow = rows.find((row) => row.name === 'outbound|80||echo.apps.svc.cluster.local')!;
    expect(echoRow.endpoints.map((e) => e.health).sort()).toEqual(['EJECTED', 'HEALTHY']);
    await eventually(async () => (await answers(bad, 2)).versions.includes('v2'), {
      timeout: 25_000,
      interval: 500,
      what: 'echo-v2 to come back after its ejection',
    });
    await config('delete', 'outlier', outlier);
  });

  it('denies by path at L7: 403 for the denied path, 200 elsewhere, counted by response code', async () => {
    await config('apply', 'deny', DENY_ADMIN);
    await eventually(async () => (await httpCode('/admin/users')) === 403, {
      timeout: 15_000,
      what: 'the DENY to take effect',
    });
    const counted = (code: string) =>
      requestsTotal({
        reporter: 'waypoint',
        source_workload: 'client',
        destination_service_name: 'echo',
        response_code: code,
      });
    const before = { denied: counted('403'), allowed: counted('200') };
    const denied = await fromClient('curl', '-s', 'http://echo.apps/admin/settings');
    expect(denied.stdout).toBe('RBAC: access denied');
    expect(await httpCode('/admin/x')).toBe(403);
    expect(await httpCode('/public')).toBe(200);
    await eventually(() => counted('403') - before.denied === 2 && counted('200') - before.allowed === 1, {
      what: 'istio_requests_total to count 2 denied requests (403) and 1 allowed (200)',
    });
    await config('delete', 'deny', DENY_ADMIN);
    await eventually(async () => (await httpCode('/admin/users')) === 200, {
      timeout: 15_000,
      what: 'the DENY to be lifted',
    });
  });
});
