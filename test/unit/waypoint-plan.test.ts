/**
 * The decision stages of a request (`planRequest`: policy -> route -> filters -> load balancing) over a
 * hand-built route table, as tables: what a request gets (a local reply with its flag, a route's own reply,
 * or a forward with its headers, path and endpoint), L7 authorization glued to the request's attributes,
 * and the TCP view of L7 policies.
 */
import { describe, expect, it } from 'vitest';
import { compileRouteTable } from '../../src/control/model/l7/compile.ts';
import type { Cluster, L7AuthorizationPolicy, Route } from '../../src/core/l7/types.ts';
import type { WaypointSnapshot } from '../../src/core/model/index.ts';
import { EndpointLoad } from '../../src/waypoint/balance/balancer.ts';
import { l4Policies } from '../../src/waypoint/pipeline/l4-policies.ts';
import { type Caller, type Plan, planRequest } from '../../src/waypoint/pipeline/plan.ts';
import { parseRequest } from '../../src/waypoint/pipeline/request-view.ts';
import { WaypointState } from '../../src/waypoint/state.ts';
import { service, workload } from '../support/mesh-fixtures.ts';
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
  NO_L7_CONFIG,
  route,
  served,
  toCluster,
} from '../support/route-table.ts';

const v1 = workload({ name: 'reviews-v1', ips: ['10.0.1.1'] });
const v2 = workload({ name: 'reviews-v2', ips: ['10.0.1.2'] });
const caller = workload({ name: 'productpage', ips: ['10.0.0.9'] });
const reviews = service({ name: 'reviews', vips: ['10.96.0.10'] });
const endpoint = (w: typeof v1, ready = true) => ({ workloadUid: w.uid, ip: w.ips[0]!, port: 8080, ready });
const v1Cluster = cluster(reviews, 80, [endpoint(v1)], { subset: 'v1' });
const v2Cluster = cluster(reviews, 80, [endpoint(v2)], { subset: 'v2' });
const downCluster = cluster(reviews, 80, [endpoint(v1, false)], { subset: 'down' });
const brokenCluster: Cluster = {
  ...cluster(reviews, 80, [], { subset: 'broken' }),
  problem: 'no subset broken',
};

const routes: Route[] = [
  route(forward(toCluster(clusterName(reviews, 80, 'v2'))), {
    matches: [
      match({ headers: [{ name: 'end-user', match: { kind: 'exact', value: 'jason' }, invert: false }] }),
    ],
    requestHeaders: headerOps({ set: [{ name: 'x-route', value: 'jason' }] }),
  }),
  route(
    forward(
      toCluster(clusterName(reviews, 80, 'v1'), 100, {
        requestHeaders: headerOps({ set: [{ name: 'x-route', value: 'backend wins' }] }),
      }),
    ),
    {
      matches: [match({ path: { kind: 'prefix', value: '/api/' } })],
      rewrite: { path: { kind: 'prefix', value: '/' }, authority: 'reviews.internal' },
      requestHeaders: headerOps({ set: [{ name: 'x-route', value: 'api' }] }),
    },
  ),
  route(
    { kind: 'redirect', status: 308, scheme: 'https' },
    { matches: [match({ path: { kind: 'exact', value: '/secure' } })] },
  ),
  route(
    { kind: 'directResponse', status: 200, body: 'b2s=', bodyEncoding: 'base64' },
    { matches: [match({ path: { kind: 'exact', value: '/health' } })] },
  ),
  route(
    forward({
      kind: 'invalid',
      reason: 'no such Service',
      weight: 1,
      requestHeaders: headerOps(),
      responseHeaders: headerOps(),
    }),
    {
      matches: [match({ path: { kind: 'exact', value: '/invalid' } })],
    },
  ),
  route(forward(toCluster(clusterName(reviews, 80, 'down'))), {
    matches: [match({ path: { kind: 'exact', value: '/down' } })],
  }),
  route(forward(toCluster(clusterName(reviews, 80, 'broken'))), {
    matches: [match({ path: { kind: 'exact', value: '/broken' } })],
  }),
  route(forward(toCluster('outbound|80||gone.default.svc.cluster.local')), {
    matches: [match({ path: { kind: 'exact', value: '/gone' } })],
  }),
  route(forward(toCluster(clusterName(reviews, 80, 'v1'))), {
    matches: [match({ path: { kind: 'prefix', value: '/' } })],
    cors: {
      allowOrigins: [{ kind: 'exact', value: 'https://app.example' }],
      allowMethods: ['GET'],
      allowHeaders: [],
      exposeHeaders: [],
      allowCredentials: false,
      unmatchedPreflights: 'forward',
    },
  }),
];

