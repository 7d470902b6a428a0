/**
 * The local cluster's side of waypoints, by tables: which Gateways are waypoints, what a reconcile adds and
 * removes, the waypoint pod (identity, labels, user, command line per the waypoint's contract), the Gateway
 * `ambit waypoint apply` writes (valid for the control plane), and where runtime pods are placed.
 */
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseFiles } from '../../src/control/config/parse.ts';
import { CONTROL_KINDS } from '../../src/control/kinds.ts';
import { waypointGateway } from '../../src/core/config/waypoint-gateway.ts';
import { waypointChanges, waypointGateways, waypointPod } from '../../src/local/mesh/waypoints.ts';
import { leastLoadedNode, placePod } from '../../src/local/pod-runtime.ts';
import { withPods } from '../../src/local/supervisor/pods.ts';
import type { ClusterState } from '../../src/local/types.ts';
import { clusterRecord as cluster, podRecord as existing } from '../support/local-records.ts';

const gatewayDoc = (name: string, namespace: string | undefined, className = 'istio-waypoint') => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'Gateway',
  metadata: namespace === undefined ? { name } : { name, namespace },
  spec: { gatewayClassName: className, listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
});

describe('waypoint Gateways', () => {
  it('are the Gateways of class istio-waypoint, and ingress gateways (ambit, istio) with their ports', () => {
    expect(
      waypointGateways([
        gatewayDoc('wp', 'apps'),
        gatewayDoc('ingress', 'apps', 'istio'),
        gatewayDoc('edge', 'apps', 'ambit'),
        gatewayDoc('other', 'apps', 'nginx'),
        gatewayDoc('wp', undefined),
        { kind: 'Service', metadata: { name: 'wp' } },
        null,
      ]),
    ).toEqual([
      { name: 'wp', namespace: 'apps' },
      { name: 'ingress', namespace: 'apps', ingressPorts: [15008] },
      { name: 'edge', namespace: 'apps', ingressPorts: [15008] },
      { name: 'wp', namespace: 'default' },
    ]);
  });

  it.each([
    ['a new Gateway adds its pod', [], ['apps/wp'], ['apps/wp'], []],
    ['a Gateway with its pod changes nothing', ['wp'], ['apps/wp'], [], []],
    ['a deleted Gateway removes its pod', ['wp'], [], [], ['apps/wp-0']],
    ['pods not made for a Gateway are left alone', [], [], [], []],
    ['a Gateway listed twice adds one pod', [], ['apps/wp', 'apps/wp'], ['apps/wp'], []],
  ])('%s', (_name, waypointPods, gateways, add, remove) => {
    const pods = [
      existing('web', 'n1', '10.244.0.2'),
      ...waypointPods.map((name, i) =>
        existing(`${name}-0`, 'n1', `10.244.0.${i + 3}`, { kind: 'Gateway', name }),
      ),
    ];
    const changes = waypointChanges(
      pods,
      gateways.map((key) => ({ namespace: key.split('/')[0]!, name: key.split('/')[1]! })),
    );
    expect(changes.add.map((g) => `${g.namespace}/${g.name}`)).toEqual(add);
    expect(changes.remove.map((pod) => pod.uid)).toEqual(remove);
  });
});

describe('the waypoint pod', () => {
  const template = waypointPod(cluster([]), { name: 'wp', namespace: 'apps' }, 'n2');

  it("has the Gateway's name as service account, its labels, and runs unprivileged", () => {
    expect(template).toMatchObject({
      name: 'wp-0',
      namespace: 'apps',
      node: 'n2',
      serviceAccount: 'wp',
      owner: { kind: 'Gateway', name: 'wp' },
      runAsUser: 1337,
      runAsGroup: 1337,
      restartPolicy: 'Always',
      labels: {
        'gateway.networking.k8s.io/gateway-name': 'wp',
        'istio.io/dataplane-mode': 'none',
      },
    });
    expect(template.container.ports.map((port) => port.containerPort)).toEqual([15008, 15020, 15021]);
    // Ready when the waypoint says it is (config and certificate in hand), not merely when it listens.
    expect(template.container.probes.readiness?.handler).toMatchObject({
      type: 'httpGet',
      path: '/healthz/ready',
      port: 15021,
    });
  });

  it('runs `ambit waypoint run` with its node, the control plane and its own copies of the credentials', () => {
    expect(template.container.argv).toEqual([
      'ambit',
      'waypoint',
      'run',
      '--name',
      'wp',
      '--namespace',
      'apps',
      '--node',
      'n2',
      '--control',
      '10.250.0.1:15012',
      '--token-file',
      '/run/ambit/c/waypoints/apps.wp/token',
      '--ca-root',
      '/run/ambit/c/waypoints/apps.wp/root-cert.pem',
      '--admin-socket',
      '/run/ambit/c/waypoints/apps.wp/admin.sock',
    ]);
  });
});

