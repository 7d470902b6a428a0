/**
 * Istio's classic Gateway, by tables: `VirtualService.gateways` binding (mesh, a name, `namespace/name`),
 * server hosts (`namespace/host`) against VirtualService hosts, the shape a server's protocol and TLS mode give
 * its port, and the compiled table a gateway deployment gets from YAML as a user writes it (Bookinfo's
 * gateway, HTTPS with a credentialName Secret, passthrough by SNI, TCP, httpsRedirect, and what is left out
 * and said so). Also which deployment the local cluster runs for which Gateways.
 */
import { describe, expect, it } from 'vitest';
import { parseFiles } from '../../src/control/config/parse.ts';
import { CONTROL_KINDS } from '../../src/control/kinds.ts';
import {
  compileClassicIngress,
  serverHostnames,
  serverShape,
} from '../../src/control/model/ingress/classic.ts';
import { classicGatewayNotes } from '../../src/control/model/ingress/classic-notes.ts';
import { compileIngress } from '../../src/control/model/ingress/compile.ts';
import { reaches } from '../../src/control/model/ingress/gateway-policies.ts';
import { bindsGateway } from '../../src/control/model/l7/virtual-service.ts';
import { buildMesh } from '../../src/control/model/mesh.ts';
import { classicGatewayDeployment } from '../../src/control/model/views.ts';
import type { PodRecord } from '../../src/control/pods/pod-source.ts';
import type { GatewayServer } from '../../src/core/config/kinds/istio-gateway.ts';
import { stringMatches } from '../../src/core/l7/match.ts';
import type { Route } from '../../src/core/l7/types.ts';
import { routeTableProblems } from '../../src/core/l7/validate.ts';
import { CLASSIC_GATEWAY_DEPLOYMENTS } from '../../src/core/labels.ts';
import { classicGatewayService, waypointGateways } from '../../src/local/mesh/waypoints.ts';

describe('VirtualService.gateways', () => {
  const gw = { name: 'gw', namespace: 'web' };
  it.each([
    [[], 'web', undefined, true],
    [['mesh'], 'web', undefined, true],
    [['gw'], 'web', undefined, false],
    [['gw', 'mesh'], 'web', undefined, true],
    [[], 'web', gw, false],
    [['mesh'], 'web', gw, false],
    [['gw'], 'web', gw, true],
    [['gw'], 'other', gw, false],
    [['web/gw'], 'other', gw, true],
    [['other/gw'], 'web', gw, false],
    [['mesh', 'gw'], 'web', gw, true],
  ] as const)('%j written in %s binds %j: %s', (names, namespace, gateway, expected) => {
    expect(bindsGateway(names, namespace, gateway)).toBe(expected);
  });
});

describe('server hosts against VirtualService hosts', () => {
  it.each([
    [['*'], 'istio-system', 'default', ['*'], 'any'],
    [['*'], 'gw', 'default', ['a.example.com'], ['a.example.com']],
    [['a.example.com'], 'gw', 'default', ['*'], ['a.example.com']],
    [['*.example.com'], 'gw', 'default', ['a.example.com', 'b.org'], ['a.example.com']],
    [['a.example.com'], 'gw', 'default', ['*.example.com'], ['a.example.com']],
    [['default/a.example.com'], 'gw', 'default', ['a.example.com'], ['a.example.com']],
    [['other/a.example.com'], 'gw', 'default', ['a.example.com'], []],
    [['./*'], 'gw', 'default', ['a.example.com'], []],
    [['./*'], 'gw', 'gw', ['a.example.com'], ['a.example.com']],
    [['*/*'], 'gw', 'default', ['*'], 'any'],
    [['b.example.com'], 'gw', 'default', ['a.example.com'], []],
  ] as const)(
    'server %j (Gateway in %s), VirtualService in %s with %j -> %j',
    (server, gwNs, vsNs, vs, expected) => {
      expect(serverHostnames(server, gwNs, vsNs, vs)).toEqual(expected);
    },
  );
});

