/**
 * ServiceEntry in the data plane, as units: VIP auto-allocation, the services an entry becomes (hosts, ports,
 * endpoints, VIPs), the mesh config's outboundTrafficPolicy, and where a ztunnel sends a connection to an
 * entry's VIP, range or to an address outside the registry under ALLOW_ANY and REGISTRY_ONLY.
 */
import { describe, expect, it } from 'vitest';
import { analyzeResources } from '../../src/control/config/analyze.ts';
import { parseFiles } from '../../src/control/config/parse.ts';
import { CONTROL_KINDS } from '../../src/control/kinds.ts';
import { buildMesh } from '../../src/control/model/mesh.ts';
import { allocateVips } from '../../src/control/model/service-entries.ts';
import { waypointRouteTable, ztunnelView } from '../../src/control/model/views.ts';
import { formatIssue } from '../../src/core/config/issues.ts';
import type { Service } from '../../src/core/model/index.ts';
import { EndpointLoad } from '../../src/waypoint/balance/balancer.ts';
import { WaypointState } from '../../src/waypoint/state.ts';
import { chooseOutbound } from '../../src/ztunnel/state/destination.ts';
import { StateStore } from '../../src/ztunnel/state/store.ts';
import { snapshot, workload } from '../support/mesh-fixtures.ts';

function meshOf(yaml: string) {
  const parsed = parseFiles([{ name: 'se.yaml', content: yaml }], CONTROL_KINDS);
  expect(parsed.issues.filter((issue) => issue.severity === 'error').map(formatIssue)).toEqual([]);
  const pods = [
    {
      uid: 'shop/vm-1',
      name: 'vm-1',
      namespace: 'shop',
      node: 'node-1',
      ips: ['10.244.0.9'],
      serviceAccount: 'vm',
      labels: { app: 'vm' },
      ready: true,
      ports: [],
    },
  ];
  return buildMesh({ resources: parsed.resources, pods, trustDomain: 'cluster.local', trustBundle: [] });
}

const ENTRIES = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: shop}
spec:
  hosts: [api.example.com, api2.example.com]
  resolution: STATIC
  ports: [{number: 443, name: https, protocol: TLS, targetPort: 8443}]
  endpoints: [{address: 192.0.2.10, ports: {https: 9443}}, {address: 192.0.2.11}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: fixed, namespace: shop}
spec:
  hosts: [fixed.example.com]
  addresses: [198.51.100.7]
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints: [{address: 192.0.2.20}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: range, namespace: shop}
spec:
  hosts: [partners.example.com]
  addresses: [203.0.113.0/24]
  resolution: NONE
  ports: [{number: 5432, name: tcp, protocol: TCP}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: by-name, namespace: shop}
spec:
  hosts: [search.example.com]
  resolution: DNS
  ports: [{number: 80, name: http, protocol: HTTP}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: vms, namespace: shop}
