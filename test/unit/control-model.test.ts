/**
 * Building the data plane's model from config and pods, and what each subscriber receives: workloads
 * (identity, enrollment, waypoint), services (VIPs, ports, endpoints), AuthorizationPolicy translated to L4
 * with ztunnel's semantics, PeerAuthentication, and the per-node / per-waypoint views.
 */
import { describe, expect, it } from 'vitest';
import { parseFiles } from '../../src/control/config/parse.ts';
import { CONTROL_KINDS } from '../../src/control/kinds.ts';
import { toL4Policy } from '../../src/control/model/authorization.ts';
import { buildMesh } from '../../src/control/model/mesh.ts';
import { toPeerAuthPolicies } from '../../src/control/model/peer-authentication.ts';
import { waypointView, ztunnelView } from '../../src/control/model/views.ts';
import type { PodRecord } from '../../src/control/pods/pod-source.ts';
import type {
  AuthorizationPolicySpec,
  PeerAuthenticationSpec,
} from '../../src/core/config/kinds/istio-security.ts';
import type { Resource } from '../../src/core/config/resource.ts';

function resources(yaml: string): Resource[] {
  const parsed = parseFiles([{ name: 'm.yaml', content: yaml }], CONTROL_KINDS);
  expect(parsed.issues.filter((issue) => issue.severity === 'error')).toEqual([]);
  return parsed.resources;
}

function pod(
  name: string,
  namespace: string,
  node: string,
  ip: string,
  extra: Partial<PodRecord> = {},
): PodRecord {
  return {
    uid: `${namespace}/${name}`,
    name,
    namespace,
    node,
    ips: [ip],
    serviceAccount: 'default',
    labels: {},
    ready: true,
    ports: [],
    ...extra,
  };
}

const CONFIG = `
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: shop-waypoint}}
---
apiVersion: v1
kind: Namespace
metadata: {name: legacy}
---
apiVersion: v1
kind: Service
metadata: {name: cart, namespace: shop}
spec:
  selector: {app: cart}
  clusterIP: 10.96.0.21
  ports: [{name: http-web, port: 80, targetPort: web}, {name: grpc, port: 9000, targetPort: 9001, appProtocol: HTTP2}]
---
apiVersion: v1
kind: Service
metadata: {name: ledger, namespace: legacy, labels: {istio.io/use-waypoint: ledger-wp}}
spec: {selector: {app: ledger}, clusterIP: None, ports: [{port: 5432}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: cart-allow, namespace: shop}
spec:
  selector: {matchLabels: {app: cart}}
  rules: [{from: [{source: {serviceAccounts: [frontend, legacy/batch]}}], to: [{operation: {ports: ["8080"]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: mesh-deny, namespace: istio-system}
spec: {action: DENY, rules: [{from: [{source: {ipBlocks: [203.0.113.0/24]}}]}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: audit-all-apps, namespace: istio-system}
spec: {selector: {matchLabels: {tier: audit}}, rules: [{}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: waypoint-l7, namespace: shop}
spec:
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: shop-waypoint}]
  rules: [{to: [{operation: {methods: [GET]}}]}]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: strict, namespace: shop}
spec: {mtls: {mode: STRICT}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: shop-waypoint, namespace: shop}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: cart, namespace: shop}
spec: {hosts: [cart], http: [{route: [{destination: {host: cart}}]}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: other, namespace: shop}
spec: {hosts: [ledger.legacy.svc.cluster.local], http: [{route: [{destination: {host: ledger.legacy.svc.cluster.local}}]}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: cart, namespace: shop}
spec: {parentRefs: [{group: "", kind: Service, name: cart}], rules: [{backendRefs: [{name: cart, port: 80}]}]}
`;

const PODS: PodRecord[] = [
  pod('cart-7d9f8-abcde', 'shop', 'node-a', '10.244.1.10', {
    labels: { app: 'cart', version: 'v2', 'pod-template-hash': '7d9f8' },
    serviceAccount: 'cart',
    ports: [{ name: 'web', containerPort: 8080 }],
  }),
  pod('cart-7d9f8-fghij', 'shop', 'node-b', '10.244.2.11', {
    labels: { app: 'cart', 'pod-template-hash': '7d9f8' },
    serviceAccount: 'cart',
  }),
  pod('opted-out', 'shop', 'node-b', '10.244.2.12', {
    labels: { 'istio.io/dataplane-mode': 'none', 'istio.io/use-waypoint': 'none' },
  }),
  pod('ledger-0', 'legacy', 'node-c', '10.244.3.13', { labels: { app: 'ledger', tier: 'audit' } }),
  pod('enrolled-legacy', 'legacy', 'node-c', '10.244.3.14', {
    labels: { 'istio.io/dataplane-mode': 'ambient', tier: 'audit' },
  }),
];

