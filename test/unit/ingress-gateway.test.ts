/**
 * The ingress gateway's pure decisions, by tables: Gateway API hostname intersection and matching, route
 * attachment to listeners (parentRef section and port, allowed kinds and namespaces, hostnames) with the
 * reasons status reports, ReferenceGrant, the compiled table (listeners merged by port, conflicts, TLS
 * certificates from Secrets, routes narrowed by hostname and ranked, tcpRoutes by SNI), the ClientHello's
 * SNI, the certificate chosen for an SNI, the TCP route chosen for a connection, and port mappings.
 */
import { describe, expect, it } from 'vitest';
import { parseFiles } from '../../src/control/config/parse.ts';
import {
  attachRoute,
  listenerRouteKinds,
  type RouteRef,
} from '../../src/control/model/ingress/attachment.ts';
import { compileIngress, type IngressInputs } from '../../src/control/model/ingress/compile.ts';
import { referenceGranted } from '../../src/control/model/ingress/reference-grants.ts';
import { formatIssue } from '../../src/core/config/issues.ts';
import type { GatewayListener, GatewaySpec, ParentRef } from '../../src/core/config/kinds/gateway.ts';
import { attachedHostnames, covers, hostnameMatcher, hostnameMatches } from '../../src/core/l7/hostnames.ts';
import { stringMatches } from '../../src/core/l7/match.ts';
import type { ListenerCertificate, ServedPort } from '../../src/core/l7/types.ts';
import { routeTableProblems } from '../../src/core/l7/validate.ts';
import type { NamedConfig, Service } from '../../src/core/model/index.ts';
import { LOCAL_KINDS } from '../../src/local/cluster-file.ts';
import type { ClusterSpec } from '../../src/local/cluster-kind.ts';
import { parsePortMapping } from '../../src/local/port-forward.ts';
import { isLoopback } from '../../src/local/port-mapping-spec.ts';
import { EndpointLoad } from '../../src/waypoint/balance/balancer.ts';
import { readClientHello } from '../../src/waypoint/gateway/client-hello.ts';
import { certificateFor } from '../../src/waypoint/gateway/listeners.ts';
import { tcpCluster } from '../../src/waypoint/inbound/tcp.ts';
import { WaypointState } from '../../src/waypoint/state.ts';

describe('hostnames', () => {
  it.each([
    ['example.com', 'example.com', true],
    ['example.com', 'EXAMPLE.com', true],
    ['example.com', 'www.example.com', false],
    ['*.example.com', 'www.example.com', true],
    ['*.example.com', 'a.b.example.com', true],
    ['*.example.com', 'example.com', false],
    ['*.example.com', '*.example.com', true],
    ['*.example.com', '*.a.example.com', true],
    ['*.a.example.com', '*.example.com', false],
    ['www.example.com', '*.example.com', false],
  ])('%s covers %s: %s', (pattern, host, expected) => {
    expect(covers(pattern, host)).toBe(expected);
  });

  it.each([
    [undefined, [], 'any'],
    [undefined, ['a.example.com'], ['a.example.com']],
    ['a.example.com', [], ['a.example.com']],
    ['*.example.com', ['a.example.com', 'other.org'], ['a.example.com']],
    ['a.example.com', ['*.example.com'], ['a.example.com']],
    ['a.example.com', ['b.example.com'], []],
    ['*.example.com', ['*.example.com', 'x.example.com'], ['*.example.com', 'x.example.com']],
  ] as const)('listener %s, route %j -> %j', (listener, route, expected) => {
    expect(attachedHostnames(listener, route)).toEqual(expected);
  });

  it.each([
    ['bookinfo.example.com', 'bookinfo.example.com', true],
    ['bookinfo.example.com', 'Bookinfo.Example.com:8443', true],
    ['bookinfo.example.com', 'bookinfoXexample.com', false],
    ['bookinfo.example.com', 'evil.bookinfo.example.com', false],
    ['*.example.com', 'a.b.example.com:80', true],
    ['*.example.com', 'example.com', false],
    ['*.example.com', 'example.com.evil.org', false],
  ])('the matcher of %s on Host %s: %s', (hostname, host, expected) => {
    expect(stringMatches(hostnameMatcher(hostname), host)).toBe(expected);
  });

  it('matches concrete names only (an SNI is never a wildcard)', () => {
    expect(hostnameMatches('*.example.com', 'a.example.com')).toBe(true);
    expect(hostnameMatches('*.example.com', '*.example.com')).toBe(false);
  });
});

