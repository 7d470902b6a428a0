/**
 * The route table compiler against realistic config: VirtualService (order, matches, ports, hosts,
 * delegate, header operations, rewrite/redirect/directResponse, retries, faults, mirrors), HTTPRoute and
 * GRPCRoute (Gateway API precedence, weights incl. zero and all-zero, invalid backends, filters),
 * DestinationRule (subsets to endpoints, host and namespace precedence, port-level and subset merge, load
 * balancers), and L7 AuthorizationPolicy (targetRefs, matchers, fail-closed translation).
 */
import { describe, expect, it } from 'vitest';
import { parseFiles } from '../../src/control/config/parse.ts';
import { CONTROL_KINDS } from '../../src/control/kinds.ts';
import { type CompiledRouteTable, compileRouteTable } from '../../src/control/model/l7/compile.ts';
import type { Cluster, Route, RouteTable } from '../../src/core/l7/types.ts';
import { routeTableProblems } from '../../src/core/l7/validate.ts';
import type { NamedConfig, Service } from '../../src/core/model/index.ts';
import { service, workload } from '../support/mesh-fixtures.ts';
import { NO_L7_CONFIG } from '../support/route-table.ts';

const WAYPOINT = { name: 'wp', namespace: 'shop' };
const host = (name: string, namespace = 'shop') => `${name}.${namespace}.svc.cluster.local`;

const pods = [
  workload({
    name: 'reviews-v1',
    namespace: 'shop',
    ips: ['10.244.1.1'],
    labels: { app: 'reviews', version: 'v1' },
  }),
  workload({
    name: 'reviews-v2',
    namespace: 'shop',
    ips: ['10.244.1.2'],
    labels: { app: 'reviews', version: 'v2' },
  }),
  workload({
    name: 'reviews-v3',
    namespace: 'shop',
    ips: ['10.244.1.3'],
    labels: { app: 'reviews', version: 'v3' },
  }),
  workload({
    name: 'ratings-v1',
    namespace: 'shop',
    ips: ['10.244.1.4'],
    labels: { app: 'ratings', version: 'v1' },
  }),
];
const endpoint = (name: string, ip: string, ready = true) => ({ workloadUid: `shop/${name}`, ip, ready });

const reviews = service({
  name: 'reviews',
  namespace: 'shop',
  vips: ['10.96.0.9'],
  ports: [
    { name: 'http', port: 9080, targetPort: 8080, protocol: 'TCP', appProtocol: 'http' },
    { name: 'http-admin', port: 9090, targetPort: 8090, protocol: 'TCP', appProtocol: 'http' },
  ],
  endpoints: [
    endpoint('reviews-v1', '10.244.1.1'),
    endpoint('reviews-v2', '10.244.1.2'),
    endpoint('reviews-v3', '10.244.1.3', false),
  ],
});
const ratings = service({
  name: 'ratings',
  namespace: 'shop',
  vips: ['10.96.0.10'],
  ports: [{ name: 'http', port: 9080, targetPort: 9080, protocol: 'TCP', appProtocol: 'http' }],
  endpoints: [endpoint('ratings-v1', '10.244.1.4')],
});
const echo = service({
  name: 'echo',
  namespace: 'shop',
  vips: ['10.96.0.11'],
  ports: [{ name: 'grpc', port: 7070, targetPort: 7070, protocol: 'TCP', appProtocol: 'grpc' }],
});
const db = service({
  name: 'db',
  namespace: 'shop',
  vips: ['10.96.0.12'],
  ports: [{ name: 'tcp-db', port: 5432, targetPort: 5432, protocol: 'TCP', appProtocol: 'tcp' }],
});
const plain = service({ name: 'plain', namespace: 'shop', vips: ['10.96.0.13'] });
const elsewhere = service({ name: 'ledger', namespace: 'legacy', vips: ['10.96.0.14'] });
const SERVED: Service[] = [reviews, echo, db, plain];
const SERVICES: Service[] = [...SERVED, ratings, elsewhere];

function compile(yaml: string): CompiledRouteTable {
  const parsed = parseFiles([{ name: 't.yaml', content: yaml }], CONTROL_KINDS);
  expect(parsed.issues.filter((issue) => issue.severity === 'error')).toEqual([]);
  const named = <Spec>(kind: string): NamedConfig<Spec>[] =>
    parsed.resources
      .filter((resource) => resource.kind === kind)
      .map((resource) => ({
        name: resource.metadata.name,
        namespace: resource.metadata.namespace ?? 'default',
        spec: resource.spec as Spec,
      }));
  const compiled = compileRouteTable({
    waypoint: WAYPOINT,
    served: SERVED,
    services: SERVICES,
    workloads: pods,
    virtualServices: named('VirtualService'),
    destinationRules: named('DestinationRule'),
    httpRoutes: named('HTTPRoute'),
    grpcRoutes: named('GRPCRoute'),
    attachedPolicies: named('AuthorizationPolicy'),
    trustDomain: 'cluster.local',
  });
  // Whatever the compiler emits must pass the waypoint's own wire-boundary check.
  expect(routeTableProblems(compiled.table)).toEqual([]);
  return compiled;
}

/** One YAML document with a block `spec` (body lines indented by two), followed by a separator. */
function document(apiVersion: string, kind: string, name: string, namespace: string, spec: string): string {
  return `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata: {name: ${name}, namespace: ${namespace}}\nspec:\n${spec}\n---\n`;
}

function routes(table: RouteTable, hostname: string, port: number): Route[] {
  const served = table.servedServices.find((candidate) => candidate.hostname === hostname);
  return served?.ports.find((candidate) => candidate.port === port)?.routes ?? [];
}

