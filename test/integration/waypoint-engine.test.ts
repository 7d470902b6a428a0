/**
 * The waypoint's request engine end to end on loopback, with real HBONE both ways: a client pod's traffic
 * to a waypoint-bound Service is captured by its ztunnel, tunnelled to the waypoint (mTLS, the client's
 * identity), routed, balanced and authorized there, and tunnelled on to the chosen endpoint's ztunnel,
 * which delivers it to an `ambit echo` app. Each pod is an address of a loopback /24 unique to this run.
 */
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { createServer as createHttp2Server, type Http2Server, connect as http2Connect } from 'node:http2';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  Cluster,
  ClusterEndpoint,
  LoadBalancer,
  RetryPolicy,
  Route,
  ServedPort,
  ServedService,
} from '../../src/core/l7/types.ts';
import { routeTableProblems } from '../../src/core/l7/validate.ts';
import { createLogger } from '../../src/core/log.ts';
import type { NodeSnapshot, Service, WaypointSnapshot, Workload } from '../../src/core/model/index.ts';
import { createEchoHttpServer, type EchoReport } from '../../src/echo/http.ts';
import { createEchoTcpServer } from '../../src/echo/tcp.ts';
import type { ClusterRow } from '../../src/waypoint/admin-views.ts';
import { Waypoint } from '../../src/waypoint/waypoint.ts';
import type { Ztunnel } from '../../src/ztunnel/ztunnel.ts';
import { eventually } from '../support/eventually.ts';
import { quietLogs } from '../support/logging.ts';
import { service, snapshot, workload } from '../support/mesh-fixtures.ts';
import { sumOf } from '../support/metric-values.ts';
import {
  cluster,
  clusterName,
  forward,
  headerOps,
  l7Operation,
  l7Policy,
  l7Rule,
  l7Source,
  match,
  route,
  served,
  toCluster,
} from '../support/route-table.ts';
import { TestCa } from '../support/test-ca.ts';
import { createHarness, exchange, type Harness, listen, podSockets } from '../support/ztunnel-harness.ts';

const APP_PORT = 8080;
const GRPC_PORT = 9000;
const TCP_PORT = 7000;
const WAYPOINT = { name: 'waypoint', namespace: 'default' };

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

