/**
 * Waypoint binding in the control plane's model, by tables: `istio.io/use-waypoint` on namespace, Service and
 * pod (object beats namespace, `none` opts out), scoped by the Gateway's `istio.io/waypoint-for`; waypoint
 * instances (`isWaypoint`, never bound themselves) and the Service that fronts them (ready endpoints only
 * while the pod is ready); a binding to an undeclared waypoint kept so that the data plane refuses.
 */
import { describe, expect, it } from 'vitest';
import { analyzeResources } from '../../src/control/config/analyze.ts';
import { parseFiles } from '../../src/control/config/parse.ts';
import { CONTROL_KINDS } from '../../src/control/kinds.ts';
import { gatewayStatus } from '../../src/control/model/gateway-status.ts';
import { buildMesh } from '../../src/control/model/mesh.ts';
import {
  scopedBinding,
  servesKind,
  type WaypointDeclaration,
  waypointFor,
} from '../../src/control/model/waypoints.ts';
import type { PodRecord } from '../../src/control/pods/pod-source.ts';
import { formatIssue } from '../../src/core/config/issues.ts';
import type { GatewaySpec } from '../../src/core/config/kinds/gateway.ts';
import type { Resource } from '../../src/core/config/resource.ts';
import type { WaypointFor } from '../../src/core/labels.ts';

const WP = { name: 'wp', namespace: 'apps' };

describe('waypoint-for', () => {
  it.each([
    [{}, 'service'],
    [{ 'istio.io/waypoint-for': 'service' }, 'service'],
    [{ 'istio.io/waypoint-for': 'workload' }, 'workload'],
    [{ 'istio.io/waypoint-for': 'all' }, 'all'],
    [{ 'istio.io/waypoint-for': 'none' }, 'none'],
    [{ 'istio.io/waypoint-for': 'everything' }, 'service'],
  ] as const)('labels %j -> %s', (labels, expected) => {
    expect(waypointFor(labels)).toBe(expected);
  });

  it.each([
    ['service', 'service', true],
    ['service', 'workload', false],
    ['workload', 'service', false],
    ['workload', 'workload', true],
    ['all', 'service', true],
    ['all', 'workload', true],
    ['none', 'service', false],
    ['none', 'workload', false],
  ] as const)('a %s waypoint takes %s traffic: %s', (scope, kind, expected) => {
    expect(servesKind(scope, kind)).toBe(expected);
  });

  it('keeps a binding to an undeclared waypoint (refused downstream), scopes a declared one', () => {
    const declared = (scope: WaypointFor) =>
      new Map<string, WaypointDeclaration>([['apps/wp', { ...WP, for: scope }]]);
    expect(scopedBinding(WP, 'service', new Map())).toEqual(WP);
    expect(scopedBinding(WP, 'workload', new Map())).toEqual(WP);
    expect(scopedBinding(WP, 'service', declared('workload'))).toBeUndefined();
    expect(scopedBinding(WP, 'workload', declared('all'))).toEqual(WP);
    expect(scopedBinding(undefined, 'service', declared('all'))).toBeUndefined();
  });
});

const gateway = (scope: string | undefined) => `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: wp, namespace: apps${scope ? `, labels: {istio.io/waypoint-for: ${scope}}` : ''}}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}`;

const service = (name: string, labels: string) => `apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: apps, labels: {${labels}}}
spec: {clusterIP: 10.96.0.${name.length + 20}, selector: {app: ${name}}, ports: [{name: http, port: 80, targetPort: 8080}]}`;

let nextIp = 10;
function pod(name: string, labels: Record<string, string>, ready = true): PodRecord {
  return {
    uid: `apps/${name}`,
    name,
    namespace: 'apps',
    node: 'n1',
    ips: [`10.244.1.${nextIp++}`],
    serviceAccount: 'default',
    labels,
    ready,
    ports: [],
  };
}