function stateWith(authorization: L7AuthorizationPolicy[] = [], table = routes): WaypointState {
  const snapshot = {
    version: '1',
    waypoint: { name: 'waypoint', namespace: 'default' },
    workloads: [v1, v2, caller],
    services: [reviews],
    trustBundle: [],
    servedServices: [served(reviews, [{ port: 80, protocol: 'http', routes: table }])],
    clusters: [v1Cluster, v2Cluster, downCluster, brokenCluster],
    authorization,
  } as unknown as WaypointSnapshot;
  return new WaypointState(snapshot, new EndpointLoad());
}

function plan(state: WaypointState, method: string, url: string, headers: Record<string, string> = {}): Plan {
  const target = state.target('10.96.0.10', 80)!;
  const who: Caller = {
    state,
    target,
    destinationIp: '10.96.0.10',
    destinationPort: 80,
    peerIdentity: caller.identity,
    client: { ip: '10.0.0.9', port: 40000 },
  };
  return planRequest(who, parseRequest(method, url, { host: 'reviews', ...headers }), 'req-1', 1, () => 0.5);
}

/** The parts of a plan a table can compare. */
function summary(result: Plan): Record<string, unknown> {
  switch (result.kind) {
    case 'local':
      return { kind: 'local', status: result.status, flags: result.flags, text: result.text };
    case 'routeReply':
      return {
        kind: 'routeReply',
        status: result.status,
        headers: result.headers,
        body: result.body?.toString(),
      };
    case 'forward':
      return {
        kind: 'forward',
        cluster: result.cluster.subset,
        endpoint: result.endpoint.ip,
        path: result.path,
        authority: result.authority,
        route: result.headers['x-route'],
        extras: result.responseExtras,
      };
  }
}

describe('planRequest', () => {
  const state = stateWith();
  it.each([
    [
      'GET',
      '/',
      { 'end-user': 'jason' },
      {
        kind: 'forward',
        cluster: 'v2',
        endpoint: '10.0.1.2',
        path: '/',
        authority: 'reviews',
        route: 'jason',
        extras: {},
      },
    ],
    [
      'GET',
      '/api/items?x=1',
      {},
      {
        kind: 'forward',
        cluster: 'v1',
        endpoint: '10.0.1.1',
        path: '/items?x=1',
        authority: 'reviews.internal',
        route: 'backend wins',
        extras: {},
      },
    ],
    [
      'GET',
      '/secure?a=b',
      {},
      {
        kind: 'routeReply',
        status: 308,
        headers: { location: 'https://reviews/secure?a=b' },
        body: undefined,
      },
    ],
    [
      'GET',
      '/health',
      {},
      { kind: 'routeReply', status: 200, headers: { 'content-type': 'text/plain' }, body: 'ok' },
    ],
    ['GET', '/invalid', {}, { kind: 'local', status: 500, flags: '-', text: '' }],
    ['GET', '/down', {}, { kind: 'local', status: 503, flags: 'UH', text: 'no healthy upstream' }],
    ['GET', '/broken', {}, { kind: 'local', status: 503, flags: 'UH', text: 'no healthy upstream' }],
    ['GET', '/gone', {}, { kind: 'local', status: 503, flags: 'UH', text: 'no healthy upstream' }],
    [
      'OPTIONS',
      '/cors',
      { origin: 'https://app.example', 'access-control-request-method': 'GET' },
      {
        kind: 'routeReply',
        status: 200,
        headers: {
          'access-control-allow-origin': 'https://app.example',
          'access-control-allow-methods': 'GET',
        },
        body: undefined,
      },
    ],
    [
      'GET',
      '/cors',
      { origin: 'https://app.example' },
      {
        kind: 'forward',
        cluster: 'v1',
        endpoint: '10.0.1.1',
        path: '/cors',
        authority: 'reviews',
        route: undefined,
        extras: { 'access-control-allow-origin': 'https://app.example' },
      },
    ],
  ])('%s %s %j', (method, url, headers, expected) => {
    expect(summary(plan(state, method, url, headers))).toEqual(expected);
  });

  it('answers 404 NR when no route matches', () => {
    const narrow = stateWith([], [routes[0]!]);
    expect(summary(plan(narrow, 'GET', '/'))).toEqual({ kind: 'local', status: 404, flags: 'NR', text: '' });
  });

  it("adds Envoy's request headers to a forward", () => {
    const result = plan(state, 'GET', '/x', { 'x-forwarded-for': '192.0.2.1' });
    expect(result.kind).toBe('forward');
    if (result.kind !== 'forward') return;
    expect(result.headers['x-forwarded-for']).toBe('192.0.2.1, 10.0.0.9');
    expect(result.headers['x-request-id']).toBe('req-1');
    expect(result.headers['x-envoy-attempt-count']).toBe('1');
    expect(result.headers.host).toBeUndefined();
  });
});

