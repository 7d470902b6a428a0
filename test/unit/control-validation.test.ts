/**
 * Validation of every kind the control plane accepts: a realistic valid set (Kubernetes/Istio YAML as users
 * write it) parses without errors, and a table of invalid documents gets exactly the errors listed, each
 * naming file, document, resource and field.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { analyzeResources } from '../../src/control/config/analyze.ts';
import { parseFiles } from '../../src/control/config/parse.ts';
import { CONTROL_KINDS, resolveKind } from '../../src/control/kinds.ts';
import { formatIssue } from '../../src/core/config/issues.ts';
import { compileRe2 } from '../../src/core/config/regex.ts';

function check(text: string, file = 'c.yaml') {
  const parsed = parseFiles([{ name: file, content: text }], CONTROL_KINDS);
  return { parsed, messages: parsed.issues.map(formatIssue) };
}

const bookinfo = readFileSync(new URL('../fixtures/control/bookinfo.yaml', import.meta.url), 'utf8');

describe('valid config', () => {
  it('accepts a realistic set of every kind and keeps typed specs', () => {
    const { parsed, messages } = check(bookinfo, 'bookinfo.yaml');
    expect(messages).toEqual([]);
    expect(parsed.resources.map((r) => r.kind)).toEqual([
      'Namespace',
      'Service',
      'VirtualService',
      'DestinationRule',
      'AuthorizationPolicy',
      'PeerAuthentication',
      'Gateway',
      'HTTPRoute',
    ]);
    const vs = parsed.resources[2]!.spec as {
      http: { timeout?: number; fault?: { delay?: { fixedDelay: number } }; route: { weight: number }[] }[];
    };
    expect(vs.http[0]!.fault!.delay!.fixedDelay).toBe(1500);
    expect(vs.http[1]!.timeout).toBe(100);
    // A lone destination weighs 100; explicit weights are kept.
    expect(vs.http[0]!.route.map((r) => r.weight)).toEqual([100]);
    expect(vs.http[1]!.route.map((r) => r.weight)).toEqual([90, 10]);
  });

  it('accepts every served API version', () => {
    for (const version of [
      'networking.istio.io/v1',
      'networking.istio.io/v1beta1',
      'networking.istio.io/v1alpha3',
    ]) {
      expect(
        check(`apiVersion: ${version}\nkind: DestinationRule\nmetadata: {name: d}\nspec: {host: reviews}\n`)
          .messages,
      ).toEqual([]);
    }
    for (const version of ['security.istio.io/v1', 'security.istio.io/v1beta1']) {
      expect(
        check(
          `apiVersion: ${version}\nkind: PeerAuthentication\nmetadata: {name: p}\nspec: {mtls: {mode: STRICT}}\n`,
        ).messages,
      ).toEqual([]);
    }
    expect(
      check('apiVersion: security.istio.io/v2\nkind: PeerAuthentication\nmetadata: {name: p}\n').messages,
    ).toEqual([
      'c.yaml: document 1 (PeerAuthentication default/p): apiVersion: PeerAuthentication is served as security.istio.io/v1 or security.istio.io/v1beta1, not "security.istio.io/v2"',
    ]);
  });

  it('accepts an AuthorizationPolicy without spec (allow nothing) and one with {} rules (allow all)', () => {
    const { parsed, messages } = check(
      'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: deny-all, namespace: foo}\n---\n' +
        'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: allow-all, namespace: foo}\nspec: {rules: [{}]}\n',
    );
    expect(messages).toEqual([]);
    expect(parsed.resources.map((r) => (r.spec as { rules: unknown[] }).rules.length)).toEqual([0, 1]);
  });
});

describe('GRPCRoute', () => {
  it('keeps method matches, header matches, filters and weighted backends', () => {
    const { parsed, messages } = check(`apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: echo, namespace: shop}
spec:
  parentRefs: [{group: "", kind: Service, name: echo, port: 7070}]
  rules:
  - matches: [{method: {service: echo.v1.Echo, method: Say}, headers: [{name: x-canary, value: "1"}]}]
    filters: [{type: ResponseHeaderModifier, responseHeaderModifier: {add: [{name: x-via, value: wp}]}}]
    backendRefs: [{name: echo-v2, port: 7070, weight: 3}, {name: echo, port: 7070}]
  - backendRefs: [{name: echo, port: 7070}]`);
    expect(messages).toEqual([]);
    expect(parsed.resources[0]!.spec).toEqual({
      parentRefs: [{ group: '', kind: 'Service', name: 'echo', port: 7070 }],
      hostnames: [],
      rules: [
        {
          matches: [
            {
              method: { type: 'Exact', service: 'echo.v1.Echo', method: 'Say' },
              headers: [{ type: 'Exact', name: 'x-canary', value: '1' }],
            },
          ],
          filters: [
            {
              type: 'ResponseHeaderModifier',
              responseHeaderModifier: { set: [], add: [{ name: 'x-via', value: 'wp' }], remove: [] },
            },
          ],
          backendRefs: [
            { group: '', kind: 'Service', name: 'echo-v2', port: 7070, weight: 3, filters: [] },
            { group: '', kind: 'Service', name: 'echo', port: 7070, weight: 1, filters: [] },
          ],
        },
        {
          matches: [],
          filters: [],
          backendRefs: [{ group: '', kind: 'Service', name: 'echo', port: 7070, weight: 1, filters: [] }],
        },
      ],
    });
  });
});

const INVALID: { name: string; yaml: string; errors: string[] }[] = [
  {
    name: 'VirtualService: route with redirect, negative weight',
    yaml: `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r, namespace: bookinfo}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews}
      weight: -1
    redirect: {uri: /x}`,
    errors: [
      'c.yaml: document 1 (VirtualService bookinfo/r): spec.http[0]: route and redirect cannot be used together in one HTTP route',
      'c.yaml: document 1 (VirtualService bookinfo/r): spec.http[0].route[0].weight: must be at least 0, got -1',
    ],
  },
  {
    name: 'VirtualService: regexes RE2 rejects, two match types',
    yaml: `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r}
spec:
  hosts: [reviews]
  http:
  - match: [{uri: {regex: "(?<=a)b"}}, {headers: {x: {regex: "a("}}}, {uri: {exact: a, prefix: b}}]
    route: [{destination: {host: reviews}}]`,
    errors: [
      'c.yaml: document 1 (VirtualService default/r): spec.http[0].match[0].uri.regex: lookahead and lookbehind assertions are not supported by RE2 (Istio uses RE2 syntax) in "(?<=a)b"',
      'c.yaml: document 1 (VirtualService default/r): spec.http[0].match[1].headers.x.regex: invalid regex: /a(/: Unterminated group in "a("',
      'c.yaml: document 1 (VirtualService default/r): spec.http[0].match[2].uri: exact and prefix are mutually exclusive: set only one',
    ],
  },
  {
    name: 'VirtualService: durations, percentages, status codes, weights',
    yaml: `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r}
spec:
  hosts: [reviews]
  http:
  - timeout: 10
    retries: {attempts: 0, perTryTimeout: 2x}
    fault: {delay: {fixedDelay: 1s, percentage: {value: 150}}, abort: {httpStatus: 700}}
    route: [{destination: {host: reviews}, weight: 0}, {destination: {host: ratings}}]`,
    errors: [
      'c.yaml: document 1 (VirtualService default/r): spec.http[0].route: total destination weight is 0: give some destination a weight',
      'c.yaml: document 1 (VirtualService default/r): spec.http[0].timeout: expected a string, got number 10',
      'c.yaml: document 1 (VirtualService default/r): spec.http[0].retries.perTryTimeout: invalid duration "2x": use a number with a unit, e.g. 1.5s or 100ms',
      'c.yaml: document 1 (VirtualService default/r): spec.http[0].fault.delay.percentage.value: must be at most 100, got 150',
      'c.yaml: document 1 (VirtualService default/r): spec.http[0].fault.abort.httpStatus: must be at most 599, got 700',
    ],
  },
  {
    name: 'VirtualService: hosts and subset names',
    yaml: `apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: r}
spec:
  hosts: ["*", "a..b"]
  tcp: [{route: [{destination: {host: reviews, subset: V1}}]}]`,
    errors: [
      'c.yaml: document 1 (VirtualService default/r): spec.hosts[1]: invalid hostname "a..b": use DNS labels of letters, digits and -, optionally after "*."',
      'c.yaml: document 1 (VirtualService default/r): spec.hosts: the wildcard host "*" is not allowed for VirtualServices bound to the mesh',
      'c.yaml: document 1 (VirtualService default/r): spec.tcp[0].route[0].destination.subset: invalid value "V1": subset names are lowercase alphanumerics and - (DNS-1123 label)',
    ],
  },
  {
    name: 'VirtualService: unknown field (a typo) and no routes',
    yaml: `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r}
spec:
  hosts: [reviews]
  htpp: []`,
    errors: [
      'c.yaml: document 1 (VirtualService default/r): spec.htpp: unknown field (known fields: hosts, gateways, http, tls, tcp, exportTo)',
      'c.yaml: document 1 (VirtualService default/r): spec: a VirtualService needs http, tls or tcp routes',
    ],
  },
  {
    name: 'DestinationRule: enums, oneofs, subsets, TLS',
    yaml: `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: d}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: {simple: FASTEST, consistentHash: {httpHeaderName: x}}
    connectionPool: {tcp: {maxConnections: 0, connectTimeout: 1e}}
    tls: {mode: ISTIO_MUTUAL, privateKey: /k}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v1}
  - labels: {version: v3}`,
    errors: [
      'c.yaml: document 1 (DestinationRule default/d): spec.subsets[1].name: duplicate subset name "v1"',
      'c.yaml: document 1 (DestinationRule default/d): spec.subsets[2].name: required field is missing',
      'c.yaml: document 1 (DestinationRule default/d): spec.trafficPolicy.loadBalancer: simple and consistentHash are mutually exclusive: set only one',
      'c.yaml: document 1 (DestinationRule default/d): spec.trafficPolicy.loadBalancer.simple: invalid value "FASTEST": must be one of UNSPECIFIED, RANDOM, PASSTHROUGH, ROUND_ROBIN, LEAST_REQUEST, LEAST_CONN',
      'c.yaml: document 1 (DestinationRule default/d): spec.trafficPolicy.connectionPool.tcp.maxConnections: must be at least 1, got 0',
      'c.yaml: document 1 (DestinationRule default/d): spec.trafficPolicy.connectionPool.tcp.connectTimeout: invalid duration "1e": use a number with a unit, e.g. 1.5s or 100ms',
      'c.yaml: document 1 (DestinationRule default/d): spec.trafficPolicy.tls.privateKey: ISTIO_MUTUAL uses the mesh certificates: remove this field',
    ],
  },
  {
    name: 'DestinationRule: maglev table size, outlier detection dependencies',
    yaml: `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: d}
spec:
  host: reviews
  trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 1000}}}, outlierDetection: {consecutiveLocalOriginFailures: 3}}`,
    errors: [
      'c.yaml: document 1 (DestinationRule default/d): spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize: tableSize must be a prime number, got 1000',
      'c.yaml: document 1 (DestinationRule default/d): spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures: needs splitExternalLocalOriginErrors: true',
    ],
  },
  {
    name: 'AuthorizationPolicy: exclusive fields, enums, CIDRs, ports, methods, conditions',
    yaml: `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-reviews, namespace: default}
spec:
  selector: {matchLabels: {app: reviews}}
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: w}]
  action: REJECT
  rules:
  - from: [{source: {serviceAccounts: [sleep], principals: [x], ipBlocks: ["10.0.0.0/33"]}}]
    to: [{operation: {methods: [GET, 7], ports: [8080, "99999"]}}]
    when: [{key: request.foo, values: [a]}, {key: source.ip, values: [nope]}, {key: destination.port}]`,
    errors: [
      'c.yaml: document 1 (AuthorizationPolicy default/allow-reviews): spec: selector and targetRefs are mutually exclusive: set only one',
      'c.yaml: document 1 (AuthorizationPolicy default/allow-reviews): spec.action: invalid value "REJECT": must be one of ALLOW, DENY, AUDIT, CUSTOM',
      'c.yaml: document 1 (AuthorizationPolicy default/allow-reviews): spec.rules[0].from[0].source.ipBlocks[0]: invalid IP address or CIDR block "10.0.0.0/33"',
      'c.yaml: document 1 (AuthorizationPolicy default/allow-reviews): spec.rules[0].from[0].source.serviceAccounts: serviceAccounts cannot be used together with principals',
      'c.yaml: document 1 (AuthorizationPolicy default/allow-reviews): spec.rules[0].to[0].operation.ports[0]: expected a string, got number 8080: ports are quoted in AuthorizationPolicy ("8080")',
      'c.yaml: document 1 (AuthorizationPolicy default/allow-reviews): spec.rules[0].to[0].operation.ports[1]: invalid port "99999": use 1-65535',
      'c.yaml: document 1 (AuthorizationPolicy default/allow-reviews): spec.rules[0].to[0].operation.methods[1]: expected a string, got number 7',
      'c.yaml: document 1 (AuthorizationPolicy default/allow-reviews): spec.rules[0].when[0].key: unknown condition key "request.foo" (known: source.ip, remote.ip, source.namespace, source.principal, source.trustDomain, request.auth.principal, request.auth.audiences, request.auth.presenter, destination.ip, destination.port, connection.sni, request.headers[...], request.auth.claims[...])',
      'c.yaml: document 1 (AuthorizationPolicy default/allow-reviews): spec.rules[0].when[1].values[0]: invalid IP address or CIDR block "nope"',
      'c.yaml: document 1 (AuthorizationPolicy default/allow-reviews): spec.rules[0].when[2]: set values or notValues',
    ],
  },
  {
    name: 'AuthorizationPolicy: DENY without rules, provider without CUSTOM',
    yaml: `apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: d}
spec: {action: DENY, provider: {name: ext}}`,
    errors: [
      'c.yaml: document 1 (AuthorizationPolicy default/d): spec.provider: provider is only used with action CUSTOM, not DENY',
      'c.yaml: document 1 (AuthorizationPolicy default/d): spec.rules: a DENY policy without rules never applies: add a rule ({} matches every request)',
    ],
  },
  {
    name: 'AuthorizationPolicy: CUSTOM needs a provider, empty operation and from',
    yaml: `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: c}
spec:
  action: CUSTOM
  rules: [{from: [{source: {principals: [a]}}]}, {to: [{operation: {}}]}, {from: []}]`,
    errors: [
      'c.yaml: document 1 (AuthorizationPolicy default/c): spec.provider: action CUSTOM needs provider.name',
      'c.yaml: document 1 (AuthorizationPolicy default/c): spec.rules[0].from: source.principals is not supported with action CUSTOM',
      'c.yaml: document 1 (AuthorizationPolicy default/c): spec.rules[1].to[0].operation: an operation must set at least one field',
      'c.yaml: document 1 (AuthorizationPolicy default/c): spec.rules[2].from: must not be empty',
    ],
  },
  {
    name: 'PeerAuthentication: mode enum, port-level without selector, bad port',
    yaml: `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: p}
spec:
  mtls: {mode: STRICTER}
  portLevelMtls:
    "8080": {mode: DISABLE}
    "0": {mode: STRICT}`,
    errors: [
      'c.yaml: document 1 (PeerAuthentication default/p): spec.portLevelMtls.0: invalid port "0": use 1-65535',
      'c.yaml: document 1 (PeerAuthentication default/p): spec.portLevelMtls: port-level mTLS needs a workload selector (mesh and namespace policies cannot have it)',
      'c.yaml: document 1 (PeerAuthentication default/p): spec.mtls.mode: invalid value "STRICTER": must be one of UNSET, DISABLE, PERMISSIVE, STRICT',
    ],
  },
  {
    name: 'Gateway: listener names, protocols, TLS',
    yaml: `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: w}
spec:
  gatewayClassName: istio-waypoint
  listeners:
  - {name: mesh, port: 15008, protocol: HBONE}
  - {name: mesh, port: 80, protocol: HTTP, tls: {mode: Terminate}}
  - {name: https, port: 443, protocol: HTTPS}
  - {name: tcp, port: 0, protocol: SCTP}`,
    errors: [
      'c.yaml: document 1 (Gateway default/w): spec.listeners[1].tls: HTTP listeners take no tls settings',
      'c.yaml: document 1 (Gateway default/w): spec.listeners[1].tls.certificateRefs: Terminate mode needs certificateRefs or options',
      'c.yaml: document 1 (Gateway default/w): spec.listeners[2].tls: HTTPS listeners need tls settings',
      'c.yaml: document 1 (Gateway default/w): spec.listeners[3].port: must be at least 1, got 0',
      'warning: c.yaml: document 1 (Gateway default/w): spec.listeners[3].protocol: protocol "SCTP" is not supported by Ambit (HTTP, HTTPS, TLS, TCP, UDP, HBONE are): this listener is not served',
      'c.yaml: document 1 (Gateway default/w): spec.listeners: listener names must be unique: mesh is used twice',
    ],
  },
  {
    name: 'HTTPRoute: parents, paths, headers, filters, backends, timeouts',
    yaml: `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: h}
spec:
  parentRefs: [{name: reviews, kind: Service}, {name: w, kind: Mesh}]
  rules:
  - matches: [{path: {type: Exact, value: "api"}, method: FETCH, headers: [{name: x, value: a}, {name: X, value: b}]}]
    filters: [{type: RequestRedirect, urlRewrite: {hostname: a}}, {type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /v2}}}]
    backendRefs: [{name: reviews, weight: 2000000}]
    timeouts: {request: 1s, backendRequest: 2s}`,
    errors: [
      'c.yaml: document 1 (HTTPRoute default/h): spec.parentRefs[0].group: a parentRef to a Service needs group: "" (the core group)',
      'warning: c.yaml: document 1 (HTTPRoute default/h): spec.parentRefs[1].kind: Ambit attaches routes to a Gateway (group gateway.networking.k8s.io) or a Service (group ""), not gateway.networking.k8s.io/Mesh: this parent is ignored',
      'c.yaml: document 1 (HTTPRoute default/h): spec.rules[0].matches[0].path.value: paths must start with "/"',
      'c.yaml: document 1 (HTTPRoute default/h): spec.rules[0].matches[0].headers: header "X" is matched twice',
      'c.yaml: document 1 (HTTPRoute default/h): spec.rules[0].matches[0].method: invalid value "FETCH": must be one of GET, HEAD, POST, PUT, PATCH, DELETE, CONNECT, OPTIONS, TRACE',
      'c.yaml: document 1 (HTTPRoute default/h): spec.rules[0].filters[0].urlRewrite: not allowed with type RequestRedirect (use requestRedirect)',
      'c.yaml: document 1 (HTTPRoute default/h): spec.rules[0].filters[0].requestRedirect: required for type RequestRedirect',
      'c.yaml: document 1 (HTTPRoute default/h): spec.rules[0].backendRefs[0].port: backendRefs to a Service need a port',
      'c.yaml: document 1 (HTTPRoute default/h): spec.rules[0].backendRefs[0].weight: must be at most 1000000, got 2000000',
      'c.yaml: document 1 (HTTPRoute default/h): spec.rules[0].timeouts.backendRequest: backendRequest must not be longer than request',
    ],
  },
  {
    name: 'HTTPRoute: a Gateway API duration that is not one (protobuf style)',
    yaml: `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: h}
spec:
  rules: [{timeouts: {request: 1.5s}}]`,
    errors: [
      'c.yaml: document 1 (HTTPRoute default/h): spec.rules[0].timeouts.request: invalid value "1.5s": use a Gateway API duration such as 10s, 1m30s or 500ms',
    ],
  },
  {
    name: 'GRPCRoute: method matches, filters HTTPRoute has and GRPCRoute has not, backends',
    yaml: `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: g}
spec:
  parentRefs: [{name: echo, kind: Service, group: ""}]
  rules:
  - matches:
    - method: {service: "echo.v1.Echo", method: "Say-Hi"}
    - method: {type: RegularExpression, service: 'echo\\.v[0-9]+\\.Echo', method: "(?!x)"}
    - method: {type: Exact}
    - headers: [{name: x-user, value: a}, {name: X-User, value: b}]
    filters: [{type: URLRewrite, urlRewrite: {hostname: a}}, {type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x-a, value: "1"}]}}]
    backendRefs: [{name: echo, port: 7070, weight: 0, filters: [{type: RequestRedirect, requestRedirect: {}}]}, {name: echo}]`,
    errors: [
      'c.yaml: document 1 (GRPCRoute default/g): spec.rules[0].matches[0].method.method: use a protobuf method name (letters, digits and _)',
      'c.yaml: document 1 (GRPCRoute default/g): spec.rules[0].matches[1].method.method: lookahead and lookbehind assertions are not supported by RE2 (Istio uses RE2 syntax) in "(?!x)"',
      'c.yaml: document 1 (GRPCRoute default/g): spec.rules[0].matches[2].method: set service, method or both',
      'c.yaml: document 1 (GRPCRoute default/g): spec.rules[0].matches[3].headers: header "X-User" is matched twice',
      'c.yaml: document 1 (GRPCRoute default/g): spec.rules[0].filters[0].urlRewrite: unknown field (known fields: type, requestHeaderModifier, responseHeaderModifier, requestMirror, extensionRef)',
      'c.yaml: document 1 (GRPCRoute default/g): spec.rules[0].filters[0].type: invalid value "URLRewrite": must be one of RequestHeaderModifier, ResponseHeaderModifier, RequestMirror, ExtensionRef',
      'c.yaml: document 1 (GRPCRoute default/g): spec.rules[0].backendRefs[0].filters[0].requestRedirect: unknown field (known fields: type, requestHeaderModifier, responseHeaderModifier, requestMirror, extensionRef)',
      'c.yaml: document 1 (GRPCRoute default/g): spec.rules[0].backendRefs[0].filters[0].type: invalid value "RequestRedirect": must be one of RequestHeaderModifier, ResponseHeaderModifier, RequestMirror, ExtensionRef',
      'c.yaml: document 1 (GRPCRoute default/g): spec.rules[0].backendRefs[1].port: backendRefs to a Service need a port',
    ],
  },
  {
    name: 'YAML syntax',
    yaml: 'apiVersion: v1\nkind: Service\nmetadata: {name: x\n',
    errors: [
      'c.yaml: document 1: YAML syntax error at line 4: Flow map in block collection must be sufficiently indented and end with a }',
    ],
  },
];

describe('invalid config: each document gets exactly these errors', () => {
  it.each(INVALID)('$name', ({ yaml, errors }) => {
    const { parsed, messages } = check(yaml);
    expect(messages).toEqual(errors);
    expect(parsed.resources).toEqual([]);
  });

  it('counts documents as the user sees them, and checks every document of a file', () => {
    const ok =
      'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: ok}\nspec: {mtls: {mode: STRICT}}\n';
    const bad =
      'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: allow-reviews, namespace: default}\nspec:\n  rules:\n  - to: [{operation: {methods: [GET, 7]}}]\n';
    const { messages } = check(
      `${ok}---\n${ok.replace('name: ok', 'name: ok2')}---\n${bad}`,
      'policies.yaml',
    );
    expect(messages).toEqual([
      'policies.yaml: document 3 (AuthorizationPolicy default/allow-reviews): spec.rules[0].to[0].operation.methods[1]: expected a string, got number 7',
    ]);
  });
});

describe('references across resources (warnings)', () => {
  const set = (extra: string) =>
    parseFiles([{ name: 'r.yaml', content: `${bookinfo}---\n${extra}` }], CONTROL_KINDS).resources;
  it('warns about subsets no DestinationRule defines, unknown hosts, parents and waypoints, without blocking', () => {
    const resources = set(
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {istio.io/use-waypoint: missing}}\n---\n' +
        'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r2, namespace: default}\nspec:\n  hosts: [reviews.default.svc.cluster.local]\n  http: [{route: [{destination: {host: nowhere, subset: v1}}]}]\n',
    );
    const warnings = analyzeResources(resources, 'cluster.local').map(formatIssue);
    expect(warnings).toContain(
      'warning: r.yaml: document 3 (VirtualService default/reviews): spec.http[1].route[1].destination.subset: subset "v3" of reviews.default.svc.cluster.local is not defined by any DestinationRule',
    );
    expect(warnings).toContain(
      'warning: r.yaml: document 10 (VirtualService default/r2): spec.http[0].route[0].destination.host: host nowhere.default.svc.cluster.local is not a Service in the mesh',
    );
    expect(warnings).toContain(
      'warning: r.yaml: document 10 (VirtualService default/r2): spec.http[0].route[0].destination.subset: subset "v1" of nowhere.default.svc.cluster.local is not defined by any DestinationRule',
    );
    expect(warnings).toContain(
      'warning: r.yaml: document 9 (Namespace shop): metadata.labels.istio.io/use-waypoint: waypoint shop/missing is not defined (no such Gateway)',
    );
    expect(warnings.every((warning) => warning.startsWith('warning: '))).toBe(true);
  });

  it("reports what a waypoint's route table cannot carry over, once, on the object concerned", () => {
    const check = (text: string) =>
      analyzeResources(
        parseFiles([{ name: 'w.yaml', content: text }], CONTROL_KINDS).resources,
        'cluster.local',
      ).map(formatIssue);
    const warnings = check(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: wp, namespace: shop}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}
---
apiVersion: v1
kind: Service
metadata: {name: cart, namespace: shop, labels: {istio.io/use-waypoint: wp}}
spec: {selector: {app: cart}, ports: [{name: http, port: 80}, {name: http-alt, port: 8080}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: cart, namespace: shop}
spec: {hosts: [cart], http: [{delegate: {name: nope}}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext, namespace: shop}
spec:
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: wp}]
  action: CUSTOM
  provider: {name: opa}
  rules: [{}]
`);
    expect(warnings).toEqual([
      'warning: w.yaml: document 3 (VirtualService shop/cart): spec.http[0].delegate: delegate VirtualService shop/nope does not exist (or has hosts): the rule is skipped',
      'warning: w.yaml: document 4 (AuthorizationPolicy shop/ext): spec.action: CUSTOM (external authorization) is not supported by Ambit: the waypoint denies the requests its rules match instead of asking the provider',
    ]);
  });
});

describe('kind names', () => {
  it.each([
    ['vs', 'VirtualService'],
    ['virtualservices', 'VirtualService'],
    ['AuthorizationPolicies', 'AuthorizationPolicy'],
    ['ap', 'AuthorizationPolicy'],
    ['svc', 'Service'],
    ['httproute', 'HTTPRoute'],
    ['grpcroutes', 'GRPCRoute'],
    ['gateways', 'Gateway'],
    ['gateways.networking.istio.io', 'Gateway.networking.istio.io'],
    ['se', 'ServiceEntry'],
    ['serviceentries', 'ServiceEntry'],
  ])('%s is %s', (name, kind) => expect(resolveKind(name)).toBe(kind));
  it('does not guess', () => expect(resolveKind('virtual')).toBeUndefined());
});

describe('RE2 regexes', () => {
  it('translates what RE2 writes differently', () => {
    expect(compileRe2('(?i)^/API').regex?.test('/api')).toBe(true);
    expect(compileRe2('(?P<v>v[0-9]+)').regex?.exec('v12')?.groups?.v).toBe('v12');
    expect(compileRe2('[[:digit:]]+', { fullMatch: true }).regex?.test('123')).toBe(true);
    expect(compileRe2('/api/.*', { fullMatch: true }).regex?.test('x/api/')).toBe(false);
  });
  it('refuses what RE2 refuses', () => {
    expect(compileRe2('(a)\\1').error).toMatch(/backreferences/);
    expect(compileRe2('a(?!b)').error).toMatch(/lookahead/);
    expect(compileRe2('').error).toBe('regex must not be empty');
    expect(compileRe2('x'.repeat(1025)).error).toMatch(/too long/);
  });
});
