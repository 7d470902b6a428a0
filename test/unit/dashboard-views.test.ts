/**
 * The dashboard's tables and node health, by tables: workloads with capture and certificate from their own
 * node's ztunnel, services with their waypoint's routes, weights and DestinationRules, policies with what
 * they select (asked of the ztunnel's own StateStore), and Kiali's thresholds applied to nodes.
 */
import { describe, expect, it } from 'vitest';
import type { MeshSnapshots } from '../../src/core/explain/mesh-snapshots.ts';
import type { Cluster, Route, ServedService } from '../../src/core/l7/types.ts';
import type { WaypointSnapshot } from '../../src/core/model/index.ts';
import { nodeHealth } from '../../src/dashboard/graph.ts';
import { type NodeAdmin, policiesView, servicesView, workloadsView } from '../../src/dashboard/views.ts';
import type { CertificateRow, WorkloadRow } from '../../src/ztunnel/index.ts';
import { peerAuth, policy, rule, service, snapshot, workload } from '../support/mesh-fixtures.ts';

const row = (name: string, node: string, overrides: Partial<WorkloadRow> = {}): WorkloadRow => ({
  namespace: 'apps',
  name,
  uid: `apps/${name}`,
  node,
  ips: ['10.244.0.9'],
  identity: `spiffe://cluster.local/ns/apps/sa/${name}`,
  protocol: 'HBONE',
  waypoint: undefined,
  captured: true,
  ...overrides,
});
const cert = (name: string, notAfter: string, kind: 'leaf' | 'root' = 'leaf'): CertificateRow => ({
  kind,
  identity: `spiffe://cluster.local/ns/apps/sa/${name}`,
  serial: `${name}-${notAfter}`,
  notBefore: '2026-01-01T00:00:00.000Z',
  notAfter,
  expiresInSeconds: 3600,
  sanIdentities: [],
});

describe('the workloads table', () => {
  it('takes capture and the latest leaf certificate from the pod own node, none for pods outside the mesh', () => {
    const nodes: NodeAdmin[] = [
      {
        node: 'n1',
        workloads: [
          row('client', 'n1'),
          row('echo', 'n2', { captured: false }),
          row('stranger', 'n1', { protocol: 'TCP', captured: false }),
        ],
        certificates: [
          cert('client', '2026-12-02T00:00:00.000Z'),
          cert('client', '2026-12-03T00:00:00.000Z'),
          cert('echo', '2026-12-09T00:00:00.000Z'),
        ],
      },
      {
        node: 'n2',
        workloads: [
          row('client', 'n1', { captured: false }),
          row('echo', 'n2'),
          row('stranger', 'n1', { protocol: 'TCP', captured: false }),
        ],
        certificates: [
          cert('echo', '2026-12-04T00:00:00.000Z'),
          cert('echo', '2026-12-10T00:00:00.000Z', 'root'),
        ],
      },
    ];
    const rows = workloadsView(nodes);
    expect(rows.map((w) => [w.name, w.node, w.enrolled, w.captured, w.certificate?.notAfter])).toEqual([
      ['client', 'n1', true, true, '2026-12-03T00:00:00.000Z'],
      ['echo', 'n2', true, true, '2026-12-04T00:00:00.000Z'],
      ['stranger', 'n1', false, false, undefined],
    ]);
  });
});

const served: ServedService = {
  name: 'echo',
  namespace: 'web',
  hostname: 'echo.web.svc.cluster.local',
  vips: ['10.96.0.2'],
  ports: [
    {
      port: 80,
      protocol: 'http',
      routes: [
        {
          origin: { kind: 'VirtualService', namespace: 'web', name: 'split', rule: 0 },
          matches: [],
          action: {
            kind: 'forward',
            backends: [
              { kind: 'cluster', cluster: 'v1', weight: 90 },
              { kind: 'cluster', cluster: 'v2', weight: 10 },
            ],
          },
        } as unknown as Route,
      ],
    },
  ],
};
const cluster = (name: string, subset: string): Cluster =>
  ({ name, subset, destinationRule: 'web/versions' }) as unknown as Cluster;
const waypointTable = {
  servedServices: [served],
  clusters: [cluster('v1', 'v1'), cluster('v2', 'v2')],
  authorization: [
    { name: 'no-admin', namespace: 'web', action: 'DENY', appliesTo: { kind: 'waypoint' }, rules: [] },
    {
      name: 'echo-only',
      namespace: 'web',
      action: 'ALLOW',
      appliesTo: { kind: 'services', hostnames: ['echo.web.svc.cluster.local'] },
      rules: [],
    },
  ],
} as unknown as WaypointSnapshot;