function cluster(table: RouteTable, name: string): Cluster {
  const found = table.clusters.find((candidate) => candidate.name === name);
  if (!found) throw new Error(`no cluster ${name} in ${table.clusters.map((c) => c.name).join(', ')}`);
  return found;
}

/** `<origin> -> <cluster>@<weight>, ...` or the action kind, for order and split assertions. */
function summary(route: Route): string {
  const origin = `${route.origin.kind}:${route.origin.name}#${route.origin.rule}`;
  const { action } = route;
  if (action.kind !== 'forward') return `${origin} ${action.kind} ${action.status}`;
  const backends = action.backends.map((backend) =>
    backend.kind === 'cluster' ? `${backend.cluster}@${backend.weight}` : `invalid@${backend.weight}`,
  );
  return `${origin} -> ${backends.join(', ')}`;
}

const V1 = `outbound|9080|v1|${host('reviews')}`;
const V2 = `outbound|9080|v2|${host('reviews')}`;
const V3 = `outbound|9080|v3|${host('reviews')}`;
const REVIEWS = `outbound|9080||${host('reviews')}`;

const SUBSETS = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
---
`;

describe('served services and protocols', () => {
  it('one entry per bound service and TCP port, the protocol from appProtocol, default routes only', () => {
    const { table } = compile('');
    expect(
      table.servedServices.map((s) => [s.hostname, s.vips, s.ports.map((p) => `${p.port}/${p.protocol}`)]),
    ).toEqual([
      [host('reviews'), ['10.96.0.9'], ['9080/http', '9090/http']],
      [host('echo'), ['10.96.0.11'], ['7070/grpc']],
      [host('db'), ['10.96.0.12'], ['5432/tcp']],
      [host('plain'), ['10.96.0.13'], ['80/detect']],
    ]);
    expect(routes(table, host('reviews'), 9080).map(summary)).toEqual([`default:reviews#0 -> ${REVIEWS}@1`]);
    // TCP ports are proxied as bytes: no routes.
    expect(routes(table, host('db'), 5432)).toEqual([]);
    expect(cluster(table, REVIEWS).endpoints).toEqual([
      { workloadUid: 'shop/reviews-v1', ip: '10.244.1.1', port: 8080, ready: true },
      { workloadUid: 'shop/reviews-v2', ip: '10.244.1.2', port: 8080, ready: true },
      { workloadUid: 'shop/reviews-v3', ip: '10.244.1.3', port: 8080, ready: false },
    ]);
  });
});

describe('VirtualService', () => {
  it('keeps rule order (first match wins), splits by weight into subsets, and falls through to the default route', () => {
    const { table } = compile(`${SUBSETS}apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews]
  http:
  - name: jason
    match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - match: [{uri: {prefix: /API}, ignoreUriCase: true}, {method: {exact: POST}}]
    route:
    - {destination: {host: reviews, subset: v1}, weight: 90}
    - {destination: {host: reviews, subset: v3}, weight: 10}
    - {destination: {host: reviews, subset: v2}, weight: 0}
`);
    const compiled = routes(table, host('reviews'), 9080);
    expect(compiled.map(summary)).toEqual([
      `VirtualService:reviews#0 -> ${V2}@100`,
      `VirtualService:reviews#1 -> ${V1}@90, ${V3}@10, ${V2}@0`,
      `default:reviews#0 -> ${REVIEWS}@1`,
    ]);
    expect(compiled[0]!.origin.ruleName).toBe('jason');
    expect(compiled[0]!.matches).toEqual([
      {
        headers: [{ name: 'end-user', match: { kind: 'exact', value: 'jason' }, invert: false }],
        queryParams: [],
      },
    ]);
    expect(compiled[1]!.matches.map((m) => [m.path, m.method])).toEqual([
      [{ kind: 'prefix', value: '/API', ignoreCase: true }, undefined],
      [undefined, { kind: 'exact', value: 'POST' }],
    ]);
    // Subsets resolve to their labels and to the endpoints that carry them.
    expect(cluster(table, V1)).toMatchObject({
      selector: { version: 'v1' },
      destinationRule: 'shop/reviews',
    });
    expect(cluster(table, V1).endpoints.map((e) => e.ip)).toEqual(['10.244.1.1']);
    expect(cluster(table, V3).endpoints.map((e) => [e.ip, e.ready])).toEqual([['10.244.1.3', false]]);
    // The other port gets the same rules (no match restricts the port) with its own default.
    expect(routes(table, host('reviews'), 9090).map(summary).at(-1)).toBe(
      `default:reviews#0 -> outbound|9090||${host('reviews')}@1`,
    );
  });

  it('drops matches for other ports and other gateways, and a rule left with none; ignores source matches with a note', () => {
    const { table, notes } = compile(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews.shop.svc.cluster.local]
  http:
  - match: [{port: 9090, uri: {prefix: /admin}}]
    route: [{destination: {host: ratings}}]
  - match: [{uri: {prefix: /a}, gateways: [istio-system/ingress]}, {uri: {prefix: /b}, sourceLabels: {app: web}}]
    route: [{destination: {host: ratings}}]
`);
    expect(notes.map((note) => `${note.path}: ${note.message}`)).toEqual([
      'spec.http[1].match[1]: sourceLabels and sourceNamespace are ignored at a waypoint (as in Istio ambient): this match applies to every client',
    ]);
    expect(routes(table, host('reviews'), 9080).map((r) => r.matches.map((m) => m.path))).toEqual([
      [{ kind: 'prefix', value: '/b' }],
      [],
    ]);
    expect(routes(table, host('reviews'), 9090).map(summary)).toEqual([
      // A destination without port on a single-port service goes to that port.
      `VirtualService:reviews#0 -> outbound|9080||${host('ratings')}@100`,
      `VirtualService:reviews#1 -> outbound|9080||${host('ratings')}@100`,
      `default:reviews#0 -> outbound|9090||${host('reviews')}@1`,
    ]);
  });

  it('applies only when bound to the mesh, in the service or waypoint namespace, exported there; the most specific host wins', () => {
    const vs = (
      name: string,
      namespace: string,
      hosts: string,
      extra = '',
    ) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}, namespace: ${namespace}}