describe('L7 authorization in the plan', () => {
  const principal = 'cluster.local/ns/default/sa/productpage';
  const deny = (rules: ReturnType<typeof l7Rule>[]) => l7Policy({ name: 'deny', action: 'DENY', rules });
  const allow = (rules: ReturnType<typeof l7Rule>[]) => l7Policy({ name: 'allow', action: 'ALLOW', rules });
  const allowByToken = allow([
    l7Rule({
      when: [
        {
          kind: 'string',
          key: { kind: 'requestHeader', name: 'x-token' },
          values: [{ kind: 'exact', value: 'yes' }],
          notValues: [],
        },
      ],
    }),
  ]);
  it.each([
    ['no policy', [], 'GET', '/', {}, 200],
    [
      'DENY by path',
      [deny([l7Rule({ to: [l7Operation({ paths: [{ kind: 'prefix', value: '/admin' }] })] })])],
      'GET',
      '/admin/x',
      {},
      403,
    ],
    [
      'DENY by path, other path',
      [deny([l7Rule({ to: [l7Operation({ paths: [{ kind: 'prefix', value: '/admin' }] })] })])],
      'GET',
      '/x',
      {},
      200,
    ],
    [
      'DENY by method',
      [deny([l7Rule({ to: [l7Operation({ methods: [{ kind: 'exact', value: 'DELETE' }] })] })])],
      'DELETE',
      '/x',
      {},
      403,
    ],
    [
      'ALLOW by principal',
      [allow([l7Rule({ from: [l7Source({ principals: [{ kind: 'exact', value: principal }] })] })])],
      'GET',
      '/x',
      {},
      200,
    ],
    [
      'ALLOW another principal',
      [
        allow([
          l7Rule({
            from: [l7Source({ principals: [{ kind: 'exact', value: 'cluster.local/ns/default/sa/other' }] })],
          }),
        ]),
      ],
      'GET',
      '/x',
      {},
      403,
    ],
    ['ALLOW by header', [allowByToken], 'GET', '/x', { 'x-token': 'yes' }, 200],
    ['ALLOW by header, missing', [allowByToken], 'GET', '/x', {}, 403],
    [
      'ALLOW by source IP',
      [allow([l7Rule({ from: [l7Source({ ipBlocks: ['10.0.0.0/24'] })] })])],
      'GET',
      '/x',
      {},
      200,
    ],
    [
      'ALLOW by destination port',
      [allow([l7Rule({ to: [l7Operation({ ports: [80] })] })])],
      'GET',
      '/x',
      {},
      200,
    ],
    [
      'ALLOW by another port',
      [allow([l7Rule({ to: [l7Operation({ ports: [9080] })] })])],
      'GET',
      '/x',
      {},
      403,
    ],
    [
      'DENY beats ALLOW',
      [allow([l7Rule()]), deny([l7Rule({ to: [l7Operation({ paths: [{ kind: 'exact', value: '/x' }] })] })])],
      'GET',
      '/x',
      {},
      403,
    ],
  ] as [string, L7AuthorizationPolicy[], string, string, Record<string, string>, number][])(
    '%s -> %i',
    (_name, policies, method, url, headers, expected) => {
      const result = plan(stateWith(policies), method, url, headers);
      const status = result.kind === 'local' ? result.status : 200;
      expect(status).toBe(expected);
      if (expected === 403 && result.kind === 'local') expect(result.text).toBe('RBAC: access denied');
    },
  );
});