const mesh = buildMesh({
  resources: resources(CONFIG),
  pods: PODS,
  trustDomain: 'example.org',
  trustBundle: ['ROOT'],
});
const byName = (name: string) => mesh.workloads.find((workload) => workload.name === name)!;

describe('workloads', () => {
  it('derive identity, enrollment, canonical name/revision and waypoint from pod and namespace', () => {
    expect(byName('cart-7d9f8-abcde')).toEqual({
      uid: 'shop/cart-7d9f8-abcde',
      name: 'cart-7d9f8-abcde',
      namespace: 'shop',
      node: 'node-a',
      ips: ['10.244.1.10'],
      serviceAccount: 'cart',
      identity: 'spiffe://example.org/ns/shop/sa/cart',
      labels: { app: 'cart', version: 'v2', 'pod-template-hash': '7d9f8' },
      enrolled: true,
      canonicalName: 'cart',
      canonicalRevision: 'v2',
      // The namespace's waypoint serves services only (no istio.io/waypoint-for): pod IPs go direct.
      waypoint: undefined,
    });
    expect(byName('opted-out')).toMatchObject({
      enrolled: false,
      waypoint: undefined,
      canonicalName: 'opted-out',
      canonicalRevision: 'latest',
    });
    expect(byName('ledger-0').enrolled).toBe(false);
    expect(byName('enrolled-legacy').enrolled).toBe(true);
  });

  it('names a Deployment pod by its Deployment when it has no app label', () => {
    const [workload] = buildMesh({
      resources: [],
      pods: [
        pod('web-5f6c7-x2x2x', 'default', 'n', '10.0.0.1', { labels: { 'pod-template-hash': '5f6c7' } }),
      ],
      trustDomain: 'cluster.local',
      trustBundle: [],
    }).workloads;
    expect(workload!.canonicalName).toBe('web');
  });
});

describe('services', () => {
  it('carry hostname, VIPs, resolved target ports, app protocol and one endpoint per selected pod IP', () => {
    const cart = mesh.services.find((service) => service.name === 'cart')!;
    expect(cart).toEqual({
      name: 'cart',
      namespace: 'shop',
      hostname: 'cart.shop.svc.cluster.local',
      vips: ['10.96.0.21'],
      ports: [
        { name: 'http-web', port: 80, targetPort: 8080, protocol: 'TCP', appProtocol: 'http' },
        { name: 'grpc', port: 9000, targetPort: 9001, protocol: 'TCP', appProtocol: 'http2' },
      ],
      endpoints: [
        { workloadUid: 'shop/cart-7d9f8-abcde', ip: '10.244.1.10', ready: true },
        { workloadUid: 'shop/cart-7d9f8-fghij', ip: '10.244.2.11', ready: true },
      ],
      waypoint: { name: 'shop-waypoint', namespace: 'shop' },
    });
    const ledger = mesh.services.find((service) => service.name === 'ledger')!;
    expect(ledger.vips).toEqual([]);
    expect(ledger.ports).toEqual([
      { name: undefined, port: 5432, targetPort: 5432, protocol: 'TCP', appProtocol: undefined },
    ]);
    expect(ledger.waypoint).toEqual({ name: 'ledger-wp', namespace: 'legacy' });
  });
});