spec: {hosts: ${hosts}, ${extra} http: [{directResponse: {status: 200}}]}
---
`;
    const { table } = compile(
      vs('ingress-only', 'shop', '[reviews]', 'gateways: [ingress],') +
        vs('other-namespace', 'legacy', '[reviews.shop.svc.cluster.local]') +
        vs('hidden', 'shop', '[reviews]', 'exportTo: [legacy],') +
        vs('wildcard', 'shop', '["*.shop.svc.cluster.local"]') +
        vs('exact', 'shop', '[reviews]', 'gateways: [mesh, ingress],'),
    );
    expect(routes(table, host('reviews'), 9080).map((r) => r.origin.name)).toEqual(['exact']);
    expect(routes(table, host('echo'), 7070).map((r) => r.origin.name)).toEqual(['wildcard']);
  });

  it('replaces a delegate rule by the delegate rules, each match narrowed by the root, in the delegate namespace', () => {
    const { table, notes } = compile(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: root, namespace: shop}
spec:
  hosts: [reviews]
  http:
  - match: [{uri: {prefix: /api}}]
    delegate: {name: api, namespace: shop}
  - match: [{uri: {prefix: /gone}}]
    delegate: {name: missing}
  - route: [{destination: {host: reviews}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: shop}
spec:
  http:
  - match: [{uri: {prefix: /api/v2}, headers: {x-beta: {exact: "1"}}}, {uri: {prefix: /other}}]
    route: [{destination: {host: ratings}}]
  - route: [{destination: {host: reviews, port: {number: 9090}}}]
`);
    const compiled = routes(table, host('reviews'), 9080);
    expect(compiled.map(summary)).toEqual([
      `VirtualService:api#0 -> outbound|9080||${host('ratings')}@100`,
      `VirtualService:api#1 -> outbound|9090||${host('reviews')}@100`,
      `VirtualService:root#2 -> ${REVIEWS}@100`,
    ]);
    // /other is outside the root's /api: that pair cannot match and is dropped.
    expect(compiled[0]!.matches).toEqual([
      {
        path: { kind: 'prefix', value: '/api/v2' },
        headers: [{ name: 'x-beta', match: { kind: 'exact', value: '1' }, invert: false }],
        queryParams: [],
      },
    ]);
    expect(compiled[0]!.origin.delegatedFrom).toEqual({ namespace: 'shop', name: 'root', rule: 0 });
    // A delegate rule without matches takes the root's.
    expect(compiled[1]!.matches.map((m) => m.path)).toEqual([{ kind: 'prefix', value: '/api' }]);
    expect(notes).toEqual([
      {
        kind: 'VirtualService',
        namespace: 'shop',
        name: 'root',
        path: 'spec.http[1].delegate',
        message: 'delegate VirtualService shop/missing does not exist (or has hosts): the rule is skipped',
      },
    ]);
  });

  it('carries header operations, rewrite, CORS, retries, timeout, fault and mirrors as data', () => {
    const { table } = compile(`${SUBSETS}apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews]
  http:
  - match: [{uri: {prefix: /v1}, withoutHeaders: {x-skip: {}}, queryParams: {debug: {exact: "1"}}}]
    headers:
      request: {set: {X-Route: a}, add: {X-Trace: b}, remove: [X-Drop]}
      response: {set: {Cache-Control: no-store}}
    route:
    - destination: {host: reviews, subset: v1}
      headers: {request: {add: {X-Subset: v1}}, response: {remove: [Server]}}
    rewrite: {uri: /v2, authority: reviews-v2}
    corsPolicy: {allowOrigins: [{exact: "https://a.example"}], allowMethods: [GET], maxAge: 24h, unmatchedPreflights: IGNORE}
    retries: {attempts: 3, perTryTimeout: 2s, retryOn: "5xx,503,gateway-error"}
    timeout: 10s
    fault: {delay: {fixedDelay: 5s, percentage: {value: 10}}, abort: {httpStatus: 503}}
    mirror: {host: ratings}
    mirrorPercentage: {value: 25.5}
  - match: [{uri: {regex: "/svc/[^/]+/.*"}}]
    rewrite: {uriRegexRewrite: {match: "^/svc/([^/]+)/", rewrite: "/\\\\1/"}}
    mirrors: [{destination: {host: ratings}}, {destination: {host: reviews, subset: v2}, percentage: {value: 0}}]
    route: [{destination: {host: reviews}}]
`);
    const [first, second] = routes(table, host('reviews'), 9080);
    expect(first).toMatchObject({
      matches: [
        {
          path: { kind: 'prefix', value: '/v1' },
          headers: [{ name: 'x-skip', match: { kind: 'present' }, invert: true }],
          queryParams: [{ name: 'debug', match: { kind: 'exact', value: '1' }, invert: false }],
        },
      ],
      requestHeaders: {
        set: [{ name: 'x-route', value: 'a' }],
        add: [{ name: 'x-trace', value: 'b' }],
        remove: ['x-drop'],
      },
      responseHeaders: { set: [{ name: 'cache-control', value: 'no-store' }], add: [], remove: [] },
      action: {
        backends: [
          {
            cluster: V1,
            requestHeaders: { set: [], add: [{ name: 'x-subset', value: 'v1' }], remove: [] },
            responseHeaders: { set: [], add: [], remove: ['server'] },
          },
        ],
      },
      rewrite: { path: { kind: 'prefix', value: '/v2' }, authority: 'reviews-v2' },
      cors: {
        allowOrigins: [{ kind: 'exact', value: 'https://a.example' }],
        allowMethods: ['GET'],
        maxAgeSeconds: 86400,
        allowCredentials: false,
        unmatchedPreflights: 'ignore',
      },
      retry: {
        attempts: 3,
        perTryTimeoutMs: 2000,
        retryOn: ['5xx', 'gateway-error', 'retriable-status-codes'],
        retriableStatusCodes: [503],
      },
      timeoutMs: 10_000,
      // An abort without percentage aborts nothing (Istio).
      fault: { delay: { fixedDelayMs: 5000, percentage: 10 }, abort: { httpStatus: 503, percentage: 0 } },
      mirrors: [{ cluster: `outbound|9080||${host('ratings')}`, percentage: 25.5 }],
    });
    expect(second).toMatchObject({
      rewrite: { path: { kind: 'regex', regex: '^/svc/([^/]+)/', substitution: '/\\1/' } },
      // Istio's default retry policy when the route says nothing.
      retry: {
        attempts: 2,
        retryOn: ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes'],
        retriableStatusCodes: [],
        backoffBaseMs: 25,
      },
      mirrors: [
        { cluster: `outbound|9080||${host('ratings')}`, percentage: 100 },
        { cluster: V2, percentage: 0 },
      ],
    });
    expect(second!.timeoutMs).toBeUndefined();
  });

  it('compiles redirects and direct responses', () => {
    const { table } = compile(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews]
  http:
  - match: [{uri: {exact: /old}}]
    redirect: {uri: /new, authority: shop.example, derivePort: FROM_PROTOCOL_DEFAULT, scheme: https}
  - match: [{uri: {exact: /moved}}]
    redirect: {uri: /there, redirectCode: 308, port: 8443}
  - match: [{uri: {exact: /teapot}}]
    directResponse: {status: 418, body: {string: "short and stout"}}
  - directResponse: {status: 503, body: {bytes: "ZG93bg=="}}
`);
    const compiled = routes(table, host('reviews'), 9080);
    expect(compiled.map((route) => route.action)).toEqual([
      {
        kind: 'redirect',
        status: 301,
        scheme: 'https',
        host: 'shop.example',
        port: 'fromScheme',
        path: { kind: 'full', value: '/new' },
      },
      { kind: 'redirect', status: 308, port: 8443, path: { kind: 'full', value: '/there' } },
      { kind: 'directResponse', status: 418, body: 'short and stout', bodyEncoding: 'utf8' },
      { kind: 'directResponse', status: 503, body: 'ZG93bg==', bodyEncoding: 'base64' },
    ]);
    // The last rule takes everything: no default route after it.
    expect(compiled).toHaveLength(4);
  });
});

describe('HTTPRoute (GAMMA)', () => {
  const route = (
    name: string,
    rules: string,
    parent = '{group: "", kind: Service, name: reviews}',
  ) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ${name}, namespace: shop}
spec:
  parentRefs: [${parent}]
  rules:
${rules}
---
`;
  it('sorts matches by precedence: exact, longest prefix, method, most headers, most query params; ties by name and rule order', () => {
    const { table } = compile(
      route(
        'b-route',
        `  - matches: [{path: {type: PathPrefix, value: /api}}]
    backendRefs: [{name: ratings, port: 9080}]
  - matches: [{path: {type: PathPrefix, value: /api}, headers: [{name: x-a, value: "1"}]}]
    backendRefs: [{name: ratings, port: 9080}]
  - matches: [{path: {type: PathPrefix, value: /api}, queryParams: [{name: q, value: "1"}]}]
    backendRefs: [{name: ratings, port: 9080}]`,
      ) +
        route(
          'a-route',
          `  - matches: [{path: {type: PathPrefix, value: /api}, method: GET}, {path: {type: PathPrefix, value: /api/v1}}]
    backendRefs: [{name: reviews, port: 9080}]
  - matches: [{path: {type: Exact, value: /api}}, {path: {type: RegularExpression, value: "/api/.*"}}, {path: {type: PathPrefix, value: /api}}]
    backendRefs: [{name: reviews, port: 9080}]`,
        ),
    );
    const compiled = routes(table, host('reviews'), 9080);
    expect(compiled.map((r) => `${r.origin.name}#${r.origin.rule} ${JSON.stringify(r.matches[0])}`)).toEqual([
      `a-route#1 ${JSON.stringify({ path: { kind: 'exact', value: '/api' }, headers: [], queryParams: [] })}`,
      `a-route#0 ${JSON.stringify({ path: { kind: 'pathPrefix', value: '/api/v1' }, headers: [], queryParams: [] })}`,
      `a-route#0 ${JSON.stringify({ path: { kind: 'pathPrefix', value: '/api' }, method: { kind: 'exact', value: 'GET' }, headers: [], queryParams: [] })}`,
      `b-route#1 ${JSON.stringify({ path: { kind: 'pathPrefix', value: '/api' }, headers: [{ name: 'x-a', match: { kind: 'exact', value: '1' }, invert: false }], queryParams: [] })}`,
      `b-route#2 ${JSON.stringify({ path: { kind: 'pathPrefix', value: '/api' }, headers: [], queryParams: [{ name: 'q', match: { kind: 'exact', value: '1' }, invert: false }] })}`,
      // Same rank: a-route before b-route (by name), whatever the order they were applied in.
      `a-route#1 ${JSON.stringify({ path: { kind: 'pathPrefix', value: '/api' }, headers: [], queryParams: [] })}`,
      `b-route#0 ${JSON.stringify({ path: { kind: 'pathPrefix', value: '/api' }, headers: [], queryParams: [] })}`,
      // Istio ranks regexes after prefixes.
      `a-route#1 ${JSON.stringify({ path: { kind: 'regex', regex: '/api/.*' }, headers: [], queryParams: [] })}`,
      // No default route: a request no HTTPRoute matches gets a 404, as the Gateway API requires.
    ]);
  });

  it('weights: a zero weight gets nothing, all zero answer 500, invalid refs answer 500 for their share, no backendRefs mean the parent Service', () => {
    const { table } = compile(
      route(
        'split',
        `  - matches: [{path: {type: Exact, value: /zero}}]
    backendRefs: [{name: reviews, port: 9080, weight: 0}, {name: ratings, port: 9080, weight: 0}]
  - matches: [{path: {type: Exact, value: /none}}]
  - matches: [{path: {type: Exact, value: /mixed}}]
    backendRefs:
    - {name: reviews, port: 9080, weight: 8}
    - {name: ratings, port: 9080, weight: 0}
    - {name: ledger, namespace: legacy, port: 80, weight: 1}
    - {name: nosuch, port: 80, weight: 1}
    - {group: example.com, kind: Bucket, name: b, weight: 1}`,
      ),
    );
    const compiled = routes(table, host('reviews'), 9080);
    // Exact paths, the longest first.
    expect(compiled.slice(0, 3).map(summary)).toEqual([
      `HTTPRoute:split#2 -> ${REVIEWS}@8, outbound|9080||${host('ratings')}@0, invalid@1, invalid@1, invalid@1`,
      'HTTPRoute:split#0 directResponse 500',
      `HTTPRoute:split#1 -> ${REVIEWS}@1`,
    ]);
    const action = compiled[0]!.action;
    expect(
      action.kind === 'forward' && action.backends.map((b) => (b.kind === 'invalid' ? b.reason : b.kind)),
    ).toEqual([
      'cluster',
      'cluster',
      'backendRef to Service legacy/ledger crosses namespaces, which needs a ReferenceGrant (none allows it)',
      'backendRef to Service shop/nosuch, which does not exist',
      'backendRef kind example.com/Bucket is not supported',
    ]);
  });

  it('compiles filters: header modifiers per rule and per backend, URLRewrite, RequestRedirect, RequestMirror, timeouts, retry', () => {
    const { table } = compile(
      route(
        'filters',
        `  - matches: [{path: {type: PathPrefix, value: /store/}}]
    filters:
    - {type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: X-Env, value: prod}], remove: [X-Debug]}}
    - {type: ResponseHeaderModifier, responseHeaderModifier: {add: [{name: X-Via, value: wp}]}}
    - {type: URLRewrite, urlRewrite: {hostname: store.internal, path: {type: ReplacePrefixMatch, replacePrefixMatch: /}}}
    - {type: RequestMirror, requestMirror: {backendRef: {name: ratings, port: 9080}, fraction: {numerator: 1, denominator: 4}}}
    backendRefs:
    - name: reviews
      port: 9080
      filters: [{type: RequestHeaderModifier, requestHeaderModifier: {add: [{name: X-Backend, value: reviews}]}}]
    timeouts: {request: 5s, backendRequest: 1s}
    retry: {attempts: 4, codes: [502, 503], backoff: 100ms}
  - matches: [{path: {type: PathPrefix, value: /http}}]
    filters: [{type: RequestRedirect, requestRedirect: {scheme: https, statusCode: 301}}]
  - matches: [{path: {type: PathPrefix, value: /elsewhere}}]
    filters: [{type: RequestRedirect, requestRedirect: {hostname: other.example, path: {type: ReplaceFullPath, replaceFullPath: /x}}}]`,
      ),
    );
    // By prefix length: /elsewhere, /store, /http.
    const [elsewhere, store, http] = routes(table, host('reviews'), 9080);
    expect(store).toMatchObject({
      matches: [{ path: { kind: 'pathPrefix', value: '/store' } }],
      requestHeaders: { set: [{ name: 'x-env', value: 'prod' }], add: [], remove: ['x-debug'] },
      responseHeaders: { set: [], add: [{ name: 'x-via', value: 'wp' }], remove: [] },
      rewrite: { path: { kind: 'replacePrefixMatch', value: '/' }, authority: 'store.internal' },
      mirrors: [{ cluster: `outbound|9080||${host('ratings')}`, percentage: 25 }],
      action: {
        kind: 'forward',
        backends: [
          { cluster: REVIEWS, weight: 1, requestHeaders: { add: [{ name: 'x-backend', value: 'reviews' }] } },
        ],
      },
      timeoutMs: 5000,
      retry: { attempts: 4, perTryTimeoutMs: 1000, retriableStatusCodes: [502, 503], backoffBaseMs: 100 },
    });
    // Without a port: the scheme's default when the scheme changes, else the request's port.
    expect(http!.action).toEqual({ kind: 'redirect', status: 301, scheme: 'https', port: 'fromScheme' });
    expect(elsewhere!.action).toEqual({
      kind: 'redirect',
      status: 302,
      host: 'other.example',
      port: 'fromRequest',
      path: { kind: 'full', value: '/x' },
    });
  });

  it('attaches by parentRef port; takes over from VirtualServices; ignores consumer routes with a note', () => {
    const { table, notes } = compile(
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec: {hosts: [reviews], http: [{directResponse: {status: 200}}]}
---
` +
        route(
          'admin-only',
          `  - backendRefs: [{name: reviews, port: 9090}]`,
          '{group: "", kind: Service, name: reviews, port: 9090}',
        ) +
        `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: consumer, namespace: legacy}
spec:
  parentRefs: [{group: "", kind: Service, name: reviews, namespace: shop}]
  rules: [{backendRefs: [{name: ledger, port: 80}]}]
`,
    );
    expect(routes(table, host('reviews'), 9090).map(summary)).toEqual([
      `HTTPRoute:admin-only#0 -> outbound|9090||${host('reviews')}@1`,
    ]);
    // Port 9080 has no HTTPRoute, and the VirtualService no longer applies to the service: default only.
    expect(routes(table, host('reviews'), 9080).map(summary)).toEqual([`default:reviews#0 -> ${REVIEWS}@1`]);
    expect(notes.map((note) => `${note.kind} ${note.namespace}/${note.name}: ${note.message}`)).toEqual([
      "HTTPRoute legacy/consumer: consumer routes (a route in another namespace than Service shop/reviews) are not supported by Ambit's waypoint: the route is ignored",
    ]);
  });
});