describe('L7 policies on traffic proxied as TCP', () => {
  it('drops ALLOW rules that need HTTP and ignores the HTTP fields of DENY rules', () => {
    const httpOnly = l7Rule({
      to: [l7Operation({ methods: [{ kind: 'exact', value: 'GET' }], ports: [80] })],
    });
    const byHeader = l7Rule({
      when: [{ kind: 'string', key: { kind: 'requestHeader', name: 'x' }, values: [], notValues: [] }],
    });
    const l4Only = l7Rule({ from: [l7Source({ namespaces: [{ kind: 'exact', value: 'default' }] })] });
    const [allowed, denied] = l4Policies([
      l7Policy({ name: 'a', action: 'ALLOW', rules: [httpOnly, byHeader, l4Only] }),
      l7Policy({ name: 'd', action: 'DENY', rules: [httpOnly, byHeader] }),
    ]);
    expect(allowed!.rules).toEqual([l4Only]);
    expect(denied!.rules).toEqual([l7Rule({ to: [l7Operation({ ports: [80] })] }), l7Rule()]);
  });
});

describe('a served workload (traffic addressed to its pod IP)', () => {
  const pod = workload({ name: 'reviews-v1', ips: ['10.0.1.1'] });
  const selecting = service({
    name: 'reviews',
    vips: ['10.96.0.10'],
    ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }],
    endpoints: [{ workloadUid: pod.uid, ip: '10.0.1.1', ready: true }],
  });
  const table = compileRouteTable({
    waypoint: { name: 'waypoint', namespace: 'default' },
    served: [],
    servedWorkloads: [pod],
    services: [selecting],
    workloads: [pod, caller],
    ...NO_L7_CONFIG,
  }).table;
  const stateWith = (authorization: L7AuthorizationPolicy[]) =>
    new WaypointState(
      {
        version: '1',
        waypoint: { name: 'waypoint', namespace: 'default' },
        workloads: [pod, caller],
        services: [selecting],
        trustBundle: [],
        ...table,
        authorization,
      },
      new EndpointLoad(),
    );
  const state = stateWith([]);
  it.each<[string, number, string | undefined]>([
    ['10.0.1.1', 8080, 'reviews-v1'],
    // The Service's port is not the pod's, and a VIP is not served when only the pod is bound.
    ['10.0.1.1', 80, undefined],
    ['10.96.0.10', 80, undefined],
    ['10.0.1.2', 8080, undefined],
  ])('%s:%i is served as %s', (ip, port, expected) => {
    expect(state.target(ip, port)?.service.name).toBe(expected);
  });
  const planFor = (served: WaypointState, path: string) => {
    const target = served.target('10.0.1.1', 8080)!;
    const who: Caller = {
      state: served,
      target,
      destinationIp: '10.0.1.1',
      destinationPort: 8080,
      peerIdentity: caller.identity,
      client: { ip: '10.0.0.9', port: 40000 },
    };
    return planRequest(who, parseRequest('GET', path, { host: '10.0.1.1:8080' }), 'req-1', 1, () => 0.5);
  };
  const denyAdmin = (appliesTo: L7AuthorizationPolicy['appliesTo']) =>
    l7Policy({
      name: 'deny-admin',
      action: 'DENY',
      appliesTo,
      rules: [l7Rule({ to: [l7Operation({ paths: [{ kind: 'prefix', value: '/admin' }] })] })],
    });
  // Istio: L7 policy reaches a waypoint by targetRefs only; one on the waypoint (Gateway, GatewayClass)
  // covers the workloads it serves, one on a Service covers requests to the Service, not to its pods.
  it.each<[string, L7AuthorizationPolicy[], string, string]>([
    ['no policy', [], '/admin', 'forward'],
    ['a waypoint-wide DENY', [denyAdmin({ kind: 'waypoint' })], '/admin', 'local'],
    ['a waypoint-wide DENY, other path', [denyAdmin({ kind: 'waypoint' })], '/x', 'forward'],
    [
      "a DENY on the pod's Service",
      [denyAdmin({ kind: 'services', hostnames: [selecting.hostname] })],
      '/admin',
      'forward',
    ],
  ])('%s: GET %s -> %s', (_, policies, path, kind) => {
    const result = planFor(stateWith(policies), path);
    expect(result.kind).toBe(kind);
    if (result.kind === 'local') expect(result.status).toBe(403);
  });
  it('forwards to the pod itself on the requested port, with the protocol detected', () => {
    const target = state.target('10.0.1.1', 8080)!;
    expect(target.port.protocol).toBe('detect');
    const result = planFor(state, '/x');
    expect(result.kind).toBe('forward');
    if (result.kind !== 'forward') return;
    expect([result.endpoint.ip, result.endpoint.port, result.cluster.name]).toEqual([
      '10.0.1.1',
      8080,
      'outbound|8080||10.0.1.1',
    ]);
  });
});