const listener = (
  overrides: Partial<GatewayListener> & Pick<GatewayListener, 'name' | 'port' | 'protocol'>,
) =>
  ({
    allowedRoutes: { namespaces: { from: 'Same' }, kinds: [] },
    ...overrides,
  }) as GatewayListener;

const GATEWAY: NamedConfig<GatewaySpec> = {
  name: 'gw',
  namespace: 'ingress',
  spec: {
    gatewayClassName: 'ambit',
    addresses: [],
    listeners: [
      listener({ name: 'http', port: 80, protocol: 'HTTP' }),
      listener({
        name: 'https',
        port: 443,
        protocol: 'HTTPS',
        hostname: '*.example.com',
        tls: {
          mode: 'Terminate',
          certificateRefs: [{ group: '', kind: 'Secret', name: 'wild' }],
          options: {},
        },
        allowedRoutes: { namespaces: { from: 'All' }, kinds: [] },
      }),
      listener({
        name: 'apps',
        port: 8080,
        protocol: 'HTTP',
        allowedRoutes: {
          namespaces: {
            from: 'Selector',
            selector: { matchLabels: { ingress: 'yes' }, matchExpressions: [] },
          },
          kinds: [{ group: 'gateway.networking.k8s.io', kind: 'GRPCRoute' }],
        },
      }),
      listener({
        name: 'tls',
        port: 8443,
        protocol: 'TLS',
        tls: { mode: 'Passthrough', certificateRefs: [], options: {} },
      }),
      listener({ name: 'tcp', port: 9000, protocol: 'TCP' }),
    ],
  },
};

const parent = (overrides: Partial<ParentRef> = {}): ParentRef => ({
  group: 'gateway.networking.k8s.io',
  kind: 'Gateway',
  name: 'gw',
  namespace: 'ingress',
  ...overrides,
});