describe('consumer routes alone', () => {
  it('are ignored with a note, and the VirtualService keeps routing the service', () => {
    const { table, notes } = compile(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec: {hosts: [reviews], http: [{directResponse: {status: 204}}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: consumer, namespace: legacy}
spec:
  parentRefs: [{group: "", kind: Service, name: reviews, namespace: shop}]
  rules: [{backendRefs: [{name: ledger, port: 80}]}]
`);
    expect(routes(table, host('reviews'), 9080).map(summary)).toEqual([
      'VirtualService:reviews#0 directResponse 204',
    ]);
    expect(notes.map((note) => `${note.kind} ${note.namespace}/${note.name} ${note.path}`)).toEqual([
      'HTTPRoute legacy/consumer spec.parentRefs',
    ]);
  });
});

describe('GRPCRoute', () => {
  it('matches methods on the path, sorted by exact service then method length, before HTTPRoutes', () => {
    const { table } = compile(`apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: echo, namespace: shop}
spec:
  parentRefs: [{group: "", kind: Service, name: echo}]
  rules:
  - matches: [{method: {service: echo.v1.Echo}}]
    backendRefs: [{name: echo, port: 7070}]
  - matches: [{method: {service: echo.v1.Echo, method: Say}, headers: [{name: x-canary, value: "1"}]}]
    backendRefs: [{name: echo, port: 7070}]
  - matches: [{method: {method: Ping}}, {method: {type: RegularExpression, service: "echo\\\\.v[0-9]+\\\\.Echo"}}]
    backendRefs: [{name: echo, port: 7070}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: echo-http, namespace: shop}
spec:
  parentRefs: [{group: "", kind: Service, name: echo}]
  rules: [{matches: [{path: {type: Exact, value: /healthz}}], backendRefs: [{name: echo, port: 7070}]}]
`);
    expect(
      routes(table, host('echo'), 7070).map((r) => [`${r.origin.kind}#${r.origin.rule}`, r.matches[0]?.path]),
    ).toEqual([
      ['GRPCRoute#1', { kind: 'exact', value: '/echo.v1.Echo/Say' }],
      ['GRPCRoute#0', { kind: 'prefix', value: '/echo.v1.Echo/' }],
      ['GRPCRoute#2', { kind: 'regex', regex: '/[^/]+/Ping' }],
      ['GRPCRoute#2', { kind: 'regex', regex: '/(?:echo\\.v[0-9]+\\.Echo)/(?:[^/]+)' }],
      ['HTTPRoute#0', { kind: 'exact', value: '/healthz' }],
    ]);
  });
});