describe('ambit waypoint apply', () => {
  it.each(['service', 'workload', 'all', 'none'] as const)(
    'writes a valid waypoint Gateway for %s',
    (scope) => {
      const parsed = parseFiles(
        [{ name: 'wp.yaml', content: stringify(waypointGateway('wp', 'apps', scope)) }],
        CONTROL_KINDS,
      );
      expect(parsed.issues).toEqual([]);
      expect(parsed.resources[0]).toMatchObject({
        kind: 'Gateway',
        metadata: { name: 'wp', namespace: 'apps', labels: { 'istio.io/waypoint-for': scope } },
        spec: { gatewayClassName: 'istio-waypoint' },
      });
    },
  );
});

describe('pods added at runtime', () => {
  const base = existing('web', 'n1', '10.244.0.2');
  const template = waypointPod(cluster([]), { name: 'wp', namespace: 'apps' }, 'n1');

  it('go to the node with the fewest pods (the first on a tie)', () => {
    expect(leastLoadedNode(cluster([])).name).toBe('n1');
    expect(leastLoadedNode(cluster([base])).name).toBe('n2');
  });

  it('take the lowest free address of their node, after the gateway, and get the pod env', () => {
    const gap = existing('other', 'n1', '10.244.0.4');
    const pod = placePod(cluster([base, gap]), template);
    expect(pod).toMatchObject({
      uid: 'apps/wp-0',
      node: 'n1',
      ips: ['10.244.0.3'],
      gatewayIP: '10.244.0.1',
      netns: 'ambit.c.pod.apps.wp-0',
    });
    expect(pod.container.env).toMatchObject({
      POD_NAME: 'wp-0',
      POD_NAMESPACE: 'apps',
      POD_IP: '10.244.0.3',
      NODE_NAME: 'n1',
    });
  });

  it('refuse a name already taken and a node that does not exist', () => {
    const taken = existing('wp-0', 'n2', '10.244.1.2');
    expect(() => placePod(cluster([taken]), template)).toThrow(/already exists/);
    expect(() => placePod(cluster([]), { ...template, node: 'n9' })).toThrow(/node n9 does not exist/);
  });
});

describe('the cluster record after a runtime change', () => {
  it("keeps each Service's selected pods in step with the pods", () => {
    const web = { ...existing('web', 'n1', '10.244.0.2'), labels: { app: 'web' } };
    const other = { ...existing('other', 'n1', '10.244.0.3'), labels: { app: 'other' } };
    const record: ClusterState = {
      ...cluster([web]),
      services: [
        {
          name: 'web',
          namespace: 'apps',
          type: 'ClusterIP',
          labels: {},
          clusterIP: '10.96.0.1',
          ports: [],
          selector: { app: 'web' },
          podUids: [],
        },
        {
          name: 'manual',
          namespace: 'apps',
          type: 'ClusterIP',
          labels: {},
          clusterIP: '10.96.0.2',
          ports: [],
          selector: undefined,
          podUids: ['x'],
        },
      ],
    };
    const added = withPods(record, [web, other, { ...web, uid: 'apps/web-2', name: 'web-2' }]);
    expect(added.services.map((s) => s.podUids)).toEqual([['apps/web', 'apps/web-2'], ['x']]);
    expect(withPods(added, [other]).services[0]!.podUids).toEqual([]);
  });
});
