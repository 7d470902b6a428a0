/**
 * Linkerd's `HTTPLocalRateLimitPolicy` as Ambit reads it: valid policies parse to typed specs; invalid ones get
 * exactly the errors listed, each naming file, document and field, and nothing is kept; analysis warns about
 * a target no waypoint serves or that does not exist; the compiler gives a served Service its buckets (client
 * ServiceAccounts as SPIFFE IDs, one policy per target), and the waypoint's wire check refuses bad rates.
 */
import { describe, expect, it } from 'vitest';
import { analyzeResources } from '../../src/control/config/analyze.ts';
import { parseFiles } from '../../src/control/config/parse.ts';
import { CONTROL_KINDS } from '../../src/control/kinds.ts';
import { buildMesh } from '../../src/control/model/mesh.ts';
import { waypointRouteTable } from '../../src/control/model/views.ts';
import { formatIssue } from '../../src/core/config/issues.ts';
import { routeTableProblems } from '../../src/core/l7/validate.ts';

const HEAD =
  'apiVersion: policy.linkerd.io/v1alpha1\nkind: HTTPLocalRateLimitPolicy\nmetadata: {name: rl, namespace: shop}\n';
const check = (spec: string) => {
  const parsed = parseFiles([{ name: 'rl.yaml', content: `${HEAD}spec:\n${spec}` }], CONTROL_KINDS);
  return { parsed, messages: parsed.issues.map(formatIssue) };
};
const at = (field: string, message: string) =>
  `rl.yaml: document 1 (HTTPLocalRateLimitPolicy shop/rl): ${field}: ${message}`;

describe('HTTPLocalRateLimitPolicy validation', () => {
  it('parses a full policy into its spec', () => {
    const { parsed, messages } = check(`  targetRef: {group: "", kind: Service, name: cart}
  total: {requestsPerSecond: 100}
  identity: {requestsPerSecond: 20}
  overrides:
  - requestsPerSecond: 50
    clientRefs: [{kind: ServiceAccount, name: checkout}, {kind: ServiceAccount, namespace: ops, name: probe}]
`);
    expect(messages).toEqual([]);
    expect(parsed.resources[0]!.spec).toEqual({
      targetRef: { name: 'cart' },
      total: 100,
      identity: 20,
      overrides: [
        {
          requestsPerSecond: 50,
          clientRefs: [
            { namespace: undefined, name: 'checkout' },
            { namespace: 'ops', name: 'probe' },
          ],
        },
      ],
    });
  });

  it.each<[string, string, string[]]>([
    ['spec is required', '  {}\n', [at('spec.targetRef', 'required field is missing')]],
    [
      "Linkerd's Server target has no equivalent",
      '  targetRef: {group: policy.linkerd.io, kind: Server, name: web}\n',
      [
        at(
          'spec.targetRef.kind',
          'Ambit has no Linkerd Server kind: target the Service (kind: Service, group: "") instead',
        ),
      ],
    ],
    [
      'a target of another kind',
      '  targetRef: {kind: Deployment, name: web}\n',
      [at('spec.targetRef.kind', 'invalid value "Deployment": must be Service')],
    ],
    [
      'a Service in another group',
      '  targetRef: {group: apps, kind: Service, name: web}\n',
      [at('spec.targetRef.group', 'kind Service belongs to the core group (""), not "apps"')],
    ],
    [
      'a rate of 0',
      '  targetRef: {kind: Service, name: web}\n  total: {requestsPerSecond: 0}\n',
      [at('spec.total.requestsPerSecond', 'must be at least 1, got 0')],
    ],
    [
      'a fractional rate',
      '  targetRef: {kind: Service, name: web}\n  identity: {requestsPerSecond: 1.5}\n',
      [at('spec.identity.requestsPerSecond', 'expected an integer, got number 1.5')],
    ],
    [
      'identity above total (the webhook rule)',
      '  targetRef: {kind: Service, name: web}\n  total: {requestsPerSecond: 10}\n  identity: {requestsPerSecond: 11}\n',
      [at('spec.identity.requestsPerSecond', 'must be at most total.requestsPerSecond (10), got 11')],
    ],
    [
      'an override above total, and one without clients',
      '  targetRef: {kind: Service, name: web}\n  total: {requestsPerSecond: 10}\n  overrides:\n  - {requestsPerSecond: 20, clientRefs: [{kind: ServiceAccount, name: a}]}\n  - {requestsPerSecond: 5, clientRefs: []}\n',
      [
        at('spec.overrides[0].requestsPerSecond', 'must be at most total.requestsPerSecond (10), got 20'),
        at('spec.overrides[1].clientRefs', 'must not be empty'),
      ],
    ],
    [
      'a client that is not a ServiceAccount, and an unknown field',
      '  targetRef: {kind: Service, name: web}\n  overrides:\n  - requestsPerSecond: 5\n    clientRefs: [{kind: Pod, name: a, uid: x}]\n',
      [
        at(
          'spec.overrides[0].clientRefs[0].uid',
          'unknown field (known fields: group, kind, namespace, name)',
        ),
        at('spec.overrides[0].clientRefs[0].kind', 'invalid value "Pod": must be one of ServiceAccount'),
      ],
    ],
    [
      'a misspelt field',
      '  targetRef: {kind: Service, name: web}\n  totals: {requestsPerSecond: 5}\n',
      [at('spec.totals', 'unknown field (known fields: targetRef, total, identity, overrides)')],
    ],
  ])('%s', (_name, spec, errors) => {
    const { parsed, messages } = check(spec);
    expect(messages).toEqual(errors);
    expect(parsed.resources).toEqual([]);
  });
});