describe('DestinationRule', () => {
  const dr = (name: string, namespace: string, body: string) =>
    document('networking.istio.io/v1', 'DestinationRule', name, namespace, body);
  it('picks the waypoint namespace first, then the service namespace, then the root; exact host before wildcard', () => {
    const lb = (simple: string) => `  trafficPolicy: {loadBalancer: {simple: ${simple}}}`;
    const { table } = compile(
      dr('root', 'istio-system', `  host: reviews.shop.svc.cluster.local\n${lb('RANDOM')}`) +
        dr('wild', 'shop', `  host: "*.shop.svc.cluster.local"\n${lb('ROUND_ROBIN')}`) +
        dr('exact', 'shop', `  host: reviews\n${lb('LEAST_CONN')}`) +
        dr(
          'selector',
          'shop',
          `  host: reviews\n  workloadSelector: {matchLabels: {app: x}}\n${lb('PASSTHROUGH')}`,
        ) +
        dr('ledger-home', 'legacy', `  host: ledger\n${lb('RANDOM')}`) +
        dr('ledger-root', 'istio-system', `  host: ledger.legacy.svc.cluster.local\n${lb('ROUND_ROBIN')}`) +
        `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: shop}
spec:
  hosts: [echo]
  http:
  - route:
    - {destination: {host: ledger.legacy.svc.cluster.local}, weight: 50}
    - {destination: {host: reviews, port: {number: 9080}}, weight: 50}
    - {destination: {host: echo}, weight: 0}
`,
    );
    expect(cluster(table, REVIEWS)).toMatchObject({
      destinationRule: 'shop/exact',
      policy: { loadBalancer: { kind: 'LEAST_REQUEST' } },
    });
    expect(cluster(table, `outbound|7070||${host('echo')}`)).toMatchObject({ destinationRule: 'shop/wild' });
    // Neither in the waypoint's namespace: the service's own namespace beats the root.
    expect(cluster(table, `outbound|80||${host('ledger', 'legacy')}`)).toMatchObject({
      destinationRule: 'legacy/ledger-home',
      policy: { loadBalancer: { kind: 'RANDOM' } },
    });
  });

  it('merges port-level and subset settings as Istio does, and compiles consistent hashing', () => {
    const { table } = compile(
      dr(
        'reviews',
        'shop',
        `  host: reviews
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    connectionPool: {tcp: {maxConnections: 100}}
    outlierDetection: {consecutive5xxErrors: 7}
    portLevelSettings:
    - port: {number: 9090}
      loadBalancer: {simple: RANDOM}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      loadBalancer: {consistentHash: {httpCookie: {name: user, ttl: 60s}}}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      connectionPool: {http: {http1MaxPendingRequests: 1}}
      portLevelSettings:
      - port: {number: 9080}
        loadBalancer: {consistentHash: {httpHeaderName: X-User, maglev: {tableSize: 65537}}}`,
      ) +
        `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews]
  http:
  - match: [{uri: {prefix: /v1}}]
    route: [{destination: {host: reviews, subset: v1}}]
  - match: [{uri: {prefix: /v2}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - match: [{uri: {prefix: /v4}}]
    route: [{destination: {host: reviews, subset: v4}}]
`,
    );
    // Top level, no port-level entry for 9080.
    expect(cluster(table, REVIEWS).policy).toEqual({
      loadBalancer: { kind: 'ROUND_ROBIN' },
      connectionPool: { tcp: { maxConnections: 100 } },
      outlierDetection: { consecutive5xxErrors: 7 },
    });
    // Port-level settings replace the top level wholesale for their port (they do not inherit).
    expect(cluster(table, `outbound|9090||${host('reviews')}`).policy).toEqual({
      loadBalancer: { kind: 'RANDOM' },
    });
    // A subset overrides the fields it sets and inherits the others.
    expect(cluster(table, V1).policy).toEqual({
      loadBalancer: {
        kind: 'consistentHash',
        hashOn: { kind: 'cookie', name: 'user', ttlMs: 60_000 },
        table: { kind: 'ringHash', minimumRingSize: 1024 },
      },
      connectionPool: { tcp: { maxConnections: 100 } },
      outlierDetection: { consecutive5xxErrors: 7 },
    });
    // A subset's own port-level settings replace everything for that port.
    expect(cluster(table, V2).policy).toEqual({
      loadBalancer: {
        kind: 'consistentHash',
        hashOn: { kind: 'header', name: 'x-user' },
        table: { kind: 'maglev', tableSize: 65537 },
      },
    });
    // An undefined subset is a cluster that carries no traffic, with the reason.
    expect(cluster(table, `outbound|9080|v4|${host('reviews')}`)).toMatchObject({
      endpoints: [],
      problem: `no subset "v4" for ${host('reviews')} (not in DestinationRule shop/reviews)`,
    });
  });
});