describe('route attachment', () => {
  it.each([
    ['HTTP', undefined, ['HTTPRoute', 'GRPCRoute']],
    ['HTTPS', 'Terminate', ['HTTPRoute', 'GRPCRoute']],
    ['TLS', 'Passthrough', ['TLSRoute']],
    ['TLS', 'Terminate', ['TCPRoute']],
    ['TCP', undefined, ['TCPRoute']],
    ['UDP', undefined, []],
  ] as const)('a %s listener (%s) carries %j', (protocol, mode, kinds) => {
    const tls = mode ? { mode, certificateRefs: [], options: {} } : undefined;
    expect(listenerRouteKinds(listener({ name: 'l', port: 1, protocol, tls }))).toEqual(kinds);
  });

  const route = (overrides: Partial<RouteRef>): RouteRef => ({
    kind: 'HTTPRoute',
    namespace: 'ingress',
    name: 'r',
    parentRefs: [parent()],
    hostnames: [],
    ...overrides,
  });
  const outcome = (r: RouteRef, labels: Record<string, string> = {}) =>
    attachRoute(GATEWAY, r, labels).map((p) => [p.reason, p.listeners.map((l) => l.listener.name)]);

  it.each([
    [
      'an HTTPRoute in the Gateway namespace: http and https (All)',
      route({}),
      [['Accepted', ['http', 'https']]],
    ],
    [
      'from another namespace: only https allows it',
      route({ namespace: 'apps', parentRefs: [parent()] }),
      [['Accepted', ['https']]],
    ],
    [
      'sectionName picks one listener',
      route({ parentRefs: [parent({ sectionName: 'http' })] }),
      [['Accepted', ['http']]],
    ],
    ['port picks listeners', route({ parentRefs: [parent({ port: 443 })] }), [['Accepted', ['https']]]],
    [
      'an unknown sectionName',
      route({ parentRefs: [parent({ sectionName: 'nope' })] }),
      [['NoMatchingParent', []]],
    ],
    [
      'hostnames matching no listener hostname',
      route({ parentRefs: [parent({ sectionName: 'https' })], hostnames: ['other.org'] }),
      [['NoMatchingListenerHostname', []]],
    ],
    [
      'a kind the listener does not list',
      route({ parentRefs: [parent({ sectionName: 'apps' })] }),
      [['NotAllowedByListeners', []]],
    ],
    [
      'a TLSRoute goes to the passthrough listener',
      route({ kind: 'TLSRoute', hostnames: ['a.example'] }),
      [['Accepted', ['tls']]],
    ],
    ['a TCPRoute to the TCP listener', route({ kind: 'TCPRoute' }), [['Accepted', ['tcp']]]],
    ['a parentRef to another Gateway', route({ parentRefs: [parent({ name: 'other' })] }), []],
  ])('%s', (_what, r, expected) => {
    expect(outcome(r)).toEqual(expected);
  });

  it('a Selector listener takes routes from namespaces whose labels match', () => {
    const grpc = route({
      kind: 'GRPCRoute',
      namespace: 'apps',
      parentRefs: [parent({ sectionName: 'apps' })],
    });
    expect(outcome(grpc, { ingress: 'yes' })).toEqual([['Accepted', ['apps']]]);
    expect(outcome(grpc, { ingress: 'no' })).toEqual([['NotAllowedByListeners', []]]);
  });
});

describe('ReferenceGrant', () => {
  const grant = {
    name: 'g',
    namespace: 'backends',
    spec: {
      from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'ingress' }],
      to: [{ group: '', kind: 'Service', name: 'api' }],
    },
  };
  const from = { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'ingress' };
  it.each([
    ['same namespace needs no grant', [], { ...from, namespace: 'backends' }, 'api', true],
    ['granted kind, namespace and name', [grant], from, 'api', true],
    ['another name than the grant names', [grant], from, 'db', false],
    ['another referring kind', [grant], { ...from, kind: 'TCPRoute' }, 'api', false],
    ['no grant', [], from, 'api', false],
  ])('%s', (_what, grants, referrer, name, expected) => {
    expect(
      referenceGranted(grants, referrer, { group: '', kind: 'Service', namespace: 'backends', name }),
    ).toBe(expected);
  });
});

// -----------------------------------------------------------------------------------------------------------
// The compiled table

const service = (name: string, namespace: string, port: number): Service => ({
  name,
  namespace,
  hostname: `${name}.${namespace}.svc.cluster.local`,
  vips: ['10.96.0.10'],
  ports: [{ name: 'http', port, targetPort: port, protocol: 'TCP', appProtocol: 'http' }],
  endpoints: [{ workloadUid: `${namespace}/${name}-0`, ip: '10.244.1.5', ready: true }],
});

const PEM = {
  cert: '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n',
  key: '-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n',
};
const secret = (name: string, namespace = 'ingress') => ({
  name,
  namespace,
  spec: {
    type: 'kubernetes.io/tls',
    entries: {
      'tls.crt': Buffer.from(PEM.cert).toString('base64'),
      'tls.key': Buffer.from(PEM.key).toString('base64'),
    },
  },
});

function inputs(overrides: Partial<IngressInputs> = {}): IngressInputs {
  return {
    gateway: GATEWAY,
    services: [service('web', 'ingress', 8000), service('api', 'apps', 9000), service('db', 'ingress', 5432)],
    workloads: [],
    destinationRules: [],
    httpRoutes: [],
    grpcRoutes: [],
    tcpRoutes: [],
    tlsRoutes: [],
    referenceGrants: [],
    secrets: [secret('wild')],
    namespaceLabels: new Map(),
    attachedPolicies: [],
    trustDomain: 'cluster.local',
    ingressViaWaypoint: [],
    ...overrides,
  };
}