/** Builds the mesh for a namespace labelled `nsLabels`, one Gateway and objects labelled as given. */
function meshWith(options: { nsLabels: string; scope?: string | undefined; declared?: boolean }) {
  nextIp = 10;
  const yaml = [
    `apiVersion: v1\nkind: Namespace\nmetadata: {name: apps, labels: {${options.nsLabels}}}`,
    ...(options.declared === false ? [] : [gateway(options.scope)]),
    service('plain', ''),
    service('own', 'istio.io/use-waypoint: wp'),
    service('optout', 'istio.io/use-waypoint: none'),
  ].join('\n---\n');
  const parsed = parseFiles([{ name: 'm.yaml', content: yaml }], CONTROL_KINDS);
  expect(parsed.issues.filter((issue) => issue.severity === 'error')).toEqual([]);
  return buildMesh({
    resources: parsed.resources,
    pods: [
      pod('plain', { app: 'plain' }),
      pod('own', { app: 'own', 'istio.io/use-waypoint': 'wp' }),
      pod('optout', { app: 'optout', 'istio.io/use-waypoint': 'none' }),
      pod('wp-0', { 'gateway.networking.k8s.io/gateway-name': 'wp', 'istio.io/dataplane-mode': 'none' }),
      pod('wp-1', { 'gateway.networking.k8s.io/gateway-name': 'wp' }, false),
    ],
    trustDomain: 'cluster.local',
    trustBundle: [],
  });
}

const bound = (ref: { name: string } | undefined) => (ref ? ref.name : '-');

describe('binding by namespace, Service and pod, scoped by waypoint-for', () => {
  // Columns: namespace labels, waypoint-for, then what is bound: Services plain/own/optout, pods plain/own/optout.
  it.each([
    ['', undefined, '- wp -', '- - -'],
    ['istio.io/use-waypoint: wp', undefined, 'wp wp -', '- - -'],
    ['istio.io/use-waypoint: wp', 'service', 'wp wp -', '- - -'],
    ['istio.io/use-waypoint: wp', 'workload', '- - -', 'wp wp -'],
    ['istio.io/use-waypoint: wp', 'all', 'wp wp -', 'wp wp -'],
    ['istio.io/use-waypoint: wp', 'none', '- - -', '- - -'],
    ['', 'all', '- wp -', '- wp -'],
    ['istio.io/use-waypoint: none', 'all', '- wp -', '- wp -'],
  ])('namespace {%s}, waypoint-for %s: services %s, pods %s', (nsLabels, scope, services, pods) => {
    const mesh = meshWith({ nsLabels, scope });
    const serviceOf = (name: string) => mesh.services.find((s) => s.name === name)!;
    const workloadOf = (name: string) => mesh.workloads.find((w) => w.name === name)!;
    expect(['plain', 'own', 'optout'].map((name) => bound(serviceOf(name).waypoint)).join(' ')).toBe(
      services,
    );
    expect(['plain', 'own', 'optout'].map((name) => bound(workloadOf(name).waypoint)).join(' ')).toBe(pods);
  });

  it('keeps every binding to an undeclared waypoint, so the data plane refuses instead of going direct', () => {
    const mesh = meshWith({ nsLabels: 'istio.io/use-waypoint: wp', declared: false });
    expect(mesh.services.find((s) => s.name === 'plain')!.waypoint).toEqual(WP);
    expect(mesh.workloads.find((w) => w.name === 'plain')!.waypoint).toEqual(WP);
    expect(mesh.services.some((s) => s.name === 'wp')).toBe(false);
  });
});

describe('waypoint instances', () => {
  const mesh = meshWith({ nsLabels: 'istio.io/use-waypoint: wp', scope: 'all' });

  it('are workloads marked isWaypoint that never go through a waypoint themselves', () => {
    const instance = mesh.workloads.find((w) => w.name === 'wp-0')!;
    expect(instance).toMatchObject({ isWaypoint: true, waypoint: undefined, enrolled: false });
    expect(mesh.workloads.find((w) => w.name === 'plain')!.isWaypoint).toBeUndefined();
  });

  it('are the endpoints of a Service of the waypoint name, each ready only while its pod is', () => {
    expect(mesh.services.find((s) => s.name === 'wp')).toEqual({
      name: 'wp',
      namespace: 'apps',
      hostname: 'wp.apps.svc.cluster.local',
      vips: [],
      ports: [{ name: 'mesh', port: 15008, targetPort: 15008, protocol: 'TCP', appProtocol: undefined }],
      endpoints: [
        { workloadUid: 'apps/wp-0', ip: '10.244.1.13', ready: true },
        { workloadUid: 'apps/wp-1', ip: '10.244.1.14', ready: false },
      ],
    });
  });
});