describe('L7 AuthorizationPolicy', () => {
  const ap = (name: string, namespace: string, body: string) =>
    document('security.istio.io/v1', 'AuthorizationPolicy', name, namespace, body);
  it('keeps policies targeting the waypoint, its GatewayClass (from the root namespace) or a served service', () => {
    const { table } = compile(
      ap(
        'gateway',
        'shop',
        '  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: wp}]\n  rules: [{}]',
      ) +
        ap(
          'class',
          'istio-system',
          '  targetRefs: [{kind: GatewayClass, group: gateway.networking.k8s.io, name: istio-waypoint}]\n  action: DENY\n  rules: [{to: [{operation: {paths: [/admin]}}]}]',
        ) +
        ap(
          'class-elsewhere',
          'shop',
          '  targetRefs: [{kind: GatewayClass, group: gateway.networking.k8s.io, name: istio-waypoint}]\n  rules: [{}]',
        ) +
        ap(
          'service',
          'shop',
          '  targetRefs: [{kind: Service, group: "", name: reviews}, {kind: Service, group: "", name: ratings}]\n  action: AUDIT\n  rules: [{}]',
        ) +
        ap('unserved', 'shop', '  targetRefs: [{kind: Service, group: "", name: ratings}]\n  rules: [{}]') +
        ap(
          'other-gateway',
          'shop',
          '  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: other}]\n  rules: [{}]',
        ),
    );
    expect(table.authorization.map((p) => [`${p.namespace}/${p.name}`, p.action, p.appliesTo])).toEqual([
      ['istio-system/class', 'DENY', { kind: 'waypoint' }],
      ['shop/gateway', 'ALLOW', { kind: 'waypoint' }],
      ['shop/service', 'AUDIT', { kind: 'services', hostnames: [host('reviews')] }],
    ]);
  });

  it('types every matcher once, folds service accounts into principals, and fails closed on what it cannot evaluate', () => {
    const { table, notes } = compile(
      ap(
        'rich',
        'shop',
        `  targetRefs: [{kind: Service, group: "", name: reviews}]
  rules:
  - from: [{source: {serviceAccounts: [frontend, legacy/batch], notNamespaces: ["*-test"], ipBlocks: [10.0.0.0/8]}}]
    to: [{operation: {hosts: [Reviews.Shop, "*.example"], methods: [GET], paths: ["/api/{*}/items", "/static*", "*"], notPorts: ["9090"]}}]
    when:
    - {key: "request.headers[X-Tenant]", values: ["acme*"]}
    - {key: source.ip, notValues: [192.0.2.0/24]}
    - {key: destination.port, values: ["9080"]}
  - from: [{source: {requestPrincipals: ["*"]}}]
  - when: [{key: "request.auth.claims[group]", values: [admin]}]`,
      ) +
        ap(
          'deny-jwt',
          'shop',
          `  targetRefs: [{kind: Service, group: "", name: reviews}]
  action: DENY
  rules: [{from: [{source: {notRequestPrincipals: ["*"], namespaces: [legacy]}}]}]`,
        ) +
        ap(
          'ext',
          'shop',
          `  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: wp}]
  action: CUSTOM
  provider: {name: opa}
  rules: [{to: [{operation: {paths: [/admin]}}]}]`,
        ),
    );
    const [denyJwt, ext, rich] = table.authorization;
    expect(rich!.rules).toEqual([
      {
        from: [
          {
            principals: [
              { kind: 'exact', value: 'cluster.local/ns/shop/sa/frontend' },
              { kind: 'exact', value: 'cluster.local/ns/legacy/sa/batch' },
            ],
            notPrincipals: [],
            namespaces: [],
            notNamespaces: [{ kind: 'suffix', value: '-test' }],
            ipBlocks: ['10.0.0.0/8'],
            notIpBlocks: [],
            remoteIpBlocks: [],
            notRemoteIpBlocks: [],
          },
        ],
        to: [
          {
            hosts: [
              { kind: 'exact', value: 'reviews.shop' },
              { kind: 'suffix', value: '.example' },
            ],
            notHosts: [],
            ports: [],
            notPorts: [9090],
            methods: [{ kind: 'exact', value: 'GET' }],
            notMethods: [],
            paths: [
              { kind: 'template', segments: ['api', '{*}', 'items'] },
              { kind: 'prefix', value: '/static' },
              { kind: 'any' },
            ],
            notPaths: [],
          },
        ],
        when: [
          {
            kind: 'string',
            key: { kind: 'requestHeader', name: 'x-tenant' },
            values: [{ kind: 'prefix', value: 'acme' }],
            notValues: [],
          },
          { kind: 'ip', key: { kind: 'sourceIp' }, values: [], notValues: ['192.0.2.0/24'] },
          {
            kind: 'string',
            key: { kind: 'destinationPort' },
            values: [{ kind: 'exact', value: '9080' }],
            notValues: [],
          },
        ],
      },
    ]);
    // The DENY keeps its rule without the JWT part (denies more); CUSTOM becomes DENY.
    expect(denyJwt!.rules[0]!.from[0]!.namespaces).toEqual([{ kind: 'exact', value: 'legacy' }]);
    expect([ext!.action, ext!.rules.length]).toEqual(['DENY', 1]);
    expect(
      notes.map((note) => `${note.kind} ${note.namespace}/${note.name} ${note.path}: ${note.message}`),
    ).toEqual([
      'AuthorizationPolicy shop/rich spec.rules[1]: the waypoint cannot evaluate requestPrincipals (no JWT authentication): this ALLOW rule is dropped and allows nothing',
      'AuthorizationPolicy shop/rich spec.rules[2]: the waypoint cannot evaluate when request.auth.claims[group] (no JWT authentication): this ALLOW rule is dropped and allows nothing',
      'AuthorizationPolicy shop/deny-jwt spec.rules[0]: the waypoint cannot evaluate notRequestPrincipals (no JWT authentication): this DENY rule applies without it',
      'AuthorizationPolicy shop/ext spec.action: CUSTOM (external authorization) is not supported by Ambit: the waypoint denies the requests its rules match instead of asking the provider',
    ]);
  });
});