describe('server shapes', () => {
  const server = (protocol: string, mode?: string): GatewayServer =>
    ({
      port: { number: 1, protocol, name: 'p' },
      hosts: ['*'],
      tls: mode ? { mode, credentialNames: [], subjectAltNames: [], httpsRedirect: false } : undefined,
    }) as GatewayServer;
  it.each([
    ['HTTP', undefined, { wire: 'http', tls: 'none' }],
    ['HTTP2', undefined, { wire: 'http', tls: 'none' }],
    ['GRPC', undefined, { wire: 'http', tls: 'none' }],
    ['HTTPS', 'SIMPLE', { wire: 'http', tls: 'terminate' }],
    ['HTTPS', 'PASSTHROUGH', { wire: 'tcp', tls: 'passthrough' }],
    ['TLS', 'PASSTHROUGH', { wire: 'tcp', tls: 'passthrough' }],
    ['TLS', 'SIMPLE', { wire: 'tcp', tls: 'terminate' }],
    ['TCP', undefined, { wire: 'tcp', tls: 'none' }],
    ['MONGO', undefined, { wire: 'tcp', tls: 'none' }],
  ] as const)('%s (tls %s) -> %j', (protocol, mode, expected) => {
    expect(serverShape(server(protocol, mode))).toEqual(expected);
  });
  it.each(['MUTUAL', 'OPTIONAL_MUTUAL', 'ISTIO_MUTUAL', 'AUTO_PASSTHROUGH'])(
    'HTTPS %s is not served',
    (mode) => {
      expect(serverShape(server('TLS', mode))).toMatch(`tls.mode ${mode} is not served`);
    },
  );
});

/** Istio attaches policies on the istio-waypoint GatewayClass to waypoints only. */
const WAYPOINT_CLASS_DENY = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: waypoints-only, namespace: istio-system}
spec:
  targetRefs: [{kind: GatewayClass, group: gateway.networking.k8s.io, name: istio-waypoint}]
  action: DENY
  rules: [{}]
`;

/** An RSA public key as a JWKS (any valid one: nothing is signed with it here). */
const JWKS = JSON.stringify({
  keys: [
    {
      kty: 'RSA',
      kid: 'k1',
      alg: 'RS256',
      e: 'AQAB',
      n: 'sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw',
    },
  ],
});

const PEM = (label: string) => `-----BEGIN ${label}-----\nMIIB\n-----END ${label}-----\n`;

/** What a user pastes: Bookinfo's classic gateway as Istio's sample writes it, and more servers. */
const YAML = `
apiVersion: v1
kind: Service
metadata: {name: productpage}
spec:
  selector: {app: productpage}
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  selector: {app: db}
  ports: [{name: tls, port: 5432}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bookinfo-gateway}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bookinfo}
spec:
  hosts: ["*"]
  gateways: [bookinfo-gateway]
  http:
  - match:
    - uri: {exact: /productpage}
    - uri: {prefix: /static}
    route:
    - destination: {host: productpage, port: {number: 9080}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: mesh-only}