spec:
  hosts: [vms.shop.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  workloadSelector: {labels: {app: vm}}
  ports: [{number: 8080, name: http, protocol: HTTP}]
`;

const MESH_CONFIG = (mode: string) => `
---
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    outboundTrafficPolicy:
      mode: ${mode}
`;

describe('VIP auto-allocation', () => {
  it('gives each key an address in 240.240/16 that stays when other keys come and go', () => {
    const first = allocateVips(['shop/a/x.example.com', 'shop/b/y.example.com'], new Set());
    const more = allocateVips(
      ['shop/a/x.example.com', 'shop/b/y.example.com', 'web/c/z.example.com'],
      new Set(),
    );
    for (const [key, address] of first) {
      expect(address).toMatch(/^240\.240\.\d+\.\d+$/);
      expect(more.get(key)).toBe(address);
    }
    expect(new Set(more.values()).size).toBe(3);
  });

  it.each([['an address taken by an explicit entry', (vip: string) => new Set([vip])]])(
    'probes past %s',
    (_what, taken) => {
      const alone = allocateVips(['k'], new Set()).get('k')!;
      const moved = allocateVips(['k'], taken(alone)).get('k')!;
      expect(moved).not.toBe(alone);
      expect(moved).toMatch(/^240\.240\./);
    },
  );

  it('never hands out a .0 or .255 host part', () => {
    const addresses = allocateVips(
      Array.from({ length: 2000 }, (_, i) => `ns/e/${i}.example.com`),
      new Set(),
    );
    expect(addresses.size).toBe(2000);
    for (const address of addresses.values()) expect(address).not.toMatch(/\.(0|255)$/);
  });
});

describe('ServiceEntry services', () => {
  const mesh = meshOf(ENTRIES);
  const byHost = (host: string) => mesh.services.find((service) => service.hostname === host) as Service;

  it.each([
    ['api.example.com', { vipsAllocated: true, endpoints: ['192.0.2.10', '192.0.2.11'] }],
    ['api2.example.com', { vipsAllocated: true, endpoints: ['192.0.2.10', '192.0.2.11'] }],
    ['fixed.example.com', { vips: ['198.51.100.7'], endpoints: ['192.0.2.20'] }],
    ['partners.example.com', { vips: [], endpoints: [], ranges: ['203.0.113.0/24'] }],
    ['search.example.com', { vips: [], endpoints: [] }],
    ['vms.shop.internal', { vipsAllocated: true, endpoints: ['10.244.0.9'] }],
  ] as const)('%s', (host, expected) => {
    const service = byHost(host);
    expect(service).toMatchObject({ name: host, namespace: 'shop', hostname: host });
    if ('vipsAllocated' in expected) expect(service.vips).toEqual([expect.stringMatching(/^240\.240\./)]);
    else expect(service.vips).toEqual(expected.vips);
    expect(service.endpoints.map((endpoint) => endpoint.ip)).toEqual(expected.endpoints);
    if ('ranges' in expected) expect(service.serviceEntry?.ranges).toEqual(expected.ranges);
  });

  it('maps ports: targetPort per port, and an endpoint port per endpoint', () => {
    const api = byHost('api.example.com');
    expect(api.ports).toEqual([
      { name: 'https', port: 443, targetPort: 8443, protocol: 'TCP', appProtocol: 'tls' },
    ]);
    expect(api.endpoints[0]).toMatchObject({ workloadUid: '', targetPorts: { 443: 9443 } });
    expect(api.endpoints[1]?.targetPorts).toBeUndefined();
    expect(byHost('vms.shop.internal').endpoints[0]?.workloadUid).toBe('shop/vm-1');
  });

  it('gives two hosts of one entry two VIPs', () => {
    expect(byHost('api.example.com').vips[0]).not.toBe(byHost('api2.example.com').vips[0]);
  });
});

describe('outboundTrafficPolicy', () => {
  it.each([
    ['', 'ALLOW_ANY'],
    [MESH_CONFIG('REGISTRY_ONLY'), 'REGISTRY_ONLY'],
    [MESH_CONFIG('ALLOW_ANY'), 'ALLOW_ANY'],
  ])('mesh config %#', (config, expected) => {
    const mesh = meshOf(`${ENTRIES}${config}`);
    expect(mesh.meshConfig.outboundTrafficPolicy).toBe(expected);
    expect(ztunnelView(mesh, 'node-1').outboundTrafficPolicy).toBe(expected);
  });

  it.each([
    ['REGISTRY_ONY', 'data.mesh.outboundTrafficPolicy.mode: invalid value "REGISTRY_ONY"'],
    ['[a', 'data.mesh: not valid YAML'],
  ])('refuses mode %s', (mode, message) => {
    const parsed = parseFiles([{ name: 'm.yaml', content: MESH_CONFIG(mode) }], CONTROL_KINDS);
    const errors = parsed.issues.filter((issue) => issue.severity === 'error').map(formatIssue);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(`m.yaml: document 1 (ConfigMap istio-system/istio): ${message}`);
  });
});

describe('ztunnel destinations for ServiceEntries', () => {
  function storeFor(config: string) {
    const mesh = meshOf(`${ENTRIES}${config}`);
    const store = new StateStore();
    store.apply(
      snapshot({
        ...ztunnelView(mesh, 'node-1'),
        workloads: [workload({ name: 'vm-1', namespace: 'shop', ips: ['10.244.0.9'], enrolled: false })],
      }),
    );
    return { store, vip: (host: string) => mesh.services.find((s) => s.hostname === host)!.vips[0]! };
  }

  it.each([
    ['ALLOW_ANY', ''],
    ['REGISTRY_ONLY', MESH_CONFIG('REGISTRY_ONLY')],
  ])('under %s', (policy, config) => {
    const { store, vip } = storeFor(config);
    const first = chooseOutbound(store, vip('api.example.com'), 443);
    const second = chooseOutbound(store, vip('api.example.com'), 443);
    // Round robin over the entry's endpoints, each with its own port.
    expect([first, second]).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'passthrough', ip: '192.0.2.10', port: 9443 }),
        expect.objectContaining({ kind: 'passthrough', ip: '192.0.2.11', port: 8443 }),
      ]),
    );
    expect(first.destination.service?.hostname).toBe('api.example.com');
    expect(chooseOutbound(store, '198.51.100.7', 80)).toMatchObject({
      kind: 'passthrough',
      ip: '192.0.2.20',
      port: 80,
    });
    expect(chooseOutbound(store, vip('api.example.com'), 80)).toMatchObject({
      kind: 'reject',
      reason: 'no-service-port',
    });
    // resolution NONE: the address dialled, inside the entry's range, is where the connection goes.
    const ranged = chooseOutbound(store, '203.0.113.40', 5432);
    expect(ranged).toMatchObject({ kind: 'passthrough', ip: '203.0.113.40', port: 5432 });
    expect(ranged.destination.service?.hostname).toBe('partners.example.com');
    // A pod of the cluster, even outside the mesh, is in the registry.
    expect(chooseOutbound(store, '10.244.0.9', 8080)).toMatchObject({
      kind: 'passthrough',
      ip: '10.244.0.9',
    });
    expect(chooseOutbound(store, '192.0.2.200', 443)).toMatchObject(
      policy === 'REGISTRY_ONLY'
        ? { kind: 'reject', reason: 'not-in-registry' }
        : { kind: 'passthrough', ip: '192.0.2.200', port: 443 },
    );
  });
});

/** The egress waypoint the entries below are bound to. */
const EGRESS_WAYPOINT = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: istio-egress}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
---`;

describe('egress through a waypoint: the waypoint’s clusters for a ServiceEntry', () => {
  const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  const mesh = meshOf(`
${EGRESS_WAYPOINT}
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: outside, namespace: istio-egress, labels: {istio.io/use-waypoint: waypoint}}
spec:
  hosts: [api.outside.test]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints: [{address: 198.18.7.10, ports: {http: 8443}}, {address: 10.244.0.9}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: outside, namespace: istio-egress}
spec:
  host: api.outside.test
  trafficPolicy:
    tls: {mode: SIMPLE, credentialName: outside-ca, subjectAltNames: [api.outside.test]}
---
apiVersion: v1
kind: Secret
metadata: {name: outside-ca, namespace: istio-egress}
stringData:
  ca.crt: |
    ${CA.replaceAll('\n', '\n    ')}
`);
  const table = waypointRouteTable(mesh, { name: 'waypoint', namespace: 'istio-egress' }).table;
  const cluster = table.clusters.find((c) => c.hostname === 'api.outside.test');

  it('serves the entry bound to it with istio.io/use-waypoint', () => {
    expect(table.servedServices.map((service) => service.hostname)).toEqual(['api.outside.test']);
  });

  it('dials an address outside the mesh directly with the DestinationRule’s TLS, a pod over HBONE', () => {
    expect(cluster?.endpoints).toEqual([
      {
        workloadUid: '',
        ip: '198.18.7.10',
        port: 8443,
        ready: true,
        external: {
          tls: {
            mode: 'SIMPLE',
            sni: 'api.outside.test',
            caPem: CA,
            verify: true,
            subjectAltNames: ['api.outside.test'],
          },
        },
      },
      { workloadUid: 'shop/vm-1', ip: '10.244.0.9', port: 80, ready: true },
    ]);
  });

  it('gives the outside endpoint a workload of its own name, with no identity (no HBONE)', () => {
    const state = new WaypointState(
      {
        version: '1',
        waypoint: { name: 'waypoint', namespace: 'istio-egress' },
        workloads: [],
        services: mesh.services,
        trustBundle: [],
        ...table,
      },
      new EndpointLoad(),
    );
    const outside = state.endpointWorkload(cluster!, cluster!.endpoints[0]!);
    expect(outside).toMatchObject({ name: 'api.outside.test', namespace: 'istio-egress', identity: '' });
  });
});

describe('TLS a waypoint originates to a ServiceEntry, by DestinationRule tls and Secret', () => {
  const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  const KEY = '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n';
  const indent = (pem: string) => pem.replaceAll('\n', '\n    ');
  const secret = (name: string, entries: Record<string, string>) => `
---
apiVersion: v1
kind: Secret
metadata: {name: ${name}, namespace: istio-egress}
stringData:
${Object.entries(entries)
  .map(([key, pem]) => `  ${key}: |\n    ${indent(pem)}`)
  .join('\n')}`;
  const clusterFor = (tls: string, secrets = '') => {
    const compiled = waypointRouteTable(
      meshOf(`
${EGRESS_WAYPOINT}
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: outside, namespace: istio-egress, labels: {istio.io/use-waypoint: waypoint}}
spec:
  hosts: [api.outside.test]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 443, name: http, protocol: HTTP}]
  endpoints: [{address: 198.18.7.10}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: outside, namespace: istio-egress}
spec:
  host: api.outside.test
  trafficPolicy:
    tls: ${tls}
${secrets}`),
      { name: 'waypoint', namespace: 'istio-egress' },
    );
    const cluster = compiled.table.clusters.find((c) => c.hostname === 'api.outside.test')!;
    return {
      cluster,
      notes: compiled.notes.map((note) => `${note.kind} ${note.name} ${note.path}: ${note.message}`),
    };
  };
  const tlsOf = (tls: string, secrets = '') => clusterFor(tls, secrets).cluster.endpoints[0]?.external?.tls;

  it.each([
    [
      'SIMPLE without credentialName: the system roots',
      '{mode: SIMPLE}',
      '',
      { mode: 'SIMPLE', caPem: undefined },
    ],
    [
      'SIMPLE with a CA Secret',
      '{mode: SIMPLE, credentialName: ca}',
      secret('ca', { 'ca.crt': CA }),
      { caPem: CA },
    ],
    [
      'MUTUAL: the Secret’s certificate, key and CA',
      '{mode: MUTUAL, credentialName: client}',
      secret('client', { 'tls.crt': CA, 'tls.key': KEY, 'ca.crt': CA }),
      { mode: 'MUTUAL', caPem: CA, clientCertificate: { certificatePem: CA, keyPem: KEY } },
    ],
    [
      'MUTUAL without ca.crt: the system roots, still the client certificate',
      '{mode: MUTUAL, credentialName: client}',
      secret('client', { 'tls.crt': CA, 'tls.key': KEY }),
      { caPem: undefined, clientCertificate: { certificatePem: CA, keyPem: KEY } },
    ],
    [
      'ISTIO_MUTUAL: the mesh certificate, Istio’s SNI',
      '{mode: ISTIO_MUTUAL}',
      '',
      { mode: 'ISTIO_MUTUAL', sni: 'outbound_.443_._.api.outside.test', caPem: undefined },
    ],
  ])('%s', (_what, tls, secrets, expected) => {
    const { cluster, notes } = clusterFor(tls, secrets);
    expect(cluster.problem).toBeUndefined();
    expect(notes).toEqual([]);
    const { caPem, ...rest } = expected;
    expect(cluster.endpoints[0]?.external?.tls).toMatchObject(rest);
    expect(cluster.endpoints[0]?.external?.tls?.caPem).toBe(caPem);
  });

  it('originates nothing for DISABLE', () => {
    expect(tlsOf('{mode: DISABLE}')).toBeUndefined();
  });

  it.each([
    [
      'a credentialName naming no Secret',
      '{mode: SIMPLE, credentialName: gone}',
      '',
      'credentialName "gone" names no Secret in istio-egress',
    ],
    [
      'a SIMPLE Secret without ca.crt',
      '{mode: SIMPLE, credentialName: client}',
      secret('client', { 'tls.crt': CA, 'tls.key': KEY }),
      'Secret istio-egress/client has no ca.crt to check the server with',
    ],
    [
      'a MUTUAL Secret without a key',
      '{mode: MUTUAL, credentialName: ca}',
      secret('ca', { 'ca.crt': CA }),
      'Secret istio-egress/ca needs PEM tls.crt and tls.key (type kubernetes.io/tls)',
    ],
    [
      'MUTUAL from files (a sidecar’s)',
      '{mode: MUTUAL, clientCertificate: /etc/c.pem, privateKey: /etc/k.pem}',
      '',
      'tls.mode MUTUAL needs credentialName (a waypoint reads no clientCertificate/privateKey files)',
    ],
  ])(
    'fails closed on %s: no endpoints, a problem, a note on the DestinationRule',
    (_what, tls, secrets, why) => {
      const { cluster, notes } = clusterFor(tls, secrets);
      expect(cluster.endpoints).toEqual([]);
      expect(cluster.problem).toBe(why);
      expect(notes).toEqual([
        `DestinationRule outside spec.trafficPolicy.tls: ${why}: requests to api.outside.test get 503`,
      ]);
    },
  );
});

describe('DNS ServiceEntries: hostname endpoints the waypoint resolves', () => {
  const entry = (resolution: string, endpoints: string, labels = '{istio.io/use-waypoint: waypoint}') =>
    meshOf(`
${EGRESS_WAYPOINT}
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: outside, namespace: istio-egress, labels: ${labels}}
spec:
  hosts: [api.outside.test]
  location: MESH_EXTERNAL
  resolution: ${resolution}
  ports: [{number: 80, name: http, protocol: HTTP}]
${endpoints}`);
  const endpointsOf = (mesh: ReturnType<typeof meshOf>) =>
    waypointRouteTable(mesh, { name: 'waypoint', namespace: 'istio-egress' }).table.clusters.find(
      (c) => c.hostname === 'api.outside.test',
    )?.endpoints;

  it.each([
    [
      'DNS: each listed hostname, every address of its answer',
      'DNS',
      '  endpoints: [{address: a.dns.test, ports: {http: 8080}}, {address: b.dns.test}]',
      [
        { hostname: 'a.dns.test', use: 'all', port: 8080 },
        { hostname: 'b.dns.test', use: 'all', port: 80 },
      ],
    ],
    [
      'DNS_ROUND_ROBIN: the first address of each answer',
      'DNS_ROUND_ROBIN',
      '  endpoints: [{address: a.dns.test}]',
      [{ hostname: 'a.dns.test', use: 'first', port: 80 }],
    ],
    ['no endpoints: the host itself', 'DNS', '', [{ hostname: 'api.outside.test', use: 'all', port: 80 }]],
  ])('%s', (_what, resolution, endpoints, expected) => {
    const mesh = entry(resolution, endpoints);
    const service = mesh.services.find((s) => s.hostname === 'api.outside.test')!;
    // A VIP (what the client's DNS proxy answers) that leads to the waypoint; no endpoint for ztunnels.
    expect(service.vips).toEqual([expect.stringMatching(/^240\.240\./)]);
    expect(service.endpoints).toEqual([]);
    expect(
      endpointsOf(mesh)?.map((e) => ({
        hostname: e.external?.resolve?.hostname,
        use: e.external?.resolve?.use,
        port: e.port,
      })),
    ).toEqual(expected);
    expect(endpointsOf(mesh)?.every((e) => e.ip === '' && e.workloadUid === '')).toBe(true);
  });

  it('allocates no VIP for hostname endpoints when no waypoint serves the entry: the cluster DNS answers', () => {
    const mesh = entry('DNS', '  endpoints: [{address: a.dns.test}]', '{}');
    expect(mesh.services.find((s) => s.hostname === 'api.outside.test')?.vips).toEqual([]);
  });

  it('mixes IP endpoints (for ztunnels too) with hostname ones (for the waypoint only)', () => {
    const mesh = entry('DNS', '  endpoints: [{address: 198.18.7.10}, {address: a.dns.test}]');
    expect(mesh.services.find((s) => s.hostname === 'api.outside.test')?.endpoints.map((e) => e.ip)).toEqual([
      '198.18.7.10',
    ]);
    expect(endpointsOf(mesh)?.map((e) => e.ip || e.external?.resolve?.hostname)).toEqual([
      '198.18.7.10',
      'a.dns.test',
    ]);
  });
});

describe('DYNAMIC_DNS ServiceEntries: the wildcard host the waypoint resolves per request', () => {
  const entry = (location: string, labels = '{istio.io/use-waypoint: waypoint}') =>
    meshOf(`
${EGRESS_WAYPOINT}
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: wild, namespace: istio-egress, labels: ${labels}}
spec:
  hosts: ["*.wild.test"]
  location: ${location}
  resolution: DYNAMIC_DNS
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 8080}]
`);
  const wild = (mesh: ReturnType<typeof meshOf>) => mesh.services.find((s) => s.hostname === '*.wild.test');

  it('gives a served outside wildcard host a VIP and one endpoint standing for the request host', () => {
    const mesh = entry('MESH_EXTERNAL');
    expect(wild(mesh)?.vips).toEqual([expect.stringMatching(/^240\.240\./)]);
    const cluster = waypointRouteTable(mesh, {
      name: 'waypoint',
      namespace: 'istio-egress',
    }).table.clusters.find((c) => c.hostname === '*.wild.test');
    expect(cluster?.endpoints).toEqual([
      {
        workloadUid: '',
        ip: '',
        port: 8080,
        ready: true,
        external: { resolve: { hostname: '', use: 'all', under: '*.wild.test' } },
      },
    ]);
  });

  it.each([
    ['no waypoint serves it', 'MESH_EXTERNAL', '{}'],
    ['it is MESH_INTERNAL (Istio resolves outside services only)', 'MESH_INTERNAL', undefined],
  ])('allocates no VIP when %s: nothing captures its names', (_what, location, labels) => {
    expect(wild(entry(location, labels))?.vips).toEqual([]);
  });

  it.each([
    ['HTTP', false],
    ['TLS', false],
    ['HTTPS', false],
    ['TCP', true],
  ])('a %s port is warned of as carrying no name to resolve: %s', (protocol, warned) => {
    const yaml = `${EGRESS_WAYPOINT}
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: wild, namespace: istio-egress, labels: {istio.io/use-waypoint: waypoint}}
spec:
  hosts: ["*.wild.test"]
  location: MESH_EXTERNAL
  resolution: DYNAMIC_DNS
  ports: [{number: 443, name: p, protocol: ${protocol}}]
`;
    const parsed = parseFiles([{ name: 'se.yaml', content: yaml }], CONTROL_KINDS);
    const notes = analyzeResources(parsed.resources, 'cluster.local').map(formatIssue);
    expect(
      notes.some((note) => note.includes('spec.ports[0]') && note.includes('has no host to resolve')),
    ).toBe(warned);
  });
});