describe('waypoint engine', () => {
  let h: Harness;
  let ip: (host: number) => string;
  let za: Ztunnel;
  let zb: Ztunnel;
  let waypoint: Waypoint;
  let nodeSnapshot: NodeSnapshot;
  let base: WaypointSnapshot;
  let client: Workload;
  let v1: Workload;
  let v2: Workload;
  let slow: Workload;
  let reviews: Service;
  let grpcService: Service;
  let tcpService: Service;
  let lrService: Service;
  const agents: Agent[] = [];
  const servers: (Server | Http2Server)[] = [];
  /** The Host and path of every request each echo app received, by version. */
  const received: Record<string, { host: string | undefined; path: string | undefined }[]> = {};

  /** An agent whose connections are the client pod's, captured by its ztunnel toward `vip:port`. */
  function agentFor(vip: string, port: number, maxSockets = 8): Agent {
    const agent = new Agent({ keepAlive: true, maxSockets });
    (agent as unknown as { createConnection: () => unknown }).createConnection = () =>
      h.capture.connect(ip(11), { ip: vip, port });
    agents.push(agent);
    return agent;
  }

  function get(
    agent: Agent,
    path: string,
    headers: Record<string, string> = {},
    method = 'GET',
  ): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        { agent, host: reviews.hostname, path, method, headers: { host: reviews.hostname, ...headers } },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            body += chunk;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  const report = (reply: Reply) => JSON.parse(reply.body) as EchoReport;

  function endpointOf(w: Workload, port = APP_PORT): ClusterEndpoint {
    return { workloadUid: w.uid, ip: w.ips[0]!, port, ready: true };
  }

  /** Installs a route table: the base one with `reviews:80` routed by `routes` and extra clusters. */
  function install(
    ports: ServedPort[],
    clusters: Cluster[],
    extra: Partial<WaypointSnapshot> = {},
    reviewsExtra: Partial<ServedService> = {},
  ): void {
    const table = {
      ...base,
      servedServices: [
        { ...served(reviews, ports), ...reviewsExtra },
        served(grpcService, [
          {
            port: GRPC_PORT,
            protocol: 'grpc',
            routes: [route(forward(toCluster(clusterName(grpcService, GRPC_PORT))))],
          },
        ]),
        served(tcpService, [
          {
            port: TCP_PORT,
            protocol: 'detect',
            routes: [route(forward(toCluster(clusterName(tcpService, TCP_PORT))))],
          },
        ]),
        served(lrService, [
          { port: 80, protocol: 'http', routes: [route(forward(toCluster(clusterName(lrService, 80))))] },
        ]),
      ],
      clusters: [
        ...clusters,
        cluster(grpcService, GRPC_PORT, [endpointOf(v1, GRPC_PORT)], { protocol: 'grpc' }),
        cluster(tcpService, TCP_PORT, [endpointOf(v1, TCP_PORT)], { protocol: 'detect' }),
        cluster(lrService, 80, [endpointOf(v1), endpointOf(slow)]),
      ],
      authorization: [],
      ...extra,
    } as WaypointSnapshot;
    // What the control plane would send: the discovery client refuses tables with problems.
    expect(routeTableProblems(table)).toEqual([]);
    waypoint.applySnapshot(table);
  }

  const allReviews = (lb?: LoadBalancer) =>
    cluster(reviews, 80, [endpointOf(v1), endpointOf(v2)], lb ? { loadBalancer: lb } : {});
  const v1Cluster = () =>
    cluster(reviews, 80, [endpointOf(v1)], { subset: 'v1', selector: { version: 'v1' } });
  const v2Cluster = () =>
    cluster(reviews, 80, [endpointOf(v2)], { subset: 'v2', selector: { version: 'v2' } });
  const defaultPort = (routes = [route(forward(toCluster(clusterName(reviews, 80))))]): ServedPort[] => [
    { port: 80, protocol: 'http', routes },
  ];

  beforeAll(async () => {
    quietLogs();
    const ca = new TestCa();
    h = createHarness(ca);
    ip = h.ip;
    client = workload({ name: 'client', ips: [ip(11)], node: 'node-a' });
    v1 = workload({
      name: 'reviews-v1',
      ips: [ip(21)],
      node: 'node-b',
      labels: { app: 'reviews', version: 'v1' },
      canonicalName: 'reviews',
      canonicalRevision: 'v1',
    });
    v2 = workload({
      name: 'reviews-v2',
      ips: [ip(22)],
      node: 'node-b',
      labels: { app: 'reviews', version: 'v2' },
      canonicalName: 'reviews',
      canonicalRevision: 'v2',
    });
    slow = workload({ name: 'slow', ips: [ip(24)], node: 'node-b' });
    const waypointW = workload({
      name: 'waypoint',
      ips: [ip(41)],
      node: 'node-b',
      serviceAccount: 'waypoint',
      enrolled: false,
    });
    const bound = { waypoint: WAYPOINT };
    reviews = service({
      name: 'reviews',
      vips: [ip(200)],
      ports: [{ port: 80, targetPort: APP_PORT, protocol: 'TCP' }],
      endpoints: [v1, v2].map((w) => ({ workloadUid: w.uid, ip: w.ips[0]!, ready: true })),
      ...bound,
    });
    grpcService = service({
      name: 'greeter',
      vips: [ip(201)],
      ports: [{ port: GRPC_PORT, targetPort: GRPC_PORT, protocol: 'TCP', appProtocol: 'grpc' }],
      endpoints: [{ workloadUid: v1.uid, ip: ip(21), ready: true }],
      ...bound,
    });
    tcpService = service({
      name: 'tcp-echo',
      vips: [ip(202)],
      ports: [{ port: TCP_PORT, targetPort: TCP_PORT, protocol: 'TCP' }],
      endpoints: [{ workloadUid: v1.uid, ip: ip(21), ready: true }],
      ...bound,
    });
    lrService = service({
      name: 'lr',
      vips: [ip(203)],
      ports: [{ port: 80, targetPort: APP_PORT, protocol: 'TCP' }],
      endpoints: [v1, slow].map((w) => ({ workloadUid: w.uid, ip: w.ips[0]!, ready: true })),
      ...bound,
    });
    const waypointService = service({
      name: 'waypoint',
      vips: [ip(210)],
      ports: [{ port: 15008, targetPort: 15008, protocol: 'TCP' }],
      endpoints: [{ workloadUid: waypointW.uid, ip: ip(41), ready: true }],
    });
    const workloads = [client, v1, v2, slow, waypointW];
    const services = [reviews, grpcService, tcpService, lrService, waypointService];
    nodeSnapshot = snapshot({ workloads, services });
    za = h.ztunnel('node-a');
    zb = h.ztunnel('node-b');
    za.applySnapshot(nodeSnapshot);
    zb.applySnapshot(nodeSnapshot);

    // The apps: echo v1 and v2, a slow echo, a gRPC-style HTTP/2 server with trailers, a TCP echo.
    for (const [w, version] of [
      [v1, 'v1'],
      [v2, 'v2'],
      [slow, 'slow'],
    ] as const) {
      const echo = createEchoHttpServer({
        pod: w.name,
        namespace: 'default',
        node: 'node-b',
        version,
        ip: w.ips[0]!,
      });
      if (w === slow) {
        const answer = echo.listeners('request')[0] as (...args: unknown[]) => void;
        echo.removeAllListeners('request');
        echo.on('request', (...args: unknown[]) => setTimeout(() => answer(...args), 300));
      }
      received[version] = [];
      echo.on('request', (req: { headers: IncomingHttpHeaders; url?: string }) =>
        received[version]!.push({ host: req.headers.host, path: req.url }),
      );
      await listen(echo, w.ips[0]!, APP_PORT);
      servers.push(echo);
    }
    const grpc = createHttp2Server();
    grpc.on('stream', (stream, headers) => {
      stream.on('data', () => {});
      stream.on('end', () => {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () =>
          stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': `hello ${headers[':path']}` }),
        );
        stream.end(Buffer.from([0, 0, 0, 0, 2, 0x0a, 0x00]));
      });
    });
    await listen(grpc as unknown as Server, ip(21), GRPC_PORT);
    servers.push(grpc);
    const tcp = createEchoTcpServer();
    await listen(tcp, ip(21), TCP_PORT);
    servers.push(tcp);
    await za.addPod({ uid: client.uid, sockets: podSockets(ip(11)) });
    for (const w of [v1, v2, slow]) await zb.addPod({ uid: w.uid, sockets: podSockets(w.ips[0]!) });

    waypoint = new Waypoint({
      waypoint: WAYPOINT,
      identity: waypointW.identity,
      certificates: h.certificates(),
      trustDomains: ['cluster.local'],
      log: createLogger('waypoint-test'),
      accessLog: null,
      upstreamLocalAddress: ip(41),
    });
    base = {
      version: '1',
      waypoint: WAYPOINT,
      workloads,
      services,
      trustBundle: [],
    } as unknown as WaypointSnapshot;
    install(defaultPort(), [allReviews()]);
    await waypoint.listen(ip(41), 15008);
  });

  afterAll(async () => {
    for (const agent of agents) agent.destroy();
    await waypoint?.close();
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    await h?.close();
  });

  it('proxies a request through the waypoint to an endpoint, with Envoy-style headers both ways', async () => {
    install(defaultPort(), [allReviews()]);
    const reply = await get(agentFor(ip(200), 80), '/hello?x=1');
    expect(reply.status).toBe(200);
    expect(reply.headers.server).toBe('ambit');
    expect(Number(reply.headers['x-envoy-upstream-service-time'])).toBeGreaterThanOrEqual(0);
    const echoed = report(reply);
    expect(['reviews-v1', 'reviews-v2']).toContain(echoed.pod);
    expect(echoed.request.path).toBe('/hello?x=1');
    expect(echoed.request.headers['x-forwarded-for']).toBe(ip(11));
    expect(echoed.request.headers['x-forwarded-proto']).toBe('http');
    expect(echoed.request.headers['x-envoy-attempt-count']).toBe('1');
    expect(echoed.request.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    // The destination ztunnel trusted the waypoint's `forwarded`: the app sees the original client.
    expect(echoed.request.source.split(':')[0]).toBe(ip(11));
  });

  it('routes by header, first matching route wins, to DestinationRule subsets', async () => {
    install(
      defaultPort([
        route(forward(toCluster(clusterName(reviews, 80, 'v2'))), {
          matches: [
            match({
              headers: [{ name: 'end-user', match: { kind: 'exact', value: 'jason' }, invert: false }],
            }),
          ],
        }),
        route(forward(toCluster(clusterName(reviews, 80, 'v1')))),
      ]),
      [allReviews(), v1Cluster(), v2Cluster()],
    );
    const agent = agentFor(ip(200), 80);
    for (let i = 0; i < 10; i++) {
      expect(report(await get(agent, '/', { 'end-user': 'jason' })).pod).toBe('reviews-v2');
      expect(report(await get(agent, '/', { 'end-user': 'someone-else' })).pod).toBe('reviews-v1');
      expect(report(await get(agent, '/')).pod).toBe('reviews-v1');
    }
  });

  it('splits 90/10 by weight within binomial bounds over 1000 requests', async () => {
    install(
      defaultPort([
        route(
          forward(
            toCluster(clusterName(reviews, 80, 'v1'), 90),
            toCluster(clusterName(reviews, 80, 'v2'), 10),
          ),
        ),
      ]),
      [v1Cluster(), v2Cluster()],
    );
    const agent = agentFor(ip(200), 80);
    const counts = { 'reviews-v1': 0, 'reviews-v2': 0 } as Record<string, number>;
    const n = 1000;
    for (let batch = 0; batch < n / 20; batch++) {
      const replies = await Promise.all(Array.from({ length: 20 }, () => get(agent, '/split')));
      for (const reply of replies) counts[report(reply).pod]!++;
    }
    expect(counts['reviews-v1']! + counts['reviews-v2']!).toBe(n);
    // Binomial(1000, 0.1): mean 100, standard deviation 9.5; five deviations either way.
    const sd = Math.sqrt(n * 0.1 * 0.9);
    expect(counts['reviews-v2']).toBeGreaterThan(100 - 5 * sd);
    expect(counts['reviews-v2']).toBeLessThan(100 + 5 * sd);
  });

  it('keeps a consistent-hash key on one endpoint (header, and a generated cookie)', async () => {
    install(defaultPort(), [
      allReviews({
        kind: 'consistentHash',
        hashOn: { kind: 'header', name: 'x-user' },
        table: { kind: 'ringHash', minimumRingSize: 1024 },
      }),
    ]);
    const agent = agentFor(ip(200), 80);
    const seen = new Set<string>();
    for (let user = 0; user < 20; user++) {
      const first = report(await get(agent, '/', { 'x-user': `user-${user}` })).pod;
      seen.add(first);
      for (let again = 0; again < 5; again++)
        expect(report(await get(agent, '/', { 'x-user': `user-${user}` })).pod).toBe(first);
    }
    // Twenty keys over two endpoints: both get some (all on one has probability 2^-19).
    expect(seen.size).toBe(2);

    install(defaultPort(), [
      allReviews({
        kind: 'consistentHash',
        hashOn: { kind: 'cookie', name: 'sticky', path: '/', ttlMs: 60_000 },
        table: { kind: 'maglev', tableSize: 65537 },
      }),
    ]);
    const fresh = await get(agent, '/');
    const cookie = String(fresh.headers['set-cookie']);
    expect(cookie).toMatch(/^sticky="[0-9a-f]{16}"; Max-Age=60; Path=\/; HttpOnly$/);
    const value = cookie.split(';')[0]!;
    const pinned = report(await get(agent, '/', { cookie: value })).pod;
    for (let i = 0; i < 10; i++) {
      const again = await get(agent, '/', { cookie: `other=1; ${value}` });
      expect(report(again).pod).toBe(pinned);
      expect(again.headers['set-cookie']).toBeUndefined();
    }
  });

  it('least request (power of two choices) steers concurrent requests away from a slow endpoint', async () => {
    install(defaultPort(), [allReviews()]);
    const agent = agentFor(ip(203), 80);
    const pods: string[] = [];
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let i = 0; i < 5; i++) pods.push(report(await get(agent, '/lr')).pod);
      }),
    );
    const slowShare = pods.filter((pod) => pod === 'slow').length / pods.length;
    // Round robin would give the slow pod half; with two endpoints p2c compares both every time.
    expect(pods.length).toBe(40);
    expect(slowShare).toBeLessThan(0.3);
  });

  it('rewrites, redirects, answers directly and applies header operations', async () => {
    install(
      defaultPort([
        route(
          forward(
            toCluster(clusterName(reviews, 80, 'v1'), 100, {
              requestHeaders: headerOps({ set: [{ name: 'x-backend', value: 'v1' }] }),
              responseHeaders: headerOps({ add: [{ name: 'x-served-by', value: 'v1' }] }),
            }),
          ),
          {
            matches: [match({ path: { kind: 'prefix', value: '/api/' } })],
            rewrite: { path: { kind: 'prefix', value: '/v1/' }, authority: 'reviews.internal' },
            requestHeaders: headerOps({
              set: [{ name: 'x-route', value: 'api' }],
              add: [{ name: 'x-multi', value: 'b' }],
              remove: ['x-secret'],
            }),
            responseHeaders: headerOps({
              set: [{ name: 'cache-control', value: 'no-store' }],
              remove: ['content-type'],
            }),
          },
        ),
        route(
          { kind: 'redirect', status: 301, host: 'new.example', path: { kind: 'full', value: '/moved' } },
          {
            matches: [match({ path: { kind: 'exact', value: '/old' } })],
          },
        ),
        route(
          { kind: 'directResponse', status: 418, body: 'short and stout' },
          {
            matches: [match({ path: { kind: 'exact', value: '/teapot' } })],
          },
        ),
      ]),
      [v1Cluster()],
    );
    const agent = agentFor(ip(200), 80);
    const api = await get(agent, '/api/items?page=2', { 'x-secret': 'hush', 'x-multi': 'a' });
    expect(api.status).toBe(200);
    const echoed = report(api).request;
    expect(echoed.path).toBe('/v1/items?page=2');
    expect(echoed.headers.host).toBe('reviews.internal');
    expect(echoed.headers['x-route']).toBe('api');
    expect(echoed.headers['x-backend']).toBe('v1');
    expect(echoed.headers['x-multi']).toBe('a, b');
    expect(echoed.headers['x-secret']).toBeUndefined();
    expect(api.headers['cache-control']).toBe('no-store');
    expect(api.headers['x-served-by']).toBe('v1');
    expect(api.headers['content-type']).toBeUndefined();

    const moved = await get(agent, '/old?q=1');
    expect(moved.status).toBe(301);
    expect(moved.headers.location).toBe('http://new.example/moved?q=1');

    const teapot = await get(agent, '/teapot');
    expect(teapot.status).toBe(418);
    expect(teapot.body).toBe('short and stout');

    const none = await get(agent, '/nothing-matches');
    expect(none.status).toBe(404);
    expect(
      await sumOf(waypoint.metrics.requests, { response_flags: 'NR', response_code: '404' }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('enforces L7 authorization: DENY by path and method, ALLOW by principal and header (403 vs 200)', async () => {
    const deny = l7Policy({
      name: 'deny-admin',
      action: 'DENY',
      rules: [
        l7Rule({ to: [l7Operation({ paths: [{ kind: 'prefix', value: '/admin' }] })] }),
        l7Rule({ to: [l7Operation({ methods: [{ kind: 'exact', value: 'DELETE' }] })] }),
      ],
    });
    const allow = l7Policy({
      name: 'allow-client',
      action: 'ALLOW',
      appliesTo: { kind: 'services', hostnames: [reviews.hostname] },
      rules: [
        l7Rule({
          from: [l7Source({ principals: [{ kind: 'exact', value: 'cluster.local/ns/default/sa/client' }] })],
          when: [
            {
              kind: 'string',
              key: { kind: 'requestHeader', name: 'x-token' },
              values: [{ kind: 'exact', value: 'let-me-in' }],
              notValues: [],
            },
          ],
        }),
      ],
    });
    install(defaultPort(), [allReviews()], { authorization: [deny, allow] } as Partial<WaypointSnapshot>);
    const agent = agentFor(ip(200), 80);
    const ok = await get(agent, '/reviews', { 'x-token': 'let-me-in' });
    expect(ok.status).toBe(200);
    const admin = await get(agent, '/admin/users', { 'x-token': 'let-me-in' });
    expect(admin.status).toBe(403);
    expect(admin.body).toBe('RBAC: access denied');
    expect((await get(agent, '/reviews', { 'x-token': 'let-me-in' }, 'DELETE')).status).toBe(403);
    expect((await get(agent, '/reviews', { 'x-token': 'wrong' })).status).toBe(403);
    expect((await get(agent, '/reviews')).status).toBe(403);

    // The same ALLOW for another principal: the client is not it, so everything is denied.
    const other = l7Policy({
      ...allow,
      rules: [
        l7Rule({
          from: [l7Source({ principals: [{ kind: 'exact', value: 'cluster.local/ns/default/sa/someone' }] })],
        }),
      ],
    });
    install(defaultPort(), [allReviews()], { authorization: [other] } as Partial<WaypointSnapshot>);
    expect((await get(agent, '/reviews', { 'x-token': 'let-me-in' })).status).toBe(403);
    install(defaultPort(), [allReviews()]);
    expect((await get(agent, '/reviews')).status).toBe(200);
  });

  it('proxies gRPC over h2c with its trailers, and counts it as grpc with its status', async () => {
    const before = await sumOf(waypoint.metrics.requests, {
      request_protocol: 'grpc',
      grpc_response_status: '0',
    });
    const session = http2Connect(`http://${grpcService.hostname}`, {
      createConnection: () => h.capture.connect(ip(11), { ip: ip(201), port: GRPC_PORT }),
    });
    try {
      for (let i = 0; i < 3; i++) {
        const stream = session.request({
          ':method': 'POST',
          ':path': '/greeter.Greeter/SayHello',
          'content-type': 'application/grpc',
          te: 'trailers',
        });
        stream.end(Buffer.from([0, 0, 0, 0, 0]));
        const outcome = await new Promise<{
          status: number;
          trailers: Record<string, unknown>;
          bytes: number;
        }>((resolve, reject) => {
          let status = 0;
          let bytes = 0;
          let trailers: Record<string, unknown> = {};
          stream.on('response', (headers) => {
            status = Number(headers[':status']);
          });
          stream.on('trailers', (received) => {
            trailers = received;
          });
          stream.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
          });
          stream.on('end', () => resolve({ status, trailers, bytes }));
          stream.on('error', reject);
        });
        expect(outcome.status).toBe(200);
        expect(outcome.bytes).toBe(7);
        expect(outcome.trailers['grpc-status']).toBe('0');
        expect(outcome.trailers['grpc-message']).toBe('hello /greeter.Greeter/SayHello');
      }
    } finally {
      session.close();
    }
    expect(
      await sumOf(waypoint.metrics.requests, { request_protocol: 'grpc', grpc_response_status: '0' }),
    ).toBe(before + 3);
  });

  it('serves pipelined HTTP/1.1 requests in order on one connection', async () => {
    install(defaultPort(), [allReviews()]);
    const socket = h.capture.connect(ip(11), { ip: ip(200), port: 80 });
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    const paths = ['/first', '/second', '/third'];
    socket.write(paths.map((path) => `GET ${path} HTTP/1.1\r\nhost: ${reviews.hostname}\r\n\r\n`).join(''));
    await eventuallyText(received, '"/third"');
    const text = Buffer.concat(received).toString();
    socket.destroy();
    expect(text.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(3);
    const order = paths.map((path) => text.indexOf(`"path": "${path}"`));
    expect(order.every((position) => position > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  it('passes a WebSocket Upgrade through, and proxies non-HTTP bytes on a detect port as TCP', async () => {
    install(defaultPort(), [allReviews()]);
    const socket = h.capture.connect(ip(11), { ip: ip(200), port: 80 });
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    // The handshake of RFC 6455's example key; `ambit echo` answers it and then echoes what it reads.
    socket.write(webSocketHandshake(reviews.hostname));
    await eventuallyText(received, 'sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    expect(Buffer.concat(received).toString()).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    socket.write('ping over the upgraded stream');
    await eventuallyText(received, 'ping over the upgraded stream');
    socket.destroy();

    const before = await sumOf(waypoint.metrics.tcpOpened, { destination_service_name: 'tcp-echo' });
    const result = await exchange(
      h.capture.connect(ip(11), { ip: ip(202), port: TCP_PORT }),
      'hello, not http\n',
    );
    expect(result.received.toString()).toBe('hello, not http\n');
    expect(
      await sumOf(waypoint.metrics.tcpOpened, {
        destination_service_name: 'tcp-echo',
        request_protocol: 'tcp',
      }),
    ).toBe(before + 1);
    expect(
      await sumOf(waypoint.metrics.tcpReceived, { destination_service_name: 'tcp-echo' }),
    ).toBeGreaterThanOrEqual(16);
  });

  it('counts requests by Istio labels, matching what was sent', async () => {
    install(defaultPort([route(forward(toCluster(clusterName(reviews, 80, 'v2'))))]), [v2Cluster()]);
    const labels = {
      reporter: 'waypoint',
      destination_version: 'v2',
      destination_service_name: 'reviews',
      response_code: '200',
      source_workload: 'client',
      source_principal: client.identity,
      request_protocol: 'http',
      response_flags: '-',
      connection_security_policy: 'mutual_tls',
    };
    const before = await sumOf(waypoint.metrics.requests, labels);
    const agent = agentFor(ip(200), 80);
    for (let i = 0; i < 7; i++) expect((await get(agent, '/count')).status).toBe(200);
    expect(await sumOf(waypoint.metrics.requests, labels)).toBe(before + 7);
    const text = await waypoint.metrics.registry.metrics();
    expect(text).toContain('istio_request_duration_milliseconds_bucket{');
    expect(text).toMatch(/istio_request_duration_milliseconds_bucket\{[^}]*le="0.5"/);
    expect(text).toMatch(/istio_request_duration_milliseconds_bucket\{[^}]*le="3600000"/);
  });

  it('answers 503 UH when a cluster has no ready endpoint, and 503 UF when the endpoint cannot be reached', async () => {
    install(defaultPort(), [cluster(reviews, 80, [{ ...endpointOf(v1), ready: false }])]);
    const agent = agentFor(ip(200), 80);
    const uh = await get(agent, '/');
    expect(uh.status).toBe(503);
    expect(uh.body).toBe('no healthy upstream');
    // An endpoint address where no ztunnel listens.
    const ghost = workload({ name: 'ghost', ips: [ip(99)], node: 'node-b' });
    install(defaultPort(), [cluster(reviews, 80, [endpointOf(ghost)])], {
      workloads: [...(base.workloads as Workload[]), ghost],
    } as Partial<WaypointSnapshot>);
    const uf = await get(agent, '/');
    expect(uf.status).toBe(503);
    expect(
      await sumOf(waypoint.metrics.requests, { response_flags: 'UF', response_code: '503' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      await sumOf(waypoint.metrics.requests, { response_flags: 'UH', response_code: '503' }),
    ).toBeGreaterThanOrEqual(1);
  });

  describe('resilience', () => {
    const retry = (overrides: Partial<RetryPolicy>): RetryPolicy => ({
      attempts: 2,
      retryOn: ['5xx'],
      retriableStatusCodes: [],
      backoffBaseMs: 25,
      ...overrides,
    });
    const v1Route = (overrides: Partial<Route>) =>
      install(defaultPort([route(forward(toCluster(clusterName(reviews, 80, 'v1'))), overrides)]), [
        v1Cluster(),
      ]);
    const flagged = (flags: string, code: string) =>
      sumOf(waypoint.metrics.requests, { response_flags: flags, response_code: code });
    const attemptCount = (reply: Reply) => report(reply).request.headers['x-envoy-attempt-count'];
    const sequence = async (agent: Agent, count: number, path: string) => {
      const replies: Reply[] = [];
      for (let i = 0; i < count; i++) replies.push(await get(agent, path));
      return replies;
    };
    /** Elapsed real time of `action`, in ms. */
    const timed = async <T>(action: () => Promise<T>): Promise<[T, number]> => {
      const started = performance.now();
      const value = await action();
      return [value, performance.now() - started];
    };

    it('retries turn an upstream failing every other request into 100% success, with x-envoy-attempt-count', async () => {
      v1Route({ retry: retry({ attempts: 2 }) });
      const replies = await sequence(agentFor(ip(200), 80), 20, '/?fail-every=2');
      expect(replies.map((reply) => reply.status)).toEqual(Array(20).fill(200));
      // The upstream fails every other request it gets: the first try of a request fails and its retry
      // passes, which the upstream saw as attempt 2 (a request can pass on its first try at most once, when
      // the upstream's count was odd from earlier tests).
      const counts = replies.map(attemptCount);
      expect(counts.filter((count) => count === '2').length).toBeGreaterThanOrEqual(19);
      expect(counts.every((count) => count === '1' || count === '2')).toBe(true);
      expect(await flagged('URX', '200')).toBe(0);
    });

    it('attempts 0 surfaces the failures; exhausted retries answer the last failure with URX', async () => {
      v1Route({ retry: retry({ attempts: 0 }) });
      const agent = agentFor(ip(200), 80);
      const replies = await sequence(agent, 20, '/?fail-every=2');
      expect(replies.filter((reply) => reply.status === 503)).toHaveLength(10);
      expect(replies.every((reply) => attemptCount(reply) === '1')).toBe(true);

      v1Route({ retry: retry({ attempts: 2 }) });
      const before = await flagged('URX', '503');
      const exhausted = await get(agent, '/?status=503');
      expect(exhausted.status).toBe(503);
      expect(attemptCount(exhausted)).toBe('3');
      expect(await flagged('URX', '503')).toBe(before + 1);
    });

    it('per-try and route timeouts answer 504 UT at about the configured time', async () => {
      const agent = agentFor(ip(200), 80);
      // Two tries of 200 ms each, and the backoff between them (at most 25 ms).
      v1Route({ retry: retry({ attempts: 1, perTryTimeoutMs: 200 }) });
      const [perTry, perTryMs] = await timed(() => get(agent, '/?delay=3s'));
      expect(perTry.status).toBe(504);
      expect(perTry.body).toBe('upstream request timeout');
      expect(perTryMs).toBeGreaterThanOrEqual(395);
      expect(perTryMs).toBeLessThan(2000);

      v1Route({ retry: retry({ attempts: 0 }), timeoutMs: 300 });
      const before = await flagged('UT', '504');
      const [whole, wholeMs] = await timed(() => get(agent, '/?delay=3s'));
      expect(whole.status).toBe(504);
      expect(wholeMs).toBeGreaterThanOrEqual(295);
      expect(wholeMs).toBeLessThan(2000);
      expect(await flagged('UT', '504')).toBe(before + 1);
      // Within the timeout the answer passes.
      expect((await get(agent, '/?delay=50ms')).status).toBe(200);
    });

    it('aborts 100% with the status and FI, 50% within binomial bounds over 400 requests, and delays with DI', async () => {
      const agent = agentFor(ip(200), 80);
      v1Route({ fault: { abort: { httpStatus: 418, percentage: 100 } } });
      const before = await flagged('FI', '418');
      const aborted = await get(agent, '/');
      expect(aborted.status).toBe(418);
      expect(aborted.body).toBe('fault filter abort');
      expect(await flagged('FI', '418')).toBe(before + 1);

      v1Route({ fault: { abort: { httpStatus: 503, percentage: 50 } } });
      const half = await sequence(agent, 400, '/');
      const abortedCount = half.filter((reply) => reply.status === 503).length;
      // 400 draws at p = 0.5: mean 200, sd 10; +-5 sd (p ~ 6e-7 of a false failure).
      expect(abortedCount).toBeGreaterThan(150);
      expect(abortedCount).toBeLessThan(250);
      expect(half.filter((reply) => reply.status === 200)).toHaveLength(400 - abortedCount);

      v1Route({ fault: { delay: { fixedDelayMs: 300, percentage: 100 } } });
      const delayedBefore = await flagged('DI', '200');
      const [delayed, delayedMs] = await timed(() => get(agent, '/'));
      expect(delayed.status).toBe(200);
      expect(delayedMs).toBeGreaterThanOrEqual(295);
      expect(await flagged('DI', '200')).toBe(delayedBefore + 1);
    });

    it('http1MaxPendingRequests 1 under 20 concurrent slow requests: the overflow gets 503 UO at once, the rest succeed', async () => {
      install(defaultPort(), [
        cluster(reviews, 80, [endpointOf(v1)], {
          policy: {
            loadBalancer: { kind: 'ROUND_ROBIN' },
            connectionPool: { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1 } },
          },
        }),
      ]);
      const agent = agentFor(ip(200), 80, 32);
      const before = await flagged('UO', '503');
      const replies = await Promise.all(
        Array.from({ length: 20 }, () => timed(() => get(agent, '/?delay=1s'))),
      );
      const ok = replies.filter(([reply]) => reply.status === 200);
      const overflow = replies.filter(([reply]) => reply.status === 503);
      // One in flight, one waiting for its connection slot; everything else refused.
      expect(ok).toHaveLength(2);
      expect(overflow).toHaveLength(18);
      // Refused at once: every refusal came back before the first slow answer.
      const firstOk = Math.min(...ok.map(([, ms]) => ms));
      for (const [, ms] of overflow) expect(ms).toBeLessThan(firstOk);
      expect(await flagged('UO', '503')).toBe(before + 18);
    });

    it('mirrors a copy with the Host unchanged and counts it; the caller never waits for a mirror nor sees its failure', async () => {
      const slowCluster = cluster(lrService, 80, [endpointOf(slow)], { subset: 'slow' });
      // A mirror whose endpoint has nothing listening: its copies fail at the destination ztunnel.
      const deadCluster = cluster(lrService, 80, [endpointOf(slow, 1)], { subset: 'dead' });
      const mirrored = (mirror: Cluster, outcome: string) =>
        sumOf(waypoint.metrics.mirrored, { cluster: mirror.name, outcome });
      install(
        defaultPort([
          route(forward(toCluster(clusterName(reviews, 80, 'v1'))), {
            mirrors: [
              { cluster: clusterName(reviews, 80, 'v2'), percentage: 100 },
              { cluster: slowCluster.name, percentage: 100 },
              { cluster: deadCluster.name, percentage: 100 },
            ],
          }),
        ]),
        [v1Cluster(), v2Cluster(), slowCluster, deadCluster],
      );
      const agent = agentFor(ip(200), 80);
      received.v2!.length = 0;
      received.slow!.length = 0;
      const replies = await sequence(agent, 5, '/mirrored?n=1');
      // The caller sees only the primary's answers, each before the slow mirror (300 ms) answered its copy.
      expect(replies.map((reply) => [reply.status, reply.headers['x-echo-version']])).toEqual(
        Array(5).fill([200, 'v1']),
      );
      expect(await mirrored(slowCluster, 'answered')).toBeLessThan(5);
      await eventually(async () => (await mirrored(slowCluster, 'answered')) === 5, {
        what: 'the slow mirror to answer its five copies',
      });
      await eventually(async () => (await mirrored(deadCluster, 'failed')) === 5, {
        what: 'the five copies to the dead mirror to fail',
      });
      expect(received.v2).toEqual(Array(5).fill({ host: reviews.hostname, path: '/mirrored?n=1' }));
      expect(received.slow).toHaveLength(5);
      expect(await mirrored(v2Cluster(), 'answered')).toBe(5);

      // A 0% mirror copies nothing.
      install(
        defaultPort([
          route(forward(toCluster(clusterName(reviews, 80, 'v1'))), {
            mirrors: [{ cluster: clusterName(reviews, 80, 'v2'), percentage: 0 }],
          }),
        ]),
        [v1Cluster(), v2Cluster()],
      );
      received.v2!.length = 0;
      expect((await sequence(agent, 3, '/unmirrored')).map((reply) => reply.status)).toEqual([200, 200, 200]);
      expect(received.v2).toEqual([]);
    });

    it('rate limits with a token bucket: 429 RL with its headers over the limit, counted, and passes again once refilled', async () => {
      const identity = client.identity;
      install(
        defaultPort(),
        [allReviews()],
        {},
        {
          rateLimit: {
            policy: 'default/reviews-limit',
            totalPerSecond: 20,
            // The client's own bucket (an override of the identity limit) is the tighter one.
            identityPerSecond: 1,
            overrides: [{ perSecond: 4, identities: [identity] }],
          },
        },
      );
      const agent = agentFor(ip(200), 80, 8);
      const before = await flagged('RL', '429');
      const [replies, elapsedMs] = await timed(() =>
        Promise.all(Array.from({ length: 12 }, () => get(agent, '/limited'))),
      );
      const passed = replies.filter((reply) => reply.status === 200).length;
      const refused = replies.filter((reply) => reply.status === 429);
      expect(passed + refused.length).toBe(12);
      // A full bucket of 4 lets 4 through at once, and it refills at 4 per second while the burst lasts.
      expect(passed).toBeGreaterThanOrEqual(4);
      expect(passed).toBeLessThanOrEqual(4 + Math.floor((4 * elapsedMs) / 1000));
      expect(refused.length).toBeGreaterThan(0);
      expect(refused[0]!.body).toBe('local_rate_limited');
      expect(refused[0]!.headers).toMatchObject({
        'x-ratelimit-limit': '4',
        'x-ratelimit-remaining': '0',
        'retry-after': '1',
      });
      expect(await flagged('RL', '429')).toBe(before + refused.length);
      expect(
        await sumOf(waypoint.metrics.rateLimited, { policy: 'default/reviews-limit', limit: 'override' }),
      ).toBe(refused.length);
      // The bucket refills: the client is served again.
      await eventually(async () => (await get(agent, '/limited')).status === 200, {
        interval: 100,
        what: 'the bucket to refill',
      });
    });

    it('maxRequestsPerConnection 1 opens a tunnel per request; keep-alive reuses one otherwise', async () => {
      const agent = agentFor(ip(200), 80);
      // Tunnels into v1's pod, as its ztunnel counts them.
      const tunnelsOpened = () =>
        sumOf(zb.metrics.tcpOpened, { reporter: 'destination', destination_canonical_revision: 'v1' });
      const opened = async () => {
        const before = await tunnelsOpened();
        const replies = await sequence(agent, 5, '/');
        expect(replies.map((reply) => reply.status)).toEqual(Array(5).fill(200));
        return (await tunnelsOpened()) - before;
      };
      const v1Route = defaultPort([route(forward(toCluster(clusterName(reviews, 80, 'v1'))))]);
      install(v1Route, [v1Cluster()]);
      expect(await opened()).toBeLessThanOrEqual(1);
      const perConnection = (maxRequestsPerConnection: number) =>
        install(v1Route, [
          {
            ...v1Cluster(),
            policy: {
              loadBalancer: { kind: 'ROUND_ROBIN' },
              connectionPool: { http: { maxRequestsPerConnection } },
            },
          },
        ]);
      perConnection(1);
      expect(await opened()).toBe(5);
      perConnection(2);
      // Two requests per tunnel: five take three.
      expect(await opened()).toBe(3);
    });

    it("tcp.connectTimeout fails a tunnel that does not open in time: 503 UF, and a TCP port's connection reset", async () => {
      // A peer that accepts on 15008 and never answers the TLS handshake.
      const held: Socket[] = [];
      const silent = createTcpServer((socket: Socket) => {
        socket.on('error', () => undefined);
        held.push(socket);
      });
      await listen(silent, ip(31), 15008);
      const mute = workload({ name: 'mute', ips: [ip(31)], node: 'node-b' });
      install(
        defaultPort([
          route(forward(toCluster(clusterName(reviews, 80, 'mute'))), { retry: retry({ attempts: 0 }) }),
        ]),
        [
          cluster(reviews, 80, [endpointOf(mute)], {
            subset: 'mute',
            policy: {
              loadBalancer: { kind: 'ROUND_ROBIN' },
              connectionPool: { tcp: { connectTimeout: 300 } },
            },
          }),
        ],
        { workloads: [...base.workloads, mute] },
      );
      const before = await flagged('UF', '503');
      const [reply, ms] = await timed(() => get(agentFor(ip(200), 80), '/'));
      expect(reply.status).toBe(503);
      expect(await flagged('UF', '503')).toBe(before + 1);
      // Within the configured bound, far from the 10 s default.
      expect(ms).toBeGreaterThanOrEqual(295);
      expect(ms).toBeLessThan(5000);
      // An Upgrade on the same route is bounded the same way: its tunnel fails and the client reads a 503.
      const [upgraded, upgradeMs] = await timed(async () => {
        const socket = h.capture.connect(ip(11), { ip: ip(200), port: 80 });
        const received: Buffer[] = [];
        socket.on('data', (chunk: Buffer) => received.push(chunk));
        socket.write(webSocketHandshake(reviews.hostname));
        await eventuallyText(received, 'HTTP/1.1 503');
        socket.destroy();
        return Buffer.concat(received).toString();
      });
      expect(upgraded).toMatch(/^HTTP\/1\.1 503 /);
      expect(upgradeMs).toBeGreaterThanOrEqual(295);
      expect(upgradeMs).toBeLessThan(5000);
      // A TCP port's tunnel too: the client's connection is reset, and the close counted as UF.
      install(
        [{ port: 80, protocol: 'tcp', routes: [] }],
        [
          cluster(reviews, 80, [endpointOf(mute)], {
            policy: {
              loadBalancer: { kind: 'ROUND_ROBIN' },
              connectionPool: { tcp: { connectTimeout: 300 } },
            },
          }),
        ],
        { workloads: [...base.workloads, mute] },
      );
      const tcpBefore = await sumOf(waypoint.metrics.tcpClosed, { response_flags: 'UF' });
      const [carried, tcpMs] = await timed(() =>
        exchange(h.capture.connect(ip(11), { ip: ip(200), port: 80 }), 'bytes for a peer that never opens\n'),
      );
      expect(carried).toEqual({ received: Buffer.alloc(0), outcome: 'ECONNRESET' });
      expect(await sumOf(waypoint.metrics.tcpClosed, { response_flags: 'UF' })).toBe(tcpBefore + 1);
      expect(tcpMs).toBeGreaterThanOrEqual(295);
      expect(tcpMs).toBeLessThan(5000);
      for (const socket of held) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    });

    it('ejects an endpoint after consecutive 5xx: no traffic during its ejection, shown in /clusters, then it returns', async () => {
      install(defaultPort(), [
        cluster(reviews, 80, [endpointOf(v1), endpointOf(v2)], {
          policy: {
            loadBalancer: { kind: 'ROUND_ROBIN' },
            outlierDetection: {
              consecutive5xxErrors: 3,
              interval: 1000,
              baseEjectionTime: 2000,
              maxEjectionPercent: 50,
            },
          },
        }),
      ]);
      const agent = agentFor(ip(200), 80);
      const bad = `/?status=503&only=${v2.name}`;
      // Round robin alternates: six requests give v2 its three consecutive 5xx.
      const first = await sequence(agent, 6, bad);
      expect(first.filter((reply) => reply.status === 503)).toHaveLength(3);
      const row = (waypoint.clusters() as ClusterRow[]).find((c) => c.name === clusterName(reviews, 80))!;
      expect(row.endpoints.find((e) => e.workload === v2.uid)).toMatchObject({ health: 'EJECTED' });
      expect(row.endpoints.find((e) => e.workload === v1.uid)).toMatchObject({ health: 'HEALTHY' });
      const during = await sequence(agent, 20, bad);
      expect(during.map((reply) => reply.headers['x-echo-version'])).toEqual(Array(20).fill('v1'));
      // The ejection is up after 2 s: v2 is chosen (and fails) again.
      await eventually(async () => (await get(agent, bad)).headers['x-echo-version'] === 'v2', {
        timeout: 5000,
        interval: 200,
        what: 'the ejected endpoint to come back',
      });
    });
  });
});

/** A WebSocket Upgrade request for `/ws` on `host`, with RFC 6455's example key. */
function webSocketHandshake(host: string): string {
  return (
    `GET /ws HTTP/1.1\r\nhost: ${host}\r\nupgrade: websocket\r\nconnection: Upgrade\r\n` +
    'sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n'
  );
}

async function eventuallyText(chunks: Buffer[], text: string): Promise<void> {
  await eventually(() => Buffer.concat(chunks).toString().includes(text), {
    what: `"${text}" on the stream (received so far: ${JSON.stringify(Buffer.concat(chunks).toString())})`,
  });
}