const httpRoute = (
  name: string,
  namespace: string,
  hostnames: string[],
  path: string,
  backend: string,
  port: number,
) => ({
  name,
  namespace,
  spec: {
    parentRefs: [parent()],
    hostnames,
    rules: [
      {
        matches: [{ path: { type: 'PathPrefix' as const, value: path }, headers: [], queryParams: [] }],
        filters: [],
        backendRefs: [{ group: '', kind: 'Service', name: backend, port, weight: 1, filters: [] }],
      },
    ],
  },
});

const port = (compiled: ReturnType<typeof compileIngress>, number: number): ServedPort | undefined =>
  compiled.table.servedServices[0]!.ports.find((p) => p.port === number);

describe('compileIngress', () => {
  it('lists one plan per port with its wire and TLS mode, and a table the data plane accepts', () => {
    const compiled = compileIngress(inputs());
    expect(compiled.table.listeners?.map((l) => [l.port, l.wire, l.tls.mode])).toEqual([
      [80, 'http', 'none'],
      [443, 'http', 'terminate'],
      [8080, 'http', 'none'],
      [8443, 'tcp', 'passthrough'],
      [9000, 'tcp', 'none'],
    ]);
    const https = compiled.table.listeners?.find((l) => l.port === 443)?.tls;
    expect(https).toEqual({
      mode: 'terminate',
      certificates: [{ hostname: '*.example.com', certificatePem: PEM.cert, keyPem: PEM.key }],
    });
    expect(routeTableProblems(compiled.table)).toEqual([]);
  });

  it('narrows routes to their hostnames on hostname listeners and ranks exact names first', () => {
    const compiled = compileIngress(
      inputs({
        httpRoutes: [
          httpRoute('wild', 'ingress', ['*.example.com'], '/', 'web', 8000),
          httpRoute('exact', 'ingress', ['shop.example.com'], '/', 'web', 8000),
        ],
      }),
    );
    const https = port(compiled, 443)!;
    expect(https.routes.map((r) => [r.origin.name, r.matches[0]?.authority])).toEqual([
      ['exact', hostnameMatcher('shop.example.com')],
      ['wild', hostnameMatcher('*.example.com')],
    ]);
    // The HTTP listener (no hostname) takes both with their own hostnames.
    expect(port(compiled, 80)!.routes).toHaveLength(2);
  });

  it('answers 500 for a backend in another namespace unless a ReferenceGrant allows it', () => {
    const route = httpRoute('cross', 'ingress', [], '/', 'api', 9000);
    route.spec.rules[0]!.backendRefs[0] = {
      ...route.spec.rules[0]!.backendRefs[0]!,
      namespace: 'apps',
    } as never;
    const refused = compileIngress(inputs({ httpRoutes: [route] }));
    const action = port(refused, 80)!.routes[0]!.action;
    expect(action.kind === 'forward' && action.backends[0]?.kind).toBe('invalid');
    expect(refused.routes[0]!.conditions[1]).toMatchObject({
      type: 'ResolvedRefs',
      status: 'False',
      reason: 'RefNotPermitted',
    });
    const granted = compileIngress(
      inputs({
        httpRoutes: [route],
        referenceGrants: [
          {
            name: 'g',
            namespace: 'apps',
            spec: {
              from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'ingress' }],
              to: [{ group: '', kind: 'Service' }],
            },
          },
        ],
      }),
    );
    const allowed = port(granted, 80)!.routes[0]!.action;
    expect(allowed.kind === 'forward' && allowed.backends[0]?.kind).toBe('cluster');
  });

  it.each([
    ['a missing Secret', [], 'InvalidCertificateRef'],
    [
      'a Secret without PEM',
      [{ ...secret('wild'), spec: { type: 'kubernetes.io/tls', entries: { 'tls.crt': 'AA==' } } }],
      'InvalidCertificateRef',
    ],
  ])('does not program an HTTPS listener with %s', (_what, secrets, reason) => {
    const compiled = compileIngress(inputs({ secrets }));
    expect(compiled.table.listeners?.some((l) => l.port === 443)).toBe(false);
    const https = compiled.listeners.find((l) => l.name === 'https')!;
    expect(https.conditions.find((c) => c.type === 'ResolvedRefs')).toMatchObject({
      status: 'False',
      reason,
    });
    expect(https.conditions.find((c) => c.type === 'Programmed')?.status).toBe('False');
  });

  it('programs neither of two listeners that disagree on one port (Conflicted)', () => {
    const gateway = {
      ...GATEWAY,
      spec: {
        ...GATEWAY.spec,
        listeners: [
          listener({ name: 'a', port: 7000, protocol: 'HTTP' }),
          listener({ name: 'b', port: 7000, protocol: 'TCP' }),
        ],
      },
    };
    const compiled = compileIngress(inputs({ gateway }));
    expect(compiled.table.listeners).toEqual([]);
    expect(compiled.listeners.map((l) => l.conditions.find((c) => c.type === 'Conflicted')?.status)).toEqual([
      'True',
      'True',
    ]);
  });

  it.each([
    ['not labelled: straight to the endpoints', false, true, [['10.244.1.5', undefined]], undefined],
    [
      'labelled: to the waypoint, asked for the VIP',
      true,
      true,
      [['10.244.2.9', '10.96.0.10:8000']],
      undefined,
    ],
    ['labelled, the waypoint without instances: nowhere', true, false, [], 'has no instance'],
  ])('istio.io/ingress-use-waypoint, %s', (_what, labelled, instances, endpoints, problem) => {
    const web = { ...service('web', 'ingress', 8000), waypoint: { name: 'wp', namespace: 'ingress' } };
    const wp = {
      ...service('wp', 'ingress', 15008),
      vips: [],
      endpoints: instances ? [{ workloadUid: 'ingress/wp-0', ip: '10.244.2.9', ready: true }] : [],
    };
    const compiled = compileIngress(
      inputs({
        services: [web, wp],
        httpRoutes: [httpRoute('web', 'ingress', [], '/', 'web', 8000)],
        ingressViaWaypoint: labelled ? [web.hostname] : [],
      }),
    );
    const cluster = compiled.table.clusters.find((c) => c.hostname === web.hostname)!;
    expect(cluster.endpoints.map((e) => [e.ip, e.authority])).toEqual(endpoints);
    if (problem) expect(cluster.problem).toContain(problem);
    else expect(cluster.problem).toBeUndefined();
  });

  it('routes TLS by SNI (most specific first) and TCP to any, as tcpRoutes', () => {
    const l4 = (name: string, hostnames: string[], backend: string, backendPort: number) => ({
      name,
      namespace: 'ingress',
      spec: {
        parentRefs: [parent()],
        hostnames,
        rules: [
          { backendRefs: [{ group: '', kind: 'Service', name: backend, port: backendPort, weight: 1 }] },
        ],
      },
    });
    const compiled = compileIngress(
      inputs({
        tlsRoutes: [l4('wild', ['*.example.com'], 'web', 8000), l4('exact', ['db.example.com'], 'db', 5432)],
        tcpRoutes: [l4('tcp', [], 'db', 5432)],
      }),
    );
    expect(port(compiled, 8443)!.tcpRoutes?.map((r) => [r.origin.name, r.sni])).toEqual([
      ['exact', [hostnameMatcher('db.example.com')]],
      ['wild', [hostnameMatcher('*.example.com')]],
    ]);
    expect(port(compiled, 9000)!.tcpRoutes?.map((r) => [r.origin.name, r.sni])).toEqual([['tcp', []]]);

    // The data plane's choice over that table.
    const state = new WaypointState(
      {
        ...compiled.table,
        version: '1',
        waypoint: GATEWAY,
        workloads: [],
        services: [...inputs().services],
        trustBundle: [],
      },
      new EndpointLoad(),
    );
    const target = (p: number) => state.target('gw.ingress.svc.cluster.local', p)!;
    const pick = (p: number, sni: string | undefined) =>
      tcpCluster({ state, target: target(p), sni }, () => 0)?.hostname;
    expect(pick(8443, 'db.example.com')).toBe('db.ingress.svc.cluster.local');
    expect(pick(8443, 'x.example.com')).toBe('web.ingress.svc.cluster.local');
    expect(pick(8443, 'other.org')).toBeUndefined();
    expect(pick(8443, undefined)).toBeUndefined();
    expect(pick(9000, undefined)).toBe('db.ingress.svc.cluster.local');
  });
});

