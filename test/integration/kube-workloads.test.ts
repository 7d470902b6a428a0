/**
 * `ambit control --kubernetes` (a real process) against the in-test API server, with a real ztunnel
 * (`ZtunnelApp`, in this process) that authenticates by TokenReview of its projected token:
 *
 * - pods created, changed and deleted through the API reach the ztunnel's config (its admin API), with the
 *   namespace's `istio.io/dataplane-mode` deciding enrollment; a watch answered 410 Gone relists without
 *   losing or duplicating a workload;
 * - node identity: a node-a token cannot obtain an identity that only has pods on node-b (node-b's can), a
 *   token of an untrusted service account and a token for another audience are refused, and a token of a
 *   deleted ztunnel pod no longer authenticates, nor does a token admitted before its pod was deleted (its
 *   cached review is dropped on the deletion, not kept for its 60 s);
 * - the process's waypoint controller takes its Lease and deploys a waypoint Gateway, whose Service (with
 *   the address the API server gave it) and status reach the ztunnel and the API;
 * - a waypoint's own projected token proves only its identity and its waypoint (not another's, not a
 *   ztunnel's), and not once its pod is gone; distinct unknown tokens are reviewed at a bounded rate.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata } from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenReviewAuthenticator } from '../../src/control/auth/token-review.ts';
import { CertificateRequestError, GrpcCertificateSigner } from '../../src/core/certs/ca-client.ts';
import { createCsr, generateRsaKey } from '../../src/core/certs/csr.ts';
import { ControlApiClient } from '../../src/core/control-api/client.ts';
import { waypointDiscovery, ztunnelDiscovery } from '../../src/core/discovery/client.ts';
import { createLogger } from '../../src/core/log.ts';
import { loadKubeConfig } from '../../src/kube/client.ts';
import { CONTROL_TOKEN_AUDIENCE } from '../../src/kube/manifests/settings.ts';
import { ZtunnelApp } from '../../src/ztunnel/index.ts';
import { AMBIT, killAll, ROOT, track } from '../support/cli.ts';
import { eventually } from '../support/eventually.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { httpGet } from '../support/http-get.ts';
import {
  CORE_RESOURCES,
  INSTALL_RESOURCES,
  KubeApiServer,
  type KubeObject,
  LEASE_RESOURCE,
  MESH_RESOURCES,
} from '../support/kube-api-server.ts';
import { quietLogs } from '../support/logging.ts';

const PODS = ['/api/v1', 'pods'] as const;
const SYSTEM = 'ambit-system';

/** A pod as the kubelet reports it once running: scheduled, with an IP, Ready. */
function pod(
  name: string,
  options: { namespace?: string; node: string; ip: string; labels?: Record<string, string>; sa?: string },
): KubeObject {
  return {
    metadata: { name, namespace: options.namespace ?? 'shop', labels: options.labels ?? { app: name } },
    spec: {
      nodeName: options.node,
      serviceAccountName: options.sa ?? name,
      containers: [{ name: 'app', image: 'app', ports: [{ name: 'http', containerPort: 8080 }] }],
    },
    status: {
      phase: 'Running',
      podIP: options.ip,
      podIPs: [{ ip: options.ip }],
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  };
}

interface WorkloadRow {
  namespace: string;
  name: string;
  node: string;
  ips: string[];
  protocol: string;
}

describe('Kubernetes pods and TokenReview node identity', () => {
  let api: KubeApiServer;
  let dir: string;
  let control: ChildProcess | undefined;
  const controlLog: string[] = [];
  let zt: ZtunnelApp | undefined;
  let grpcAddress: string;
  let rootCertPem: string;
  const adminSocket = () => join(dir, 'ztunnel-admin.sock');
  /** A token of node X's ztunnel pod, as its projected volume holds it. */
  const tokens: Record<string, string> = {};

  const workloads = async (): Promise<WorkloadRow[]> =>
    JSON.parse((await httpGet({ socketPath: adminSocket(), path: '/workloads' })).body) as WorkloadRow[];
  const shopWorkloads = async () =>
    (await workloads())
      .filter((w) => w.namespace === 'shop')
      .map((w) => `${w.name} ${w.node} ${w.ips.join(',')} ${w.protocol}`)
      .sort();

  const ztunnelPod = (node: string) => {
    const stored = api.put(
      ...PODS,
      pod(`ambit-ztunnel-${node}`, {
        namespace: SYSTEM,
        node,
        ip: `10.244.${node === 'node-a' ? 1 : 2}.2`,
        sa: 'ambit-ztunnel',
        labels: { app: 'ambit-ztunnel' },
      }),
    );
    return { name: stored.metadata.name!, uid: stored.metadata.uid! };
  };

  /** One CreateCertificate for `identity` with `token`; resolves to the gRPC status (0 = issued). */
  const sign = async (token: string, namespace: string, serviceAccount: string): Promise<number> => {
    const signer = new GrpcCertificateSigner({ address: grpcAddress, rootCertPem, token: () => token });
    try {
      const csr = createCsr(
        `spiffe://cluster.local/ns/${namespace}/sa/${serviceAccount}`,
        await generateRsaKey(),
      );
      await signer.createCertificate(csr, 3600);
      return 0;
    } catch (error) {
      if (error instanceof CertificateRequestError) return error.grpcStatus;
      throw error;
    } finally {
      signer.close();
    }
  };

  beforeAll(async () => {
    quietLogs();
    api = await new KubeApiServer([
      ...CORE_RESOURCES,
      ...MESH_RESOURCES,
      ...INSTALL_RESOURCES,
      LEASE_RESOURCE,
    ]).listen();
    dir = mkdtempSync(join(tmpdir(), 'ambit-kube-workloads-'));
    writeFileSync(join(dir, 'kubeconfig'), api.kubeconfig());
    api.put('/api/v1', 'namespaces', {
      metadata: { name: 'shop', labels: { 'istio.io/dataplane-mode': 'ambient' } },
    });
    api.put('/api/v1', 'namespaces', { metadata: { name: SYSTEM } });
    api.put('/api/v1', 'services', {
      metadata: { name: 'reviews', namespace: 'shop' },
      spec: {
        selector: { app: 'reviews' },
        clusterIP: '10.96.0.40',
        ports: [{ port: 80, targetPort: 'http' }],
      },
    });
    api.put(
      ...PODS,
      pod('reviews-1', { node: 'node-a', ip: '10.244.1.10', labels: { app: 'reviews' }, sa: 'reviews' }),
    );
    api.put(...PODS, pod('ratings-1', { node: 'node-b', ip: '10.244.2.10', sa: 'ratings' }));
    // Never workloads: not scheduled yet, and on the host network.
    api.put(...PODS, { metadata: { name: 'pending', namespace: 'shop' }, spec: { containers: [] } });
    api.put(...PODS, {
      ...pod('host-agent', { node: 'node-a', ip: '192.0.2.1' }),
      spec: { nodeName: 'node-a', hostNetwork: true, containers: [] },
    });
    for (const node of ['node-a', 'node-b']) {
      tokens[node] = api.issueToken({
        namespace: SYSTEM,
        serviceAccount: 'ambit-ztunnel',
        audiences: [CONTROL_TOKEN_AUDIENCE],
        pod: ztunnelPod(node),
      });
    }

    const socket = join(dir, 'state', 'control.sock');
    control = track(
      spawn(
        process.execPath,
        [
          AMBIT,
          'control',
          '--kubernetes',
          '--kubeconfig',
          join(dir, 'kubeconfig'),
          '--state-dir',
          join(dir, 'state'),
          '--listen',
          '127.0.0.1:0',
          '--metrics-port',
          '0',
          '--debounce',
          '20ms',
        ],
        { cwd: ROOT, env: { ...process.env, AMBIT_LOG_FORMAT: 'json' }, stdio: ['ignore', 'ignore', 'pipe'] },
      ),
    );
    control.stderr!.on('data', (chunk: Buffer) => controlLog.push(chunk.toString()));
    const status = await eventually(() => new ControlApiClient(socket).status(), {
      timeout: 30_000,
      what: `the control plane to answer on its socket (log: ${controlLog.join('').slice(-2000)})`,
    });
    grpcAddress = status.grpcAddress;
    rootCertPem = readFileSync(join(dir, 'state', 'ca', 'root-cert.pem'), 'utf8');

    zt = new ZtunnelApp({
      node: 'node-a',
      control: { address: grpcAddress, rootCertPem, token: () => tokens['node-a']! },
      endpoints: {
        admin: { host: '127.0.0.1', port: 0 },
        adminSocket: adminSocket(),
        metrics: { host: '127.0.0.1', port: 0 },
        readiness: { host: '127.0.0.1', port: 0 },
      },
      // No pod is enrolled here: the ztunnel's config is what is checked.
      startNodeAgent: async () => ({ stopEnrolling: async () => {}, close: async () => {} }),
      log: createLogger('ztunnel', { node: 'node-a' }),
    });
    await zt.start(new Promise(() => {}));
  }, 60_000);

  afterAll(async () => {
    await zt?.stop();
    killAll();
    await api?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the ztunnel, authenticated by TokenReview, gets the API pods as workloads', async () => {
    await expect
      .poll(shopWorkloads, { timeout: 15_000 })
      .toEqual(['ratings-1 node-b 10.244.2.10 HBONE', 'reviews-1 node-a 10.244.1.10 HBONE']);
    const reviews = api.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/tokenreviews'));
    expect(reviews.length).toBeGreaterThan(0);
    // The ztunnel pods themselves are workloads too, outside the mesh (their namespace is not ambient).
    expect((await workloads()).find((w) => w.name === 'ambit-ztunnel-node-a')?.protocol).toBe('TCP');
  });

  it('follows pods created, changed and deleted through the API', async () => {
    api.put(...PODS, pod('details-1', { node: 'node-b', ip: '10.244.2.11', sa: 'details' }));
    await expect.poll(shopWorkloads, { timeout: 15_000 }).toContain('details-1 node-b 10.244.2.11 HBONE');
    // A pod opted out by its own label, and a new IP of a recreated pod.
    api.put(
      ...PODS,
      pod('details-1', {
        node: 'node-b',
        ip: '10.244.2.12',
        labels: { 'istio.io/dataplane-mode': 'none' },
        sa: 'details',
      }),
    );
    await expect.poll(shopWorkloads, { timeout: 15_000 }).toContain('details-1 node-b 10.244.2.12 TCP');
    api.delete(...PODS, 'shop', 'details-1');
    await expect
      .poll(shopWorkloads, { timeout: 15_000 })
      .toEqual(['ratings-1 node-b 10.244.2.10 HBONE', 'reviews-1 node-a 10.244.1.10 HBONE']);
  });

  it('a watch answered 410 Gone relists without losing or duplicating a workload', async () => {
    await expect.poll(() => api.watcherCount(...PODS), { timeout: 15_000 }).toBe(1);
    const listed = api.requests.filter(
      (r) => r.method === 'GET' && r.path === '/api/v1/pods' && !r.query.includes('watch=true'),
    ).length;
    // All in one tick: the re-watch cannot see these, only the relist that its 410 forces.
    api.endWatches();
    api.put(
      ...PODS,
      pod('reviews-2', { node: 'node-a', ip: '10.244.1.11', labels: { app: 'reviews' }, sa: 'reviews' }),
    );
    api.delete(...PODS, 'shop', 'ratings-1');
    api.put(
      ...PODS,
      pod('reviews-1', { node: 'node-a', ip: '10.244.1.20', labels: { app: 'reviews' }, sa: 'reviews' }),
    );
    api.compact();
    await expect
      .poll(
        () =>
          api.requests.filter(
            (r) => r.method === 'GET' && r.path === '/api/v1/pods' && !r.query.includes('watch=true'),
          ).length,
        { timeout: 15_000 },
      )
      .toBeGreaterThan(listed);
    await expect
      .poll(shopWorkloads, { timeout: 15_000 })
      .toEqual(['reviews-1 node-a 10.244.1.20 HBONE', 'reviews-2 node-a 10.244.1.11 HBONE']);
    const services = JSON.parse((await httpGet({ socketPath: adminSocket(), path: '/services' })).body) as {
      name: string;
      endpointsReady: number;
      ports: string[];
    }[];
    // The named target port resolves to the pods' container port.
    expect(services.find((s) => s.name === 'reviews')).toMatchObject({
      endpointsReady: 2,
      ports: ['80->8080'],
    });
  });

  it('a Service without a selector gets its endpoints from its EndpointSlices', async () => {
    interface DumpedService {
      name: string;
      vips: string[];
      endpoints: Array<{
        ip: string;
        ready: boolean;
        workloadUid: string;
        targetPorts?: Record<string, number>;
      }>;
    }
    const legacy = async () =>
      (
        JSON.parse((await httpGet({ socketPath: adminSocket(), path: '/config_dump' })).body) as {
          snapshot: { services: DumpedService[] };
        }
      ).snapshot.services.find((s) => s.name === 'legacy-db');
    const SLICES = ['/apis/discovery.k8s.io/v1', 'endpointslices'] as const;
    const slice = (name: string, endpoints: unknown[], port: number) => ({
      metadata: { name, namespace: 'shop', labels: { 'kubernetes.io/service-name': 'legacy-db' } },
      addressType: 'IPv4',
      ports: [{ name: 'tcp-db', port, protocol: 'TCP' }],
      endpoints,
    });
    api.put('/api/v1', 'services', {
      metadata: { name: 'legacy-db', namespace: 'shop' },
      spec: { clusterIP: '10.96.0.41', ports: [{ name: 'tcp-db', port: 5432 }] },
    });
    const reviewsUid = api.get(...PODS, 'shop', 'reviews-1')!.metadata.uid!;
    // One slice at a mesh pod's address, one outside the mesh (a database off the cluster), on other ports.
    api.put(
      ...SLICES,
      slice('legacy-db-pods', [{ addresses: ['10.244.1.20'], conditions: { ready: true } }], 15432),
    );
    api.put(...SLICES, slice('legacy-db-external', [{ addresses: ['192.0.2.50'] }], 5433));
    // A slice of another Service is not this one's.
    api.put(...SLICES, {
      ...slice('other', [{ addresses: ['192.0.2.99'] }], 1),
      metadata: { name: 'other', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'reviews' } },
    });
    await expect
      .poll(async () => (await legacy())?.endpoints.sort((a, b) => a.ip.localeCompare(b.ip)), {
        timeout: 15_000,
      })
      .toEqual([
        { ip: '10.244.1.20', ready: true, workloadUid: reviewsUid, targetPorts: { 5432: 15432 } },
        { ip: '192.0.2.50', ready: true, workloadUid: '', targetPorts: { 5432: 5433 } },
      ]);
    expect((await legacy())?.vips).toEqual(['10.96.0.41']);
    // The selector's Service keeps its pods: the stray slice named it, but a selector's endpoints are its pods.
    const services = JSON.parse((await httpGet({ socketPath: adminSocket(), path: '/services' })).body) as {
      name: string;
      endpointsTotal: number;
    }[];
    expect(services.find((s) => s.name === 'reviews')?.endpointsTotal).toBe(2);

    // Both terminating, one still serving: it is the one taking connections (none is ready).
    api.put(
      ...SLICES,
      slice(
        'legacy-db-pods',
        [{ addresses: ['10.244.1.20'], conditions: { ready: false, serving: true, terminating: true } }],
        15432,
      ),
    );
    api.put(
      ...SLICES,
      slice(
        'legacy-db-external',
        [{ addresses: ['192.0.2.50'], conditions: { ready: false, serving: false, terminating: true } }],
        5433,
      ),
    );
    await expect
      .poll(async () => (await legacy())?.endpoints.map((e) => `${e.ip} ${e.ready}`).sort(), {
        timeout: 15_000,
      })
      .toEqual(['10.244.1.20 true', '192.0.2.50 false']);
    api.delete(...SLICES, 'shop', 'legacy-db-pods');
    api.delete(...SLICES, 'shop', 'legacy-db-external');
    await expect.poll(async () => (await legacy())?.endpoints, { timeout: 15_000 }).toEqual([]);
  });

  it('signs for a node only identities with a pod on that node', async () => {
    // reviews-* run on node-a only; ratings-1 is gone, so put a pod of its account on node-b.
    api.put(...PODS, pod('ratings-2', { node: 'node-b', ip: '10.244.2.20', sa: 'ratings' }));
    await expect.poll(shopWorkloads, { timeout: 15_000 }).toContain('ratings-2 node-b 10.244.2.20 HBONE');
    expect(await sign(tokens['node-a']!, 'shop', 'reviews')).toBe(0);
    expect(await sign(tokens['node-a']!, 'shop', 'ratings')).toBe(7); // PERMISSION_DENIED
    expect(await sign(tokens['node-b']!, 'shop', 'ratings')).toBe(0);
  });

  it('refuses a token of an untrusted account, one for another audience, and one whose pod is gone', async () => {
    const app = api.put(
      ...PODS,
      pod('reviews-3', { node: 'node-a', ip: '10.244.1.30', labels: { app: 'reviews' }, sa: 'reviews' }),
    );
    const untrusted = api.issueToken({
      namespace: 'shop',
      serviceAccount: 'reviews',
      audiences: [CONTROL_TOKEN_AUDIENCE],
      pod: { name: 'reviews-3', uid: app.metadata.uid! },
    });
    const otherAudience = api.issueToken({
      namespace: SYSTEM,
      serviceAccount: 'ambit-ztunnel',
      audiences: ['https://kubernetes.default.svc.cluster.local'],
      pod: ztunnelPod('node-a'),
    });
    const UNAUTHENTICATED = 16;
    expect(await sign(untrusted, 'shop', 'reviews')).toBe(UNAUTHENTICATED);
    expect(await sign(otherAudience, 'shop', 'reviews')).toBe(UNAUTHENTICATED);
    expect(await sign('not-a-token', 'shop', 'reviews')).toBe(UNAUTHENTICATED);

    // A new ztunnel pod on node-b, then deleted: its token names a pod that no longer exists.
    const replaced = ztunnelPod('node-b');
    api.delete(...PODS, SYSTEM, replaced.name);
    const stale = api.issueToken({
      namespace: SYSTEM,
      serviceAccount: 'ambit-ztunnel',
      audiences: [CONTROL_TOKEN_AUDIENCE],
      pod: replaced,
    });
    expect(await sign(stale, 'shop', 'ratings')).toBe(UNAUTHENTICATED);
    // That was node-b's ztunnel pod, whose token was admitted (and its review cached for 60 s) above: once
    // the control plane's pod watch sees the deletion, the cached admission is dropped and the token refused.
    await expect
      .poll(() => sign(tokens['node-b']!, 'shop', 'ratings'), { timeout: 20_000, interval: 200 })
      .toBe(UNAUTHENTICATED);
    const log = controlLog.join('');
    expect(log).toContain('is not a trusted node agent');
    // The review named our audience, so the API server itself refused the token minted for another.
    expect(log).toContain(`is invalid for the target audiences [\\"${CONTROL_TOKEN_AUDIENCE}\\"]`);
  });

  it('deploys a waypoint Gateway (the process holds the Lease) and the ztunnel sees its Service', async () => {
    api.put('/apis/gateway.networking.k8s.io/v1', 'gateways', {
      metadata: { name: 'waypoint', namespace: 'shop' },
      spec: {
        gatewayClassName: 'istio-waypoint',
        listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }],
      },
    });
    await expect
      .poll(() => api.get('/apis/apps/v1', 'deployments', 'shop', 'waypoint'), { timeout: 20_000 })
      .toBeDefined();
    // The Service is applied last.
    await expect
      .poll(() => api.get('/api/v1', 'services', 'shop', 'waypoint'), { timeout: 10_000 })
      .toBeDefined();
    const lease = api.get('/apis/coordination.k8s.io/v1', 'leases', SYSTEM, 'ambit-waypoint-controller');
    expect((lease as unknown as { spec: { holderIdentity: string } }).spec.holderIdentity).toMatch(/_\d+$/);
    const clusterIp = (api.get('/api/v1', 'services', 'shop', 'waypoint')!.spec as { clusterIP: string })
      .clusterIP;
    await expect
      .poll(
        async () =>
          (
            JSON.parse((await httpGet({ socketPath: adminSocket(), path: '/services' })).body) as Array<{
              name: string;
              vips: string[];
            }>
          ).find((s) => s.name === 'waypoint')?.vips,
        { timeout: 15_000 },
      )
      .toEqual([clusterIp]);
    await expect
      .poll(
        () =>
          (
            api.get('/apis/gateway.networking.k8s.io/v1', 'gateways', 'shop', 'waypoint') as {
              status?: unknown;
            }
          ).status,
        {
          timeout: 15_000,
        },
      )
      .toMatchObject({ addresses: [{ type: 'IPAddress', value: clusterIp }] });
  });

  it("a waypoint's own token proves only its identity and its waypoint, while its pod exists", async () => {
    const waypointPod = (name: string, sa = 'waypoint') => {
      const stored = api.put(
        ...PODS,
        pod(name, {
          node: 'node-b',
          ip: '10.244.2.40',
          sa,
          labels: { 'gateway.networking.k8s.io/gateway-name': 'waypoint', 'istio.io/dataplane-mode': 'none' },
        }),
      );
      return api.issueToken({
        namespace: 'shop',
        serviceAccount: sa,
        audiences: [CONTROL_TOKEN_AUDIENCE],
        pod: { name, uid: stored.metadata.uid! },
      });
    };
    // The Gateway of the test above exists: this is an instance of its waypoint, as the controller runs it.
    const token = waypointPod('waypoint-7f9d');
    const PERMISSION_DENIED = 7;
    const UNAUTHENTICATED = 16;
    expect(await sign(token, 'shop', 'waypoint')).toBe(0);
    expect(await sign(token, 'shop', 'reviews')).toBe(PERMISSION_DENIED);
    expect(await sign(token, 'shop', 'ratings')).toBe(PERMISSION_DENIED);

    const connection = { address: grpcAddress, rootCertPem, token: () => token };
    const own = waypointDiscovery({
      connection,
      node: 'node-b',
      waypoint: { namespace: 'shop', name: 'waypoint' },
    }).start();
    const other = waypointDiscovery({
      connection,
      node: 'node-b',
      waypoint: { namespace: 'shop', name: 'other' },
    }).start();
    const asZtunnel = ztunnelDiscovery({ connection, node: 'node-b' }).start();
    try {
      await own.ready(15_000);
      await eventually(
        () => {
          const log = controlLog.join('');
          if (!log.includes('waypoint shop/waypoint may not subscribe as waypoint shop/other'))
            return undefined;
          if (!log.includes('waypoint shop/waypoint may not subscribe as a ztunnel')) return undefined;
          return true;
        },
        { timeout: 15_000, what: 'the refusals of the other subscriptions in the control log' },
      );
      expect(other.current()).toBeUndefined();
      expect(asZtunnel.current()).toBeUndefined();
    } finally {
      own.close();
      other.close();
      asZtunnel.close();
    }

    // Another account's pod labelled as the waypoint's is no waypoint; a deleted instance's token is refused.
    expect(await sign(waypointPod('impostor', 'reviews'), 'shop', 'reviews')).toBe(UNAUTHENTICATED);
    const stale = waypointPod('waypoint-gone');
    api.delete(...PODS, 'shop', 'waypoint-gone');
    expect(await sign(stale, 'shop', 'waypoint')).toBe(UNAUTHENTICATED);
    const log = controlLog.join('');
    expect(log).toContain("the token's pod shop/waypoint-gone no longer exists");
    expect(log).toContain('a waypoint of Gateway shop/waypoint runs as service account shop/waypoint');
  });

  it('reviews distinct unknown tokens at a bounded rate, counted, without evicting admitted callers', async () => {
    const clock = new FakeClock();
    const authenticator = new TokenReviewAuthenticator(
      loadKubeConfig(join(dir, 'kubeconfig')),
      {
        audience: CONTROL_TOKEN_AUDIENCE,
        trustedAccounts: [`${SYSTEM}/ambit-ztunnel`],
        reviewRate: { burst: 3, perSecond: 1 },
        cacheEntries: 2,
      },
      clock,
    );
    const registry = new Registry();
    authenticator.registerMetrics(registry);
    const reviews = () => api.requests.filter((r) => r.path.endsWith('/tokenreviews')).length;
    const bearer = (token: string) => {
      const metadata = new Metadata();
      metadata.set('authorization', `Bearer ${token}`);
      return metadata;
    };
    const outcome = (token: string) =>
      authenticator.authenticate(bearer(token)).then(
        (caller) => `node ${caller.node}`,
        (error: Error & { code?: number }) => (error.code === 14 ? 'unavailable' : 'refused'),
      );

    const before = reviews();
    expect(await outcome(tokens['node-a']!)).toBe('node node-a');
    const junk = Array.from({ length: 6 }, (_, i) => `junk-${i}`);
    // Two reviews left in the burst, then every new token waits for the bucket.
    expect(await Promise.all(junk.map(outcome))).toEqual([
      'refused',
      'refused',
      'unavailable',
      'unavailable',
      'unavailable',
      'unavailable',
    ]);
    expect(reviews() - before).toBe(3);
    // Known tokens cost nothing and are not limited: the admitted one outlives a flood of refusals.
    expect(await outcome(tokens['node-a']!)).toBe('node node-a');
    expect(await outcome('junk-1')).toBe('refused');
    expect(reviews() - before).toBe(3);
    // A new ztunnel's token (its node-b pod was deleted above, so node-a's again).
    const fresh = api.issueToken({
      namespace: SYSTEM,
      serviceAccount: 'ambit-ztunnel',
      audiences: [CONTROL_TOKEN_AUDIENCE],
      pod: ztunnelPod('node-a'),
    });
    expect(await outcome(fresh)).toBe('unavailable');
    await clock.advance(1000);
    expect(await outcome(fresh)).toBe('node node-a');
    expect(reviews() - before).toBe(4);
    const counted = Object.fromEntries(
      (await registry.getSingleMetric('ambit_control_token_reviews_total')!.get()).values.map((v) => [
        v.labels.outcome,
        v.value,
      ]),
    );
    expect(counted).toEqual({ admitted: 2, refused: 2, rate_limited: 5 });
  });
});
