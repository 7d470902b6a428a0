/**
 * The waypoint deployment controller against the in-test API server, through `@kubernetes/client-node` as
 * `ambit control --kubernetes` runs it: two replicas campaign for one Lease (the first must wait out a Lease
 * left by a crashed holder); only the leader writes. A Gateway of class `istio-waypoint` gets its
 * ServiceAccount, root ConfigMap, Deployment and Service (istiod's names, labels and ports, owned by the
 * Gateway), they follow a change of the Gateway's infrastructure labels and go with the Gateway, and the
 * Gateway's status says `Programmed` with the Service's address. What it deployed and someone deleted or
 * edited by hand is restored, and a Deployment scaled by hand (or by an autoscaler) keeps its replica
 * count through that restore and through a re-apply for a changed Gateway. The controller holds only the
 * objects labelled as deployed by it: the cluster's other ConfigMaps and Services never reach its cache,
 * and one whose label is edited away leaves it and is restored. When the leader stops, the other replica
 * takes over and serves the next Gateway.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/log.ts';
import { loadKubeConfig } from '../../src/kube/client.ts';
import { WaypointController } from '../../src/kube/waypoints/controller.ts';
import {
  CORE_RESOURCES,
  INSTALL_RESOURCES,
  KubeApiServer,
  type KubeObject,
  LEASE_RESOURCE,
  MESH_RESOURCES,
} from '../support/kube-api-server.ts';
import { quietLogs } from '../support/logging.ts';

const GATEWAYS = ['/apis/gateway.networking.k8s.io/v1', 'gateways'] as const;
const DEPLOYMENTS = ['/apis/apps/v1', 'deployments'] as const;
const SERVICES = ['/api/v1', 'services'] as const;
const LEASES = ['/apis/coordination.k8s.io/v1', 'leases'] as const;
const LEASE = { namespace: 'ambit-system', name: 'ambit-waypoint-controller' };

const waypointGateway = (name: string, labels: Record<string, string> = {}): KubeObject => ({
  metadata: { name, namespace: 'shop' },
  spec: {
    gatewayClassName: 'istio-waypoint',
    listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }],
    infrastructure: { labels },
  },
});

describe('the waypoint deployment controller', () => {
  let api: KubeApiServer;
  let dir: string;
  const controllers: Record<'a' | 'b', WaypointController | undefined> = { a: undefined, b: undefined };

  /** Writes (anything but reads and the Lease) and whose token made them. */
  const writes = () =>
    api.requests
      .filter((r) => !['GET'].includes(r.method) && !r.path.includes('/leases'))
      .map((r) => `${r.token} ${r.method} ${r.path}`);

  const controller = (who: 'a' | 'b') => {
    writeFileSync(join(dir, `kubeconfig-${who}`), api.kubeconfig(`controller-${who}`));
    return new WaypointController(
      loadKubeConfig(join(dir, `kubeconfig-${who}`)),
      {
        image: 'ambit:test',
        control: 'ambit-control.ambit-system.svc:15012',
        trustDomain: 'cluster.local',
        rootCertPem: '-----BEGIN CERTIFICATE-----\nroot\n-----END CERTIFICATE-----\n',
        lease: { ...LEASE, identity: who, leaseDurationSeconds: 2, renewMs: 200 },
      },
      createLogger(`waypoints-${who}`),
    );
  };

  beforeAll(async () => {
    quietLogs();
    api = await new KubeApiServer([
      ...CORE_RESOURCES,
      ...MESH_RESOURCES,
      ...INSTALL_RESOURCES,
      LEASE_RESOURCE,
    ]).listen();
    dir = mkdtempSync(join(tmpdir(), 'ambit-kube-waypoints-'));
    // A holder that crashed: its Lease stays until it has not been renewed for its duration.
    api.put(...LEASES, {
      metadata: LEASE,
      spec: { holderIdentity: 'crashed', leaseDurationSeconds: 2, renewTime: new Date().toISOString() },
    });
  });

  afterAll(async () => {
    await controllers.a?.stop();
    await controllers.b?.stop();
    await api?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("one replica takes the Lease once the crashed holder's has expired; the other waits", async () => {
    controllers.a = controller('a');
    await controllers.a.start();
    expect(controllers.a.leading).toBe(false);
    await expect.poll(() => controllers.a!.leading, { timeout: 10_000 }).toBe(true);
    controllers.b = controller('b');
    await controllers.b.start();
    const lease = api.get(...LEASES, LEASE.namespace, LEASE.name) as unknown as {
      spec: Record<string, unknown>;
    };
    expect(lease.spec).toMatchObject({ holderIdentity: 'a', leaseTransitions: 1 });
    // b keeps trying while a renews: after three of b's reads of the Lease it still does not lead.
    const since = api.requests.length;
    const leaseReadsByB = () =>
      api.requests
        .slice(since)
        .filter((r) => r.token === 'controller-b' && r.method === 'GET' && r.path.includes('/leases')).length;
    await expect.poll(leaseReadsByB, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
    expect(controllers.b.leading).toBe(false);
    expect(api.get(...LEASES, LEASE.namespace, LEASE.name)).toMatchObject({ spec: { holderIdentity: 'a' } });
  });

  it('deploys a waypoint Gateway as istiod does, owned by it, and reports it Programmed', async () => {
    const gateway = api.put(...GATEWAYS, waypointGateway('waypoint'));
    // The Service is applied last.
    await expect.poll(() => api.get(...SERVICES, 'shop', 'waypoint'), { timeout: 10_000 }).toBeDefined();
    const deployment = api.get(...DEPLOYMENTS, 'shop', 'waypoint') as KubeObject & {
      spec: {
        template: { metadata: { labels: Record<string, string> }; spec: { serviceAccountName: string } };
      };
    };
    expect(deployment.metadata.labels).toMatchObject({
      'gateway.networking.k8s.io/gateway-name': 'waypoint',
      'gateway.istio.io/managed': 'istio.io-mesh-controller',
    });
    expect(deployment.spec.template.spec.serviceAccountName).toBe('waypoint');
    expect(deployment.spec.template.metadata.labels['istio.io/dataplane-mode']).toBe('none');
    for (const [prefix, plural, name] of [
      [...DEPLOYMENTS, 'waypoint'],
      [...SERVICES, 'waypoint'],
      ['/api/v1', 'serviceaccounts', 'waypoint'],
      ['/api/v1', 'configmaps', 'waypoint-ambit-root-cert'],
    ] as const) {
      expect(api.get(prefix, plural, 'shop', name)?.metadata.ownerReferences, `${plural}/${name}`).toEqual([
        {
          apiVersion: 'gateway.networking.k8s.io/v1',
          kind: 'Gateway',
          name: 'waypoint',
          uid: gateway.metadata.uid,
        },
      ]);
    }
    const service = api.get(...SERVICES, 'shop', 'waypoint') as KubeObject & {
      spec: {
        clusterIP: string;
        selector: Record<string, string>;
        ports: Array<{ name: string; port: number }>;
      };
    };
    expect(service.spec.selector).toEqual({ 'gateway.networking.k8s.io/gateway-name': 'waypoint' });
    expect(service.spec.ports.map((p) => `${p.name}:${p.port}`)).toEqual([
      'status-port:15021',
      'mesh:15008',
      'http-metrics:15020',
    ]);
    await expect
      .poll(() => (api.get(...GATEWAYS, 'shop', 'waypoint') as { status?: unknown }).status, {
        timeout: 10_000,
      })
      .toMatchObject({
        addresses: [{ type: 'IPAddress', value: service.spec.clusterIP }],
        conditions: [{ type: 'Programmed', status: 'True', reason: 'Programmed', observedGeneration: 1 }],
      });
  });

  it('holds only what it labels as deployed by it, not the rest of the cluster', async () => {
    const deployed = [
      'ServiceAccount shop/waypoint',
      'ConfigMap shop/waypoint-ambit-root-cert',
      'Deployment shop/waypoint',
      'Service shop/waypoint',
    ];
    await expect.poll(() => controllers.a!.heldObjects(), { timeout: 10_000 }).toEqual(deployed);
    // The cluster's own objects, unlabelled, then one of each kind labelled as ours that no Gateway
    // renders: once each watch has brought that last one, it would have brought the others too.
    api.put('/api/v1', 'configmaps', { metadata: { name: 'app-settings', namespace: 'shop' }, data: {} });
    api.put(...SERVICES, {
      metadata: { name: 'shop-frontend', namespace: 'shop', labels: { app: 'frontend' } },
      spec: { ports: [{ port: 80 }] },
    });
    const ours = { 'gateway.istio.io/managed': 'istio.io-mesh-controller' };
    api.put('/api/v1', 'configmaps', {
      metadata: { name: 'stray', namespace: 'shop', labels: ours },
      data: {},
    });
    api.put(...SERVICES, {
      metadata: { name: 'stray', namespace: 'shop', labels: ours },
      spec: { ports: [{ port: 80 }] },
    });
    const strays = ['ConfigMap shop/stray', 'Service shop/stray'];
    await expect
      .poll(() => controllers.a!.heldObjects(), { timeout: 10_000 })
      .toEqual(expect.arrayContaining(strays));
    expect(controllers.a!.heldObjects().sort()).toEqual([...deployed, ...strays].sort());
    // Every list and watch of those kinds asked for that label only.
    const ownedReads = api.requests.filter(
      (r) =>
        r.token === 'controller-a' &&
        r.method === 'GET' &&
        /\/(configmaps|services|deployments|serviceaccounts)$/.test(r.path),
    );
    expect(ownedReads.length).toBeGreaterThanOrEqual(8);
    for (const read of ownedReads) {
      expect(new URLSearchParams(read.query).get('labelSelector')).toBe(
        'gateway.istio.io/managed=istio.io-mesh-controller',
      );
    }
    api.delete('/api/v1', 'configmaps', 'shop', 'stray');
    api.delete(...SERVICES, 'shop', 'stray');
    await expect.poll(() => controllers.a!.heldObjects(), { timeout: 10_000 }).toEqual(deployed);
  });

  it('restores what it deployed when it is deleted or edited by hand', async () => {
    type Deployment = KubeObject & {
      spec: { replicas: number; template: { spec: { containers: Array<{ image: string }> } } };
    };
    const deployment = () => api.get(...DEPLOYMENTS, 'shop', 'waypoint') as Deployment | undefined;
    const original = deployment()!;
    api.delete(...DEPLOYMENTS, 'shop', 'waypoint');
    api.delete('/api/v1', 'serviceaccounts', 'shop', 'waypoint');
    await expect.poll(() => deployment()?.metadata.uid, { timeout: 10_000 }).toBeDefined();
    expect(deployment()!.metadata.uid).not.toBe(original.metadata.uid);
    await expect
      .poll(() => api.get('/api/v1', 'serviceaccounts', 'shop', 'waypoint'), { timeout: 10_000 })
      .toBeDefined();

    // Scaled (as `kubectl scale` or an HPA does) along with the image edited by hand.
    const edited = deployment()!;
    edited.spec.template.spec.containers[0]!.image = 'someone-else:1';
    edited.spec.replicas = 3;
    api.put(...DEPLOYMENTS, edited);
    const service = api.get(...SERVICES, 'shop', 'waypoint')!;
    const clusterIP = (service.spec as { clusterIP: string }).clusterIP;
    api.put(...SERVICES, { ...service, spec: { ...(service.spec as object), selector: { app: 'hijack' } } });
    await expect
      .poll(() => deployment()?.spec.template.spec.containers[0]?.image, { timeout: 10_000 })
      .toBe('ambit:test');
    expect(deployment()!.spec.replicas).toBe(3);
    await expect
      .poll(
        () =>
          (api.get(...SERVICES, 'shop', 'waypoint')?.spec as { selector?: unknown } | undefined)?.selector,
        {
          timeout: 10_000,
        },
      )
      .toEqual({ 'gateway.networking.k8s.io/gateway-name': 'waypoint' });
    expect((api.get(...SERVICES, 'shop', 'waypoint')!.spec as { clusterIP: string }).clusterIP).toBe(
      clusterIP,
    );

    // Its labels edited away, an object leaves the watch's selection (a deletion to the controller) and is
    // restored.
    const account = api.get('/api/v1', 'serviceaccounts', 'shop', 'waypoint')!;
    api.put('/api/v1', 'serviceaccounts', { ...account, metadata: { ...account.metadata, labels: {} } });
    await expect
      .poll(() => api.get('/api/v1', 'serviceaccounts', 'shop', 'waypoint')?.metadata.labels, {
        timeout: 10_000,
      })
      .toMatchObject({ 'gateway.istio.io/managed': 'istio.io-mesh-controller' });
    expect(writes().filter((w) => !w.startsWith('controller-a '))).toEqual([]);
  });

  it('follows a change of the Gateway and deletes what it deployed with it', async () => {
    api.put(...GATEWAYS, {
      ...waypointGateway('waypoint', { team: 'shop' }),
      status: api.get(...GATEWAYS, 'shop', 'waypoint')!.status,
    });
    await expect
      .poll(() => api.get(...DEPLOYMENTS, 'shop', 'waypoint')?.metadata.labels, { timeout: 10_000 })
      .toMatchObject({ team: 'shop' });
    // Re-applied for the new Gateway, the Deployment keeps the scale it was given.
    expect((api.get(...DEPLOYMENTS, 'shop', 'waypoint')!.spec as { replicas: number }).replicas).toBe(3);
    // The new generation is acknowledged; the Service kept its address through the replacement.
    await expect
      .poll(
        () =>
          (
            api.get(...GATEWAYS, 'shop', 'waypoint') as {
              status?: { conditions?: Array<{ observedGeneration: number }> };
            }
          ).status?.conditions?.[0]?.observedGeneration,
        { timeout: 10_000 },
      )
      .toBe(2);
    api.delete(...GATEWAYS, 'shop', 'waypoint');
    await expect
      .poll(
        () =>
          [
            api.get(...DEPLOYMENTS, 'shop', 'waypoint'),
            api.get(...SERVICES, 'shop', 'waypoint'),
            api.get('/api/v1', 'serviceaccounts', 'shop', 'waypoint'),
            api.get('/api/v1', 'configmaps', 'shop', 'waypoint-ambit-root-cert'),
          ].filter(Boolean).length,
        { timeout: 10_000 },
      )
      .toBe(0);
    // A Gateway of another class is not a waypoint: nothing is deployed for it.
    api.put(...GATEWAYS, {
      ...waypointGateway('ingress'),
      spec: { gatewayClassName: 'ambit', listeners: [] },
    });
    // A waypoint Gateway created after it comes later on the same watch: once its Deployment exists, the
    // other-class Gateway's event (an immediate no-op) has been handled.
    api.put(...GATEWAYS, waypointGateway('after-ingress'));
    await expect
      .poll(() => api.get(...DEPLOYMENTS, 'shop', 'after-ingress'), { timeout: 10_000 })
      .toBeDefined();
    expect(api.get(...DEPLOYMENTS, 'shop', 'ingress')).toBeUndefined();
    api.delete(...GATEWAYS, 'shop', 'after-ingress');
    await expect
      .poll(() => api.get(...SERVICES, 'shop', 'after-ingress'), { timeout: 10_000 })
      .toBeUndefined();
    expect(writes().length).toBeGreaterThan(0);
    expect(writes().filter((w) => !w.startsWith('controller-a '))).toEqual([]);
  });

  it('when the leader stops, the other replica takes over, and only it writes from then on', async () => {
    await controllers.a!.stop();
    const since = api.requests.length;
    await expect.poll(() => controllers.b!.leading, { timeout: 10_000 }).toBe(true);
    api.put(...GATEWAYS, waypointGateway('second'));
    await expect.poll(() => api.get(...DEPLOYMENTS, 'shop', 'second'), { timeout: 10_000 }).toBeDefined();
    const later = api.requests.slice(since).filter((r) => r.method !== 'GET' && !r.path.includes('/leases'));
    expect(later.length).toBeGreaterThan(0);
    expect(later.filter((r) => r.token !== 'controller-b')).toEqual([]);
  });
});