// -----------------------------------------------------------------------------------------------------------
// Data plane decisions

/** A ClientHello record as a TLS client writes one (extensions: optional SNI, and padding). */
function clientHello(serverName?: string): Buffer {
  const extensions: Buffer[] = [];
  if (serverName !== undefined) {
    const name = Buffer.from(serverName, 'ascii');
    const entry = Buffer.concat([Buffer.from([0]), u16(name.length), name]);
    const list = Buffer.concat([u16(entry.length), entry]);
    extensions.push(Buffer.concat([u16(0), u16(list.length), list]));
  }
  extensions.push(Buffer.concat([u16(21), u16(3), Buffer.alloc(3)]));
  const extensionBytes = Buffer.concat(extensions);
  const body = Buffer.concat([
    Buffer.from([3, 3]),
    Buffer.alloc(32, 7),
    Buffer.from([0]),
    u16(2),
    Buffer.from([0x13, 0x01]),
    Buffer.from([1, 0]),
    u16(extensionBytes.length),
    extensionBytes,
  ]);
  const handshake = Buffer.concat([Buffer.from([1, 0, body.length >> 8, body.length & 0xff]), body]);
  return Buffer.concat([Buffer.from([0x16, 3, 1]), u16(handshake.length), handshake]);
}

function u16(value: number): Buffer {
  const out = Buffer.alloc(2);
  out.writeUInt16BE(value);
  return out;
}