spec:
  hosts: [db]
  http:
  - route: [{destination: {host: db}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: secure, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["shop.example.com"]
    tls: {httpsRedirect: true}
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["default/shop.example.com"]
    tls: {mode: SIMPLE, credentialName: shop-cert}
  - port: {number: 443, name: other, protocol: HTTPS}
    hosts: ["other.example.com"]
    tls: {mode: SIMPLE, credentialName: missing}
  - port: {number: 8443, name: pass, protocol: TLS}
    hosts: ["*.db.example.com"]
    tls: {mode: PASSTHROUGH}
  - port: {number: 9443, name: mtls, protocol: HTTPS}
    hosts: ["*"]
    tls: {mode: MUTUAL, credentialName: shop-cert}
  - port: {number: 8080, name: tcp, protocol: TCP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop}
spec:
  hosts: [shop.example.com]
  gateways: [shop/secure, mesh]
  http:
  - route: [{destination: {host: productpage}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db}
spec:
  hosts: ["*.db.example.com"]
  gateways: [shop/secure]
  tls:
  - match: [{sniHosts: [a.db.example.com]}]
    route: [{destination: {host: db, port: {number: 5432}}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: elsewhere}
spec:
  selector: {istio: egressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: ingress-jwt, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  jwtRules: [{issuer: "https://issuer.example", jwks: '${JWKS}'}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ingress-users, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  rules: [{from: [{source: {requestPrincipals: ["https://issuer.example/*"]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: not-here, namespace: shop}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  rules: [{}]
---
${WAYPOINT_CLASS_DENY}---
apiVersion: v1
kind: Secret
metadata: {name: shop-cert, namespace: istio-system}
type: kubernetes.io/tls
stringData:
  tls.crt: |
    ${PEM('CERTIFICATE').replaceAll('\n', '\n    ')}
  tls.key: |
    ${PEM('PRIVATE KEY').replaceAll('\n', '\n    ')}
`;

describe('a classic gateway deployment compiled', () => {
  const parsed = parseFiles([{ name: 'gw.yaml', content: YAML }], CONTROL_KINDS);
  const gatewayPod: PodRecord = {
    uid: 'istio-system/istio-ingressgateway-0',
    name: 'istio-ingressgateway-0',
    namespace: 'istio-system',
    node: 'n1',
    ips: ['10.244.1.9'],
    serviceAccount: 'istio-ingressgateway',
    labels: {
      istio: 'ingressgateway',
      app: 'istio-ingressgateway',
      'gateway.networking.k8s.io/gateway-name': 'istio-ingressgateway',
    },
    ready: true,
    ports: [],
  };
  const mesh = buildMesh({
    resources: parsed.resources,
    pods: [gatewayPod],
    trustDomain: 'cluster.local',
    trustBundle: [],
  });
  const deployment = classicGatewayDeployment(mesh, {
    name: 'istio-ingressgateway',
    namespace: 'istio-system',
  });
  const { table, notes } = compileClassicIngress({ ...mesh, deployment: deployment! });
  const port = (number: number) => table.servedServices[0]!.ports.find((p) => p.port === number);
  const routeFor = (number: number, host: string, path: string): Route | undefined =>
    port(number)?.routes.find((route) =>
      route.matches.some(
        (match) =>
          (match.authority === undefined || stringMatches(match.authority, host)) &&
          (match.path === undefined || stringMatches(match.path, path)),
      ),
    );

  it('parses without errors and finds the deployment by its instance’s labels', () => {
    expect(parsed.issues.filter((issue) => issue.severity === 'error')).toEqual([]);
    expect(deployment?.labels.istio).toBe('ingressgateway');
    // A subscriber no classic Gateway selects is not a classic gateway.
    expect(classicGatewayDeployment(mesh, { name: 'waypoint', namespace: 'default' })).toBeUndefined();
  });

  it('is a valid route table', () => {
    expect(routeTableProblems(table)).toEqual([]);
  });

  it('opens the selected servers’ ports, merged by port, and not the egress Gateway’s', () => {
    expect(table.listeners?.map((l) => [l.port, l.wire, l.tls.mode])).toEqual([
      [80, 'http', 'none'],
      [443, 'http', 'terminate'],
      [8080, 'http', 'none'],
      [8443, 'tcp', 'passthrough'],
    ]);
  });

  it('routes Bookinfo’s paths on 8080 for any host, and nothing else', () => {
    const route = routeFor(8080, 'anything.example:8080', '/productpage');
    expect(route?.origin).toMatchObject({ kind: 'VirtualService', name: 'bookinfo' });
    expect(route?.action).toMatchObject({
      kind: 'forward',
      backends: [{ cluster: 'outbound|9080||productpage.default.svc.cluster.local' }],
    });
    expect(routeFor(8080, 'x', '/static/app.css')?.origin.name).toBe('bookinfo');
    expect(routeFor(8080, 'x', '/admin')).toBeUndefined();
    // The VirtualService bound to the mesh only is not the gateway's.
    expect(port(8080)?.routes.map((r) => r.origin.name)).toEqual(['bookinfo']);
  });

  it('redirects HTTP to HTTPS for an httpsRedirect server’s hosts', () => {
    expect(routeFor(80, 'shop.example.com', '/')?.action).toEqual({
      kind: 'redirect',
      status: 301,
      scheme: 'https',
      port: 'fromScheme',
    });
    expect(routeFor(80, 'other.example.com', '/')).toBeUndefined();
  });

  it('terminates SIMPLE TLS with the credentialName Secret of the deployment’s namespace, for the server’s hosts', () => {
    const tls = table.listeners?.find((l) => l.port === 443)?.tls;
    expect(tls?.mode === 'terminate' && tls.certificates.map((c) => c.hostname)).toEqual([
      'shop.example.com',
    ]);
    expect(routeFor(443, 'shop.example.com', '/')?.origin.name).toBe('shop');
    expect(routeFor(443, 'evil.example.com', '/')).toBeUndefined();
  });

  it('routes passthrough TLS by SNI within the server’s hosts', () => {
    const routes = port(8443)?.tcpRoutes ?? [];
    expect(routes.map((r) => r.origin.name)).toEqual(['db']);
    expect(stringMatches(routes[0]!.sni[0]!, 'a.db.example.com')).toBe(true);
    expect(routes[0]!.backends).toMatchObject([{ cluster: 'outbound|5432||db.default.svc.cluster.local' }]);
  });

  it('says what it leaves out: an unknown Secret, a mode it does not serve, a port taken by another protocol', () => {
    expect(notes.map((n) => `${n.name} ${n.path}: ${n.message}`)).toEqual([
      "secure spec.servers[2]: credentialName missing: no kubernetes.io/tls Secret istio-system/missing (the gateway deployment's namespace)",
      'secure spec.servers[5]: port 8080 is already served as HTTP by an earlier server: this one is left out',
      "secure spec.servers[4]: tls.mode MUTUAL is not served by Ambit's ingress gateway (SIMPLE and PASSTHROUGH are)",
    ]);
    // And that a Gateway selecting no deployment Ambit runs serves nothing.
    expect(classicGatewayNotes(mesh).map((n) => `${n.name} ${n.path}`)).toContain('elsewhere spec.selector');
  });
});

describe('policies at ingress gateways', () => {
  const parsed = parseFiles([{ name: 'gw.yaml', content: YAML }], CONTROL_KINDS);
  const mesh = buildMesh({
    resources: parsed.resources,
    pods: [],
    trustDomain: 'cluster.local',
    trustBundle: [],
  });
  const classic = compileClassicIngress({
    ...mesh,
    deployment: {
      name: 'istio-ingressgateway',
      namespace: 'istio-system',
      labels: { istio: 'ingressgateway' },
    },
  }).table;

  it('a classic deployment takes the policies its pods’ labels select, in its namespace or the root one', () => {
    expect(classic.authorization.map((p) => [p.name, p.appliesTo.kind])).toEqual([
      ['ingress-users', 'waypoint'],
    ]);
    expect(classic.servedServices[0]?.requestAuthentication?.map((rule) => rule.issuer)).toEqual([
      'https://issuer.example',
    ]);
  });

  it.each([
    ['a mesh-wide policy (root namespace, no selector)', 'istio-system', undefined, [], true],
    [
      'a root-namespace policy whose selector picks the pods',
      'istio-system',
      { istio: 'ingressgateway' },
      [],
      true,
    ],
    ['a root-namespace policy whose selector picks others', 'istio-system', { app: 'web' }, [], false],
    [
      'a root-namespace policy attached by targetRefs',
      'istio-system',
      undefined,
      [{ kind: 'Gateway' }],
      false,
    ],
    ['a namespace-wide policy of another namespace', 'shop', undefined, [], false],
    ['a selector in another namespace', 'shop', { istio: 'ingressgateway' }, [], false],
  ])('%s reaches the deployment: %s', (_what, namespace, selector, targetRefs, expected) => {
    const deployment = {
      name: 'istio-ingressgateway',
      namespace: 'istio-system',
      labels: { istio: 'ingressgateway' },
    };
    expect(reaches({ name: 'p', namespace, spec: { selector, targetRefs } }, deployment)).toBe(expected);
  });

  it('a mesh-wide AuthorizationPolicy and RequestAuthentication (root namespace, no selector) apply at the classic gateway', () => {
    const { resources } = parseFiles(
      [
        {
          name: 'mesh-wide.yaml',
          content: `${YAML}---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: mesh-deny-admin, namespace: istio-system}
spec:
  action: DENY
  rules: [{to: [{operation: {paths: [/admin]}}]}]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: mesh-jwt, namespace: istio-system}
spec:
  jwtRules: [{issuer: "https://mesh.example", jwks: '${JWKS}'}]
`,
        },
      ],
      CONTROL_KINDS,
    );
    const wide = compileClassicIngress({
      ...buildMesh({ resources, pods: [], trustDomain: 'cluster.local', trustBundle: [] }),
      deployment: {
        name: 'istio-ingressgateway',
        namespace: 'istio-system',
        labels: { istio: 'ingressgateway' },
      },
    }).table;
    expect(wide.authorization.map((p) => p.name).sort()).toEqual(['ingress-users', 'mesh-deny-admin']);
    expect(wide.servedServices[0]?.requestAuthentication?.map((rule) => rule.issuer).sort()).toEqual([
      'https://issuer.example',
      'https://mesh.example',
    ]);
  });

  const gatewayApi = (extra: string) => {
    const yaml = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: edge}
spec:
  gatewayClassName: ambit
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
${extra}`;
    const { resources, issues } = parseFiles([{ name: 'g.yaml', content: yaml }], CONTROL_KINDS);
    expect(issues.filter((issue) => issue.severity === 'error')).toEqual([]);
    const m = buildMesh({ resources, pods: [], trustDomain: 'cluster.local', trustBundle: [] });
    return compileIngress({ ...m, gateway: m.gateways[0]! }).table;
  };

  it('a Gateway API ingress takes policies with a targetRef to its Gateway, and not those on the waypoint class', () => {
    const table = gatewayApi(`apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: edge}
spec:
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: web}]
  jwtRules: [{issuer: "https://issuer.example", jwks: '${JWKS}'}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: users, namespace: edge}
spec:
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: web}]
  rules: [{from: [{source: {requestPrincipals: ["*"]}}]}]
---
${WAYPOINT_CLASS_DENY}`);
    expect(table.authorization.map((p) => p.name)).toEqual(['users']);
    expect(table.servedServices[0]?.requestAuthentication?.map((rule) => rule.issuer)).toEqual([
      'https://issuer.example',
    ]);
  });

  it('a Gateway API ingress takes mesh-wide policies of its namespace and the root namespace, as the classic gateway does', () => {
    const policy = (name: string, namespace: string, scope: string) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ${name}, namespace: ${namespace}}
spec:
${scope}  action: DENY
  rules: [{to: [{operation: {paths: [/admin]}}]}]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: ${name}, namespace: ${namespace}}
spec:
${scope}  jwtRules: [{issuer: "https://${name}.example", jwks: '${JWKS}'}]
`;
    const table = gatewayApi(
      [
        policy('mesh', 'istio-system', ''),
        policy('edge-wide', 'edge', ''),
        policy(
          'by-label',
          'edge',
          '  selector: {matchLabels: {gateway.networking.k8s.io/gateway-name: web}}\n',
        ),
        policy('other-label', 'edge', '  selector: {matchLabels: {app: api}}\n'),
        policy('other-namespace', 'shop', ''),
      ].join('---\n'),
    );
    expect(table.authorization.map((p) => [p.name, p.appliesTo.kind])).toEqual([
      ['mesh', 'waypoint'],
      ['edge-wide', 'waypoint'],
      ['by-label', 'waypoint'],
    ]);
    expect(table.servedServices[0]?.requestAuthentication?.map((rule) => rule.issuer)).toEqual([
      'https://by-label.example',
      'https://edge-wide.example',
      'https://mesh.example',
    ]);
  });
});

describe('the local cluster’s classic gateway deployment', () => {
  const gateway = (selector: Record<string, string>, ports: number[]) => ({
    apiVersion: 'networking.istio.io/v1',
    kind: 'Gateway',
    metadata: { name: 'g' },
    spec: { selector, servers: ports.map((number) => ({ port: { number } })) },
  });
  it.each([
    ['Istio’s ingress gateway selected', [gateway({ istio: 'ingressgateway' }, [8080])], [8080]],
    [
      'two Gateways: their ports together',
      [gateway({ istio: 'ingressgateway' }, [8443, 8080]), gateway({ app: 'istio-ingressgateway' }, [8080])],
      [8080, 8443],
    ],
    ['a selector it does not match', [gateway({ istio: 'egressgateway' }, [80])], undefined],
  ])('%s', (_what, documents, ports) => {
    const found = waypointGateways(documents).find((g) => g.name === 'istio-ingressgateway');
    expect(found?.ingressPorts).toEqual(ports);
    if (found)
      expect(found).toMatchObject({ namespace: 'istio-system', podLabels: { istio: 'ingressgateway' } });
  });

  it('has the Service Istio’s chart makes: its pods by label, 80 to 8080, 443 to 8443, and the status port', () => {
    const service = classicGatewayService(CLASSIC_GATEWAY_DEPLOYMENTS[0]!) as {
      metadata: { name: string; namespace: string };
      spec: { selector: Record<string, string>; ports: { port: number; targetPort: number }[] };
    };
    expect(service.metadata).toMatchObject({ name: 'istio-ingressgateway', namespace: 'istio-system' });
    expect(service.spec.selector).toEqual({ istio: 'ingressgateway', app: 'istio-ingressgateway' });
    expect(service.spec.ports.map((p) => [p.port, p.targetPort])).toEqual([
      [15021, 15021],
      [80, 8080],
      [443, 8443],
    ]);
    // It is a valid Service of the control plane's kinds.
    const parsed = parseFiles([{ name: 's.yaml', content: JSON.stringify(service) }], CONTROL_KINDS);
    expect(parsed.issues.filter((issue) => issue.severity === 'error')).toEqual([]);
  });
});