const MESH = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: wp, namespace: shop}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}
---
apiVersion: v1
kind: Service
metadata: {name: cart, namespace: shop, labels: {istio.io/use-waypoint: wp}}
spec: {selector: {app: cart}, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: plain, namespace: shop}
spec: {selector: {app: plain}, ports: [{name: http, port: 80}]}
`;
const policy = (name: string, target: string, body = '  total: {requestsPerSecond: 5}\n') =>
  `---\n${HEAD.replace('name: rl', `name: ${name}`)}spec:\n  targetRef: {kind: Service, name: ${target}}\n${body}`;
const resourcesOf = (text: string) => {
  const parsed = parseFiles([{ name: 'm.yaml', content: text }], CONTROL_KINDS);
  expect(parsed.issues.map(formatIssue)).toEqual([]);
  return parsed.resources;
};

describe('HTTPLocalRateLimitPolicy in the mesh', () => {
  it('warns about a target no waypoint serves and a target that does not exist', () => {
    const resources = resourcesOf(`${MESH}${policy('a', 'plain')}${policy('b', 'gone')}`);
    const warnings = analyzeResources(resources, 'cluster.local').map(formatIssue);
    expect(warnings).toContain(
      'warning: m.yaml: document 4 (HTTPLocalRateLimitPolicy shop/a): spec.targetRef: this policy has no effect until a waypoint serves plain.shop.svc.cluster.local (label the Service or its namespace istio.io/use-waypoint=<waypoint>)',
    );
    expect(warnings).toContain(
      'warning: m.yaml: document 5 (HTTPLocalRateLimitPolicy shop/b): spec.targetRef: Service gone.shop.svc.cluster.local does not exist: the policy limits nothing',
    );
  });

  it('compiles the buckets onto the served Service, one policy per target (the first by name), clients as SPIFFE IDs', () => {
    const resources = resourcesOf(
      `${MESH}${policy('z-second', 'cart')}${policy(
        'a-first',
        'cart',
        '  identity: {requestsPerSecond: 2}\n  overrides:\n  - requestsPerSecond: 4\n    clientRefs: [{kind: ServiceAccount, name: vip}, {kind: ServiceAccount, namespace: ops, name: bot}]\n',
      )}`,
    );
    const mesh = buildMesh({ resources, pods: [], trustDomain: 'example.org', trustBundle: [] });
    const { table, notes } = waypointRouteTable(mesh, mesh.gateways[0]!);
    const cart = table.servedServices.find((service) => service.name === 'cart')!;
    expect(cart.rateLimit).toEqual({
      policy: 'shop/a-first',
      totalPerSecond: undefined,
      identityPerSecond: 2,
      overrides: [
        {
          perSecond: 4,
          identities: ['spiffe://example.org/ns/shop/sa/vip', 'spiffe://example.org/ns/ops/sa/bot'],
        },
      ],
    });
    expect(notes).toContainEqual(
      expect.objectContaining({ kind: 'HTTPLocalRateLimitPolicy', name: 'z-second', path: 'spec.targetRef' }),
    );
    expect(routeTableProblems(table)).toEqual([]);
    // The waypoint refuses a push whose rates are not whole requests per second.
    cart.rateLimit = {
      ...cart.rateLimit!,
      totalPerSecond: 0.5,
      overrides: [{ perSecond: 1, identities: ['bob'] }],
    };
    expect(routeTableProblems(table)).toEqual([
      'servedServices[0] (shop/cart).rateLimit.totalPerSecond: 0.5 is not a rate (a whole number of requests per second, at least 1)',
      'servedServices[0] (shop/cart).rateLimit.overrides[0].identities[0]: "bob" is not a SPIFFE ID',
    ]);
  });
});