describe('ClientHello SNI', () => {
  const hello = clientHello('Secure.Passthrough.Example');
  it.each([
    ['a whole ClientHello', hello, { kind: 'clientHello', serverName: 'secure.passthrough.example' }],
    ['without SNI', clientHello(), { kind: 'clientHello', serverName: undefined }],
    ['nothing yet', Buffer.alloc(0), { kind: 'more' }],
    ['a record header only', hello.subarray(0, 5), { kind: 'more' }],
    ['half of it', hello.subarray(0, 40), { kind: 'more' }],
    ['HTTP instead', Buffer.from('GET / HTTP/1.1\r\n'), { kind: 'notTls' }],
    [
      'a handshake that is not a ClientHello',
      Buffer.from([0x16, 3, 1, 0, 4, 2, 0, 0, 0]),
      { kind: 'notTls' },
    ],
    [
      'a length past the record',
      (() => {
        const b = Buffer.from(hello);
        b[8] = 0xff;
        return b;
      })(),
      { kind: 'notTls' },
    ],
  ])('%s', (_what, bytes, expected) => {
    expect(readClientHello(bytes)).toEqual(expected);
  });

  it('never throws on truncated or corrupted bytes', () => {
    for (let cut = 0; cut <= hello.length; cut++)
      expect(() => readClientHello(hello.subarray(0, cut))).not.toThrow();
    for (let i = 5; i < hello.length; i++) {
      const corrupted = Buffer.from(hello);
      corrupted[i] = corrupted[i]! ^ 0xff;
      expect(() => readClientHello(corrupted)).not.toThrow();
    }
  });
});