describe('served workloads (a waypoint for `workload` or `all`)', () => {
  const table = compileRouteTable({
    waypoint: WAYPOINT,
    served: [],
    // reviews-v1 is behind reviews on 8080 and 8090; ratings-v1 on 9080; reviews-v3 unready; a pod no
    // Service selects has no port to serve.
    servedWorkloads: pods
      .filter((pod) => pod.name !== 'reviews-v2')
      .concat(workload({ name: 'lone', namespace: 'shop', ips: ['10.244.9.9'] })),
    services: SERVICES,
    workloads: pods,
    ...NO_L7_CONFIG,
  }).table;
  it('passes the boundary check and adds no served services', () => {
    expect(routeTableProblems(table)).toEqual([]);
    expect(table.servedServices).toEqual([]);
  });
  it.each<[string, string[], string[], boolean]>([
    ['reviews-v1', ['10.244.1.1'], ['8080/detect', '8090/detect'], true],
    ['reviews-v3', ['10.244.1.3'], ['8080/detect', '8090/detect'], false],
    ['ratings-v1', ['10.244.1.4'], ['9080/detect'], true],
    ['lone', ['10.244.9.9'], [], true],
  ])('%s: by pod IPs %j on %j, a default route to the pod alone (ready %s)', (name, ips, ports, ready) => {
    const entry = table.servedWorkloads?.find((candidate) => candidate.name === name);
    expect(entry).toMatchObject({ uid: `shop/${name}`, hostname: ips[0], vips: ips });
    expect(entry?.ports.map((p) => `${p.port}/${p.protocol}`)).toEqual(ports);
    for (const port of entry?.ports ?? []) {
      expect(port.routes.map(summary)).toEqual([`default:${name}#0 -> outbound|${port.port}||${ips[0]}@1`]);
      expect(cluster(table, `outbound|${port.port}||${ips[0]}`)).toMatchObject({
        protocol: 'detect',
        endpoints: [{ workloadUid: entry?.uid, ip: ips[0], port: port.port, ready }],
      });
    }
  });
});