const client = workload({ name: 'client', namespace: 'apps', node: 'n1', labels: { app: 'client' } });
const echo = workload({ name: 'echo', namespace: 'web', node: 'n2', labels: { app: 'echo' } });
const stranger = workload({ name: 'stranger', namespace: 'outside', node: 'n1', enrolled: false });
const echoService = service({
  name: 'echo',
  namespace: 'web',
  vips: ['10.96.0.2'],
  endpoints: [{ workloadUid: echo.uid, ip: '10.244.1.3', ready: true }],
  waypoint: { namespace: 'web', name: 'waypoint' },
});

/** Two nodes, each holding the policies given (a ztunnel is sent those of its own node's workloads). */
function mesh(overrides: Parameters<typeof snapshot>[0] = {}): MeshSnapshots {
  const node = () => snapshot({ workloads: [client, echo, stranger], services: [echoService], ...overrides });
  return {
    nodes: new Map([
      ['n1', node()],
      ['n2', node()],
    ]),
    waypoints: new Map([['web/waypoint', waypointTable]]),
  };
}

describe('the services table', () => {
  it('lists endpoints, the waypoint, and the waypoint routes with their weights and DestinationRule', () => {
    const [row] = servicesView(mesh());
    expect(row).toMatchObject({
      namespace: 'web',
      name: 'echo',
      ports: [80],
      endpoints: [{ workload: 'web/echo', ip: '10.244.1.3', ready: true }],
      waypoint: 'web/waypoint',
    });
    expect(row!.routes).toEqual([
      {
        port: 80,
        protocol: 'http',
        waypoint: 'web/waypoint',
        routes: [
          {
            kind: 'VirtualService',
            namespace: 'web',
            name: 'split',
            rule: 0,
            action: 'forward',
            backends: [
              { cluster: 'v1', weight: 90, subset: 'v1', destinationRule: 'web/versions' },
              { cluster: 'v2', weight: 10, subset: 'v2', destinationRule: 'web/versions' },
            ],
          },
        ],
      },
    ]);
  });
});

describe('the policies table', () => {
  it('says what each policy selects, as each node ztunnel and the waypoint apply them', () => {
    const rows = policiesView(
      mesh({
        policies: [
          policy({
            name: 'echo-in',
            namespace: 'web',
            scope: 'workload',
            selector: { app: 'echo' },
            rules: [rule()],
          }),
          policy({ name: 'nothing', namespace: 'web', scope: 'workload', selector: { app: 'nobody' } }),
        ],
        peerAuthentications: [
          peerAuth({ name: 'strict', namespace: 'web' }),
          peerAuth({ name: 'mesh', namespace: 'istio-system', scope: 'mesh', mode: 'PERMISSIVE' }),
        ],
      }),
    );
    expect(rows.map((p) => [p.kind, `${p.namespace}/${p.name}`, p.enforcedBy, p.selects])).toEqual([
      ['AuthorizationPolicy', 'web/echo-in', 'ztunnel', ['web/echo']],
      ['AuthorizationPolicy', 'web/echo-only', 'waypoint web/waypoint', ['echo.web.svc.cluster.local']],
      [
        'AuthorizationPolicy',
        'web/no-admin',
        'waypoint web/waypoint',
        ['all traffic through waypoint web/waypoint'],
      ],
      ['AuthorizationPolicy', 'web/nothing', 'ztunnel', []],
      // The mesh-wide one applies to every workload in the mesh (not to the one outside it).
      ['PeerAuthentication', 'istio-system/mesh', 'ztunnel', ['apps/client', 'web/echo']],
      ['PeerAuthentication', 'web/strict', 'ztunnel', ['web/echo']],
    ]);
  });
});

describe('node health (Kiali thresholds on what a node receives, else sends)', () => {
  const t = (rate: number, rate5xx = 0, rate4xx = 0) => ({ rate, rate5xx, rate4xx });
  it.each([
    ['no traffic', t(0), t(0), 'idle'],
    ['healthy inbound', t(10), t(0), 'healthy'],
    ['5xx at 10% of inbound: failure', t(10, 1), t(0), 'failure'],
    ['5xx under 10%', t(100, 9), t(0), 'healthy'],
    ['4xx at 10%: degraded', t(10, 0, 1), t(0), 'degraded'],
    ['4xx at 20%: failure', t(10, 0, 2), t(0), 'failure'],
    ['inbound decides over outbound', t(10), t(10, 10), 'healthy'],
    ['a client: its outbound', t(0), t(10, 0, 3), 'failure'],
  ] as const)('%s', (_what, inbound, outbound, health) => {
    expect(nodeHealth(inbound, outbound)).toBe(health);
  });
});