describe('what a ztunnel receives', () => {
  it('node-a: all workloads and services, and only the policies of its enrolled workloads', () => {
    const view = ztunnelView(mesh, 'node-a');
    expect(view.workloads).toHaveLength(PODS.length);
    expect(view.services.map((s) => s.name)).toEqual(['ledger', 'cart', 'shop-waypoint']);
    expect(view.policies.map((p) => `${p.namespace}/${p.name}`)).toEqual([
      'istio-system/mesh-deny',
      'shop/cart-allow',
    ]);
    expect(view.peerAuthentications.map((p) => p.name)).toEqual(['strict']);
    expect(view.trustBundle).toEqual(['ROOT']);
  });

  it('node-c: the root-namespace selector policy matches its enrolled workload in another namespace', () => {
    const view = ztunnelView(mesh, 'node-c');
    expect(view.policies.map((p) => `${p.namespace}/${p.name}`)).toEqual([
      'istio-system/audit-all-apps',
      'istio-system/mesh-deny',
    ]);
    expect(view.peerAuthentications).toEqual([]);
  });

  it("its own node's workloads in full, the others' without their labels (addressing, identity, waypoint)", () => {
    const view = ztunnelView(mesh, 'node-a');
    for (const workload of view.workloads) {
      const full = mesh.workloads.find((w) => w.uid === workload.uid)!;
      if (workload.node === 'node-a') expect(workload).toBe(full);
      else expect(workload).toEqual({ ...full, labels: {} });
    }
    expect(view.workloads.filter((w) => w.node === 'node-a').length).toBeGreaterThan(0);
    expect(view.workloads.filter((w) => w.node !== 'node-a').length).toBeGreaterThan(0);
    // The same remote form for the same workload object, so its encoding is reused.
    expect(ztunnelView(mesh, 'node-c').workloads.find((w) => w.node === 'node-b')).toBe(
      view.workloads.find((w) => w.node === 'node-b'),
    );
  });

  it('a node without enrolled workloads gets no policies', () => {
    expect(ztunnelView(mesh, 'node-z').policies).toEqual([]);
  });

  it('the translated policy folds service accounts into principals (in the trust domain)', () => {
    expect(mesh.policies.find((p) => p.name === 'cart-allow')).toEqual({
      name: 'cart-allow',
      namespace: 'shop',
      scope: 'workload',
      selector: { app: 'cart' },
      action: 'ALLOW',
      rules: [
        {
          from: [
            {
              principals: ['example.org/ns/shop/sa/frontend', 'example.org/ns/legacy/sa/batch'],
              notPrincipals: [],
              namespaces: [],
              notNamespaces: [],
              ipBlocks: [],
              notIpBlocks: [],
            },
          ],
          to: [{ ports: [8080], notPorts: [] }],
          when: [],
        },
      ],
    });
    expect(mesh.policies.find((p) => p.name === 'mesh-deny')?.scope).toBe('mesh');
  });
});

describe('what a waypoint receives', () => {
  it('its bound services compiled into routes, the clusters they name, and its L7 policies', () => {
    const view = waypointView(mesh, { name: 'shop-waypoint', namespace: 'shop' });
    expect(view.gateway?.name).toBe('shop-waypoint');
    const routes = view.servedServices.flatMap((service) =>
      service.ports.map((port) => ({
        service: service.hostname,
        port: port.port,
        protocol: port.protocol,
        // An HTTPRoute attaches to cart, so its VirtualService does not apply; the route's one rule
        // matches every path, so no default route follows it.
        origins: port.routes.map(({ origin }) => `${origin.kind} ${origin.namespace}/${origin.name}`),
      })),
    );
    expect(routes).toEqual([
      {
        service: 'cart.shop.svc.cluster.local',
        port: 80,
        protocol: 'http',
        origins: ['HTTPRoute shop/cart'],
      },
      {
        service: 'cart.shop.svc.cluster.local',
        port: 9000,
        protocol: 'http2',
        origins: ['HTTPRoute shop/cart'],
      },
    ]);
    expect(
      view.clusters.map((cluster) => [cluster.name, cluster.endpoints.map((e) => `${e.ip}:${e.port}`)]),
    ).toEqual([['outbound|80||cart.shop.svc.cluster.local', ['10.244.1.10:8080', '10.244.2.11:8080']]]);
    expect(view.authorization.map((policy) => [policy.name, policy.appliesTo.kind])).toEqual([
      ['waypoint-l7', 'waypoint'],
    ]);
    expect(view.authorization[0]!.rules[0]!.to[0]!.methods).toEqual([{ kind: 'exact', value: 'GET' }]);
    // A VirtualService in another namespace than the service's and the waypoint's does not apply: the
    // service gets its default route only.
    const other = waypointView(mesh, { name: 'ledger-wp', namespace: 'legacy' });
    expect(
      other.servedServices.flatMap((service) => service.ports.map((port) => port.routes[0]!.origin)),
    ).toEqual([{ kind: 'default', namespace: 'legacy', name: 'ledger', rule: 0 }]);
    expect(other.authorization).toEqual([]);
  });
});

function policy(spec: string, namespace = 'ns1'): Resource<AuthorizationPolicySpec> {
  return resources(
    `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: ${namespace}}\nspec:\n${spec}`,
  )[0] as Resource<AuthorizationPolicySpec>;
}

