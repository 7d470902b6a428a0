/**
 * The compiled route table on the wire: it travels as `l7.v1.*` resources and reassembles unchanged; a
 * format the waypoint does not know is refused; a malformed table fails the wire-boundary check with every
 * problem named by path (the discovery client NACKs it and keeps the last good one).
 */
import { describe, expect, it } from 'vitest';
import { refuseIfProblems } from '../../src/core/discovery/refusal.ts';
import {
  assembleSnapshot,
  decodeResource,
  encodeResource,
  ResourceError,
  snapshotResources,
} from '../../src/core/discovery/resources.ts';
import { AmbitError } from '../../src/core/errors.ts';
import type { Route, RouteTable } from '../../src/core/l7/types.ts';
import { routeTableProblems } from '../../src/core/l7/validate.ts';
import type { WaypointSnapshot } from '../../src/core/model/index.ts';

const NONE = { set: [], add: [], remove: [] };

function route(overrides: Partial<Route> = {}): Route {
  return {
    origin: { kind: 'VirtualService', namespace: 'shop', name: 'reviews', rule: 0 },
    matches: [{ path: { kind: 'regex', regex: '/v[0-9]+' }, headers: [], queryParams: [] }],
    action: {
      kind: 'forward',
      backends: [
        {
          kind: 'cluster',
          cluster: 'outbound|9080||reviews.shop.svc.cluster.local',
          weight: 1,
          requestHeaders: NONE,
          responseHeaders: NONE,
        },
      ],
    },
    requestHeaders: NONE,
    responseHeaders: NONE,
    retry: { attempts: 2, retryOn: ['connect-failure'], retriableStatusCodes: [], backoffBaseMs: 25 },
    mirrors: [],
    ...overrides,
  };
}

function table(overrides: { route?: Partial<Route> } = {}): RouteTable {
  return {
    servedServices: [
      {
        name: 'reviews',
        namespace: 'shop',
        hostname: 'reviews.shop.svc.cluster.local',
        vips: ['10.96.0.9'],
        ports: [{ port: 9080, protocol: 'http', routes: [route(overrides.route)] }],
      },
    ],
    servedWorkloads: [
      {
        uid: 'shop/reviews-v1',
        name: 'reviews-v1',
        namespace: 'shop',
        hostname: '10.244.1.1',
        vips: ['10.244.1.1'],
        ports: [{ port: 8080, protocol: 'detect', routes: [route()] }],
      },
    ],
    clusters: [
      {
        name: 'outbound|9080||reviews.shop.svc.cluster.local',
        hostname: 'reviews.shop.svc.cluster.local',
        port: 9080,
        subset: '',
        protocol: 'http',
        selector: {},
        endpoints: [{ workloadUid: 'shop/reviews-v1', ip: '10.244.1.1', port: 8080, ready: true }],
        policy: { loadBalancer: { kind: 'LEAST_REQUEST' } },
      },
    ],
    authorization: [
      {
        name: 'allow-get',
        namespace: 'shop',
        action: 'ALLOW',
        appliesTo: { kind: 'waypoint' },
        rules: [
          {
            from: [],
            to: [],
            when: [{ kind: 'ip', key: { kind: 'sourceIp' }, values: ['10.0.0.0/8'], notValues: [] }],
          },
        ],
      },
    ],
  };
}

describe('the route table as discovery resources', () => {
  const view: Omit<WaypointSnapshot, 'version'> = {
    waypoint: { name: 'wp', namespace: 'shop' },
    workloads: [],
    services: [],
    trustBundle: [],
    ...table(),
  };
  it('travels as versioned l7 resources and reassembles unchanged', () => {
    const items = snapshotResources('waypoint', view);
    expect(items.map((item) => `${item.type} ${item.name}`)).toEqual([
      'trustbundle roots',
      'l7.v1.service shop/reviews',
      'l7.v1.workload shop/reviews-v1',
      'l7.v1.cluster outbound|9080||reviews.shop.svc.cluster.local',
      'l7.v1.authorization shop/allow-get',
    ]);
    const decoded = items.map((item) => decodeResource('waypoint', encodeResource(item)));
    const snapshot = assembleSnapshot('waypoint', '3', decoded, view.waypoint) as WaypointSnapshot;
    // A waypoint's view lists no ingress listeners; they reassemble as none.
    expect(snapshot).toEqual({ ...view, version: '3', gateway: undefined, listeners: [] });
  });
  it("carries an ingress gateway's listeners as l7.v1.listener resources", () => {
    const listeners: RouteTable['listeners'] = [
      { name: 'http', port: 80, wire: 'http', tls: { mode: 'none' } },
      { name: 'tls', port: 8443, wire: 'tcp', tls: { mode: 'passthrough' } },
    ];
    const items = snapshotResources('waypoint', { ...view, listeners } as typeof view);
    expect(items.filter((item) => item.type === 'l7.v1.listener').map((item) => item.name)).toEqual([
      'http',
      'tls',
    ]);
    const decoded = items.map((item) => decodeResource('waypoint', encodeResource(item)));
    const snapshot = assembleSnapshot('waypoint', '3', decoded, view.waypoint) as WaypointSnapshot;
    expect(snapshot.listeners).toEqual(listeners);
  });
  it('reads a view without served workloads (an older control plane) as serving none', () => {
    const { servedWorkloads: _, ...older } = view;
    const items = snapshotResources('waypoint', older);
    expect(items.some((item) => item.type === 'l7.v1.workload')).toBe(false);
    const decoded = items.map((item) => decodeResource('waypoint', encodeResource(item)));
    const snapshot = assembleSnapshot('waypoint', '3', decoded, view.waypoint) as WaypointSnapshot;
    expect(snapshot.servedWorkloads).toEqual([]);
  });
  it('refuses a format it does not know', () => {
    const resource = encodeResource({
      type: 'l7.v2.service',
      name: 'shop/reviews',
      value: { name: 'reviews', namespace: 'shop' },
    });
    expect(() => decodeResource('waypoint', resource)).toThrow(ResourceError);
    expect(() => decodeResource('waypoint', resource)).toThrow(
      'unknown resource type "l7.v2.service" for a waypoint',
    );
  });
});