describe('the certificate for an SNI', () => {
  const cert = (hostname: string | undefined): ListenerCertificate => ({
    hostname,
    certificatePem: hostname ?? 'any',
    keyPem: '',
  });
  const list = [cert('shop.example.com'), cert('*.example.com'), cert(undefined)];
  it.each([
    ['shop.example.com', 'shop.example.com'],
    ['a.example.com', '*.example.com'],
    ['other.org', 'any'],
    [undefined, 'any'],
  ])('SNI %s -> %s', (sni, expected) => {
    expect(certificateFor(list, sni)?.certificatePem).toBe(expected);
  });
  it('none when no hostname matches and none is a catch-all', () => {
    expect(certificateFor([cert('shop.example.com')], 'other.org')).toBeUndefined();
    expect(certificateFor([cert('shop.example.com')], undefined)?.hostname).toBe('shop.example.com');
  });
});

describe('port mappings', () => {
  it.each([
    ['8080:80', { hostPort: 8080, podPort: 80 }],
    ['80', { hostPort: 80, podPort: 80 }],
    ['0:443', { hostPort: 0, podPort: 443 }],
  ])('%s', (text, expected) => {
    expect(parsePortMapping(text)).toEqual(expected);
  });
  it.each(['', '8080:', ':80', '70000:80', '80:0', 'a:b', '1:2:3'])('refuses %j', (text) => {
    expect(() => parsePortMapping(text)).toThrow(/invalid port mapping/);
  });
  it.each([
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['::1', true],
    ['0.0.0.0', false],
    ['10.244.1.5', false],
    ['localhost', false],
  ])('listens on %s: %s', (address, expected) => {
    expect(isLoopback(address)).toBe(expected);
  });
});

describe('cluster-file port mappings (spec.portMappings)', () => {
  const parse = (mappings: string) => {
    const content = `apiVersion: ambit.dev/v1alpha1
kind: Cluster
metadata: {name: c}
spec:
  nodes: [{name: n1}]
  portMappings: ${mappings}
`;
    const parsed = parseFiles([{ name: 'cluster.yaml', content }], LOCAL_KINDS);
    return {
      errors: parsed.issues.filter((issue) => issue.severity === 'error').map(formatIssue),
      mappings: (parsed.resources[0]?.spec as ClusterSpec | undefined)?.portMappings,
    };
  };

  it('reads each mapping, the namespace and the loopback address defaulted', () => {
    expect(
      parse(
        '[{hostPort: 8080, pod: istio-ingressgateway-0, namespace: istio-system, podPort: 8080}, {hostPort: 9443, pod: gw-0, podPort: 443, listenAddress: "::1"}]',
      ),
    ).toEqual({
      errors: [],
      mappings: [
        {
          listenAddress: '127.0.0.1',
          hostPort: 8080,
          namespace: 'istio-system',
          pod: 'istio-ingressgateway-0',
          podPort: 8080,
        },
        { listenAddress: '::1', hostPort: 9443, namespace: 'default', pod: 'gw-0', podPort: 443 },
      ],
    });
  });

  it.each([
    [
      '[{hostPort: 8080, pod: gw-0, podPort: 80, listenAddress: 0.0.0.0}]',
      'spec.portMappings[0].listenAddress: 0.0.0.0 is not a loopback address',
    ],
    [
      '[{hostPort: 8080, pod: gw-0, podPort: 80}, {hostPort: 8080, pod: other-0, podPort: 80}]',
      'spec.portMappings[1].hostPort: 127.0.0.1:8080 is mapped twice',
    ],
    ['[{hostPort: 70000, pod: gw-0, podPort: 80}]', 'spec.portMappings[0].hostPort'],
    ['[{hostPort: 8080, podPort: 80}]', 'spec.portMappings[0].pod'],
    ['[{hostPort: 8080, pod: gw-0, podPort: 80, extra: 1}]', 'spec.portMappings[0]'],
  ])('refuses %s, naming the field', (mappings, expected) => {
    const { errors } = parse(mappings);
    expect(
      errors.some(
        (error) => error.includes('cluster.yaml: document 1 (Cluster c)') && error.includes(expected),
      ),
      errors.join('\n'),
    ).toBe(true);
  });
});