describe('Gateway status', () => {
  const resource = (yaml: string) => {
    const parsed = parseFiles([{ name: 'g.yaml', content: yaml }], CONTROL_KINDS);
    return parsed.resources[0] as Resource<GatewaySpec>;
  };
  const conditions = (status: ReturnType<typeof gatewayStatus>) =>
    status.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`).join(' ');

  it('is Programmed with the ready instances as addresses, Pending while none is ready', () => {
    const ready = meshWith({ nsLabels: '', scope: 'all' });
    const status = gatewayStatus(resource(gateway(undefined)), ready.services);
    expect(conditions(status)).toBe('Accepted=True/Accepted Programmed=True/Programmed');
    expect(status.addresses).toEqual([{ type: 'IPAddress', value: '10.244.1.13' }]);
    expect(conditions(gatewayStatus(resource(gateway(undefined)), []))).toBe(
      'Accepted=True/Accepted Programmed=False/Pending',
    );
  });

  it('is Invalid without the HBONE listener, Pending for classes nothing here serves', () => {
    const noHbone = gateway(undefined).replace('protocol: HBONE', 'protocol: HTTP');
    expect(conditions(gatewayStatus(resource(noHbone), []))).toBe(
      'Accepted=False/Invalid Programmed=False/Invalid',
    );
    const other = gateway(undefined).replace('istio-waypoint', 'istio');
    expect(conditions(gatewayStatus(resource(other), []))).toBe(
      'Accepted=Unknown/Pending Programmed=Unknown/Pending',
    );
  });
});

describe('analyze: L7 config that no waypoint applies', () => {
  const base = (nsLabels: string, withGateway: boolean) =>
    [
      `apiVersion: v1\nkind: Namespace\nmetadata: {name: apps, labels: {${nsLabels}}}`,
      ...(withGateway ? [gateway(undefined)] : []),
      service('web', ''),
    ].join('\n---\n');
  const vs = (gateways = '') => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: apps}
spec: {hosts: [web]${gateways}, http: [{route: [{destination: {host: web}}]}]}`;
  const route = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: apps}
spec: {parentRefs: [{group: "", kind: Service, name: web, port: 80}], rules: [{backendRefs: [{name: web, port: 80}]}]}`;
  const policy = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: web, namespace: apps}
spec:
  targetRefs: [{group: "", kind: Service, name: web}]
  action: DENY
  rules: [{to: [{operation: {paths: [/admin]}}]}]`;
  const noEffect = (yaml: string) => {
    const parsed = parseFiles([{ name: 'a.yaml', content: yaml }], CONTROL_KINDS);
    expect(parsed.issues.filter((issue) => issue.severity === 'error')).toEqual([]);
    return analyzeResources(parsed.resources, 'cluster.local')
      .filter((issue) => issue.message.includes('no effect until a waypoint serves'))
      .map((issue) => `${issue.resource?.kind} ${issue.path}`);
  };

  it.each([
    [
      'no waypoint at all',
      base('', false),
      [
        'VirtualService spec.hosts[0]',
        'HTTPRoute spec.parentRefs[0]',
        'AuthorizationPolicy spec.targetRefs[0]',
      ],
    ],
    [
      'a bound namespace whose waypoint is not declared',
      base('istio.io/use-waypoint: wp', false),
      [
        'VirtualService spec.hosts[0]',
        'HTTPRoute spec.parentRefs[0]',
        'AuthorizationPolicy spec.targetRefs[0]',
      ],
    ],
    ['a declared waypoint bound to the namespace', base('istio.io/use-waypoint: wp', true), []],
  ])('%s', (_name, yaml, expected) => {
    expect(noEffect([yaml, vs(), route, policy].join('\n---\n'))).toEqual(expected);
  });

  it('leaves VirtualServices for ingress gateways alone', () => {
    expect(noEffect([base('', false), vs(', gateways: [istio-system/ingress]')].join('\n---\n'))).toEqual([]);
  });

  it('says what to do', () => {
    const parsed = parseFiles(
      [{ name: 'a.yaml', content: [base('', false), vs()].join('\n---\n') }],
      CONTROL_KINDS,
    );
    expect(analyzeResources(parsed.resources, 'cluster.local').map(formatIssue)).toContain(
      'warning: a.yaml: document 3 (VirtualService apps/web): spec.hosts[0]: http routes have no effect until a waypoint serves web.apps.svc.cluster.local (label the Service or its namespace istio.io/use-waypoint=<waypoint>)',
    );
  });
});