describe('wire-boundary check', () => {
  it('accepts a well-formed table', () => expect(routeTableProblems(table())).toEqual([]));
  const at = 'servedServices[0] (shop/reviews).ports[0].routes[0]';
  it.each<[string, RouteTable, string[]]>([
    [
      'a regex RE2 refuses',
      table({
        route: { matches: [{ path: { kind: 'regex', regex: '(a)\\1' }, headers: [], queryParams: [] }] },
      }),
      [`${at}.matches[0].path: backreferences are not supported by RE2 (Istio uses RE2 syntax)`],
    ],
    [
      'a backend naming no cluster, weights summing to 0',
      table({
        route: {
          action: {
            kind: 'forward',
            backends: [
              { kind: 'cluster', cluster: 'nope', weight: 0, requestHeaders: NONE, responseHeaders: NONE },
            ],
          },
        },
      }),
      [`${at}.action.backends[0]: unknown cluster nope`, `${at}.action.backends: weights sum to 0`],
    ],
    [
      'bad statuses and percentages',
      table({
        route: {
          action: { kind: 'redirect', status: 200 },
          fault: { abort: { httpStatus: 503, percentage: 120 } },
          mirrors: [{ cluster: 'outbound|9080||reviews.shop.svc.cluster.local', percentage: -1 }],
        },
      }),
      [
        `${at}.action.status: 200 is not a redirect`,
        `${at}.mirrors[0].percentage: -1 is not a percentage`,
        `${at}.fault.abort.percentage: 120 is not a percentage`,
      ],
    ],
    [
      'an unknown action',
      table({ route: { action: { kind: 'teleport' } as unknown as Route['action'] } }),
      [`${at}.action: unknown action "teleport"`],
    ],
    [
      'a structurally broken route',
      table({ route: { matches: undefined as unknown as Route['matches'] } }),
      ["servedServices[0]: malformed (Cannot read properties of undefined (reading 'forEach'))"],
    ],
  ])('%s', (_name, broken, problems) => expect(routeTableProblems(broken)).toEqual(problems));
  it('checks served workloads as served services', () => {
    const broken = table();
    broken.servedWorkloads![0]!.vips = ['pod-1'];
    broken.servedWorkloads![0]!.ports[0]!.port = 70000;
    expect(routeTableProblems(broken)).toEqual([
      'servedWorkloads[0] (shop/reviews-v1).vips[0]: "pod-1" is not an IP',
      'servedWorkloads[0] (shop/reviews-v1).ports[0].port: 70000 is not a port',
    ]);
  });
  it('checks clusters and policies', () => {
    const broken = table();
    broken.clusters[0]!.endpoints[0]!.ip = 'pod-1';
    broken.clusters.push({ ...broken.clusters[0]!, port: 0 });
    const condition = broken.authorization[0]!.rules[0]!.when[0]!;
    if (condition.kind === 'ip') condition.values = ['10.0.0.0/33'];
    expect(routeTableProblems(broken)).toEqual([
      'clusters[0] (outbound|9080||reviews.shop.svc.cluster.local).endpoints[0].ip: "pod-1" is not an IP',
      'clusters[1] (outbound|9080||reviews.shop.svc.cluster.local): duplicate name',
      'clusters[1] (outbound|9080||reviews.shop.svc.cluster.local).port: 0 is not a port',
      'clusters[1] (outbound|9080||reviews.shop.svc.cluster.local).endpoints[0].ip: "pod-1" is not an IP',
      'authorization[0] (shop/allow-get).rules[0].when[0].values[0]: "10.0.0.0/33" is not an IP address or CIDR block',
    ]);
  });
  it('refuses a table with problems as SNAPSHOT_INVALID, naming the first ten (the client NACKs with it)', () => {
    expect(() => refuseIfProblems('route table', routeTableProblems(table()))).not.toThrow();
    const broken = table();
    broken.clusters[0]!.endpoints = Array.from({ length: 12 }, (_, i) => ({
      workloadUid: `shop/p${i}`,
      ip: `pod-${i}`,
      port: 8080,
      ready: true,
    }));
    let refusal: unknown;
    try {
      refuseIfProblems('route table', routeTableProblems(broken));
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(AmbitError);
    expect((refusal as AmbitError).code).toBe('SNAPSHOT_INVALID');
    expect((refusal as AmbitError).message).toMatch(
      /^route table refused: clusters\[0\] \(outbound\|9080\|\|reviews\.shop\.svc\.cluster\.local\)\.endpoints\[0\]\.ip: "pod-0" is not an IP; .*; and 2 more$/,
    );
  });
});