describe('AuthorizationPolicy -> L4 (ztunnel semantics)', () => {
  it('drops an ALLOW rule that uses HTTP attributes (fails closed) and keeps the others', () => {
    const { policy: l4, notes } = toL4Policy(
      policy(`  rules:
  - to: [{operation: {methods: [GET], paths: [/api]}}]
  - from: [{source: {namespaces: [ns2]}}]
    when: [{key: "request.headers[x-user]", values: [admin]}]
  - from: [{source: {principals: ["*"]}}]
    when: [{key: destination.port, values: ["80"]}]`),
      'cluster.local',
    );
    expect(l4!.rules).toEqual([
      {
        from: [
          {
            principals: ['*'],
            notPrincipals: [],
            namespaces: [],
            notNamespaces: [],
            ipBlocks: [],
            notIpBlocks: [],
          },
        ],
        to: [],
        when: [{ key: 'destination.port', values: ['80'], notValues: [] }],
      },
    ]);
    expect(notes.map((note) => `${note.path}: ${note.message}`)).toEqual([
      'spec.rules[0]: ztunnel does not enforce HTTP attributes (methods, paths): this ALLOW rule is dropped and allows nothing at L4 (more restrictive than written); use a waypoint for HTTP rules',
      'spec.rules[1]: ztunnel does not enforce HTTP attributes (when request.headers[x-user]): this ALLOW rule is dropped and allows nothing at L4 (more restrictive than written); use a waypoint for HTTP rules',
    ]);
  });

  it('keeps the L4 part of a DENY rule that uses HTTP attributes (denies more)', () => {
    const { policy: l4, notes } = toL4Policy(
      policy(`  action: DENY
  rules:
  - from: [{source: {notNamespaces: [ns1], requestPrincipals: ["*"]}}]
    to: [{operation: {ports: ["9090"], methods: [POST]}}]`),
      'cluster.local',
    );
    expect(l4!.rules).toEqual([
      {
        from: [
          {
            principals: [],
            notPrincipals: [],
            namespaces: [],
            notNamespaces: ['ns1'],
            ipBlocks: [],
            notIpBlocks: [],
          },
        ],
        to: [{ ports: [9090], notPorts: [] }],
        when: [],
      },
    ]);
    expect(notes).toHaveLength(1);
    expect(notes[0]!.message).toMatch(/requestPrincipals, methods.*DENY rule is enforced without them/);
  });

  it('sends nothing to ztunnels for targetRefs, AUDIT and CUSTOM policies', () => {
    expect(
      toL4Policy(policy('  targetRefs: [{kind: Service, group: "", name: cart}]\n  rules: [{}]'), 'td')
        .policy,
    ).toBeUndefined();
    const audit = toL4Policy(policy('  action: AUDIT\n  rules: [{}]'), 'td');
    expect(audit.policy).toBeUndefined();
    expect(audit.notes[0]!.message).toBe(
      'ztunnel does not support action AUDIT: this policy is not enforced at L4',
    );
  });

  it('keeps an ALLOW policy with no rules as matching nothing (deny all in scope)', () => {
    const l4 = toL4Policy(
      resources(
        'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: none, namespace: ns1}\n',
      )[0] as Resource<AuthorizationPolicySpec>,
      'td',
    ).policy!;
    expect(l4).toEqual({
      name: 'none',
      namespace: 'ns1',
      scope: 'namespace',
      selector: undefined,
      action: 'ALLOW',
      rules: [],
    });
  });
});

describe('PeerAuthentication', () => {
  it('keeps one policy per scope and ignores selector policies in the root namespace', () => {
    const list = resources(`apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: b, namespace: ns1}
spec: {mtls: {mode: PERMISSIVE}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: a, namespace: ns1}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: w, namespace: ns1}
spec: {selector: {matchLabels: {app: db}}, mtls: {mode: STRICT}, portLevelMtls: {"5432": {mode: DISABLE}}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: root-selector, namespace: istio-system}
spec: {selector: {matchLabels: {app: db}}, mtls: {mode: DISABLE}}
`) as Resource<PeerAuthenticationSpec>[];
    const { policies, notes } = toPeerAuthPolicies(list);
    expect(policies).toEqual([
      {
        name: 'a',
        namespace: 'ns1',
        scope: 'namespace',
        selector: undefined,
        mode: 'STRICT',
        portLevelMtls: {},
      },
      {
        name: 'w',
        namespace: 'ns1',
        scope: 'workload',
        selector: { app: 'db' },
        mode: 'STRICT',
        portLevelMtls: { 5432: 'DISABLE' },
      },
    ]);
    expect(notes.get('ns1/b')?.[0]?.message).toBe(
      'PeerAuthentication ns1/a already covers this scope; only one applies (the first by name)',
    );
    expect(notes.get('istio-system/root-selector')?.[0]?.message).toMatch(/ignored in ambient mode/);
  });
});
