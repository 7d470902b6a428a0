/**
 * Two control-plane replicas on one Kubernetes API (the in-test API server): both apply every object to
 * their config store, but only the holder of the `coordination.k8s.io` Lease writes status conditions and
 * Events; once the holder stops (it gives the Lease up), the other takes the Lease, writes the status of
 * what it knows and of what comes after, and the one that stopped writes nothing more.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigStore } from '../../src/control/config/store.ts';
import { CONTROL_KINDS } from '../../src/control/kinds.ts';
import { createLogger } from '../../src/core/log.ts';
import { loadKubeConfig } from '../../src/kube/client.ts';
import { KubernetesConfigSource } from '../../src/kube/config-source.ts';
import {
  CORE_RESOURCES,
  KubeApiServer,
  type KubeObject,
  LEASE_RESOURCE,
  MESH_RESOURCES,
} from '../support/kube-api-server.ts';
import { quietLogs } from '../support/logging.ts';

const VS = ['/apis/networking.istio.io/v1', 'virtualservices'] as const;
const LEASES = ['/apis/coordination.k8s.io/v1', 'leases'] as const;
const LEASE = { namespace: 'ambit-system', name: 'ambit-config-status' };

const virtualService = (name: string, weight: number): KubeObject => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: { name, namespace: 'shop' },
  spec: { hosts: [name], http: [{ route: [{ destination: { host: name }, weight }] }] },
});

type Replica = { source: KubernetesConfigSource; store: ConfigStore };

describe('status written by the Lease holder only', () => {
  let api: KubeApiServer;
  let dir: string;
  const replicas: Partial<Record<'a' | 'b', Replica>> = {};

  /** Status and Event writes, by whose token (about `name`, if given). */
  const statusWriters = (name?: string) =>
    api.requests
      .filter((r) => r.method !== 'GET' && (r.path.endsWith('/status') || r.path.endsWith('/events')))
      .filter((r) => name === undefined || r.path.includes(`/${name}/`))
      .map((r) => r.token);
  const condition = (name: string) =>
    (api.get(...VS, 'shop', name) as { status?: { conditions?: Array<{ status: string }> } } | undefined)
      ?.status?.conditions?.[0]?.status;
  const holder = () =>
    (api.get(...LEASES, LEASE.namespace, LEASE.name) as { spec?: { holderIdentity?: string } } | undefined)
      ?.spec?.holderIdentity;
  const hasVs = (replica: Replica, name: string) =>
    replica.store.resources().some((r) => r.kind === 'VirtualService' && r.metadata.name === name);

  async function start(who: 'a' | 'b'): Promise<Replica> {
    writeFileSync(join(dir, `kubeconfig-${who}`), api.kubeconfig(`control-${who}`));
    const store = new ConfigStore(CONTROL_KINDS, 'cluster.local');
    const source = new KubernetesConfigSource(
      loadKubeConfig(join(dir, `kubeconfig-${who}`)),
      store,
      createLogger(`config-${who}`),
      // Long enough that no load can expire a live holder's Lease; a holder that stops gives it up at once.
      { lease: { ...LEASE, identity: who, leaseDurationSeconds: 30, renewMs: 200 } },
    );
    await source.start();
    return { source, store };
  }

  beforeAll(async () => {
    quietLogs();
    api = await new KubeApiServer([...CORE_RESOURCES, ...MESH_RESOURCES, LEASE_RESOURCE]).listen();
    dir = mkdtempSync(join(tmpdir(), 'ambit-kube-status-leader-'));
    api.put('/api/v1', 'namespaces', { metadata: { name: 'shop' } });
    api.put(...VS, virtualService('before', 100));
  });

  afterAll(async () => {
    await replicas.a?.source.stop();
    await replicas.b?.source.stop();
    await api?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the first replica takes the Lease and writes the status of what it found', async () => {
    replicas.a = await start('a');
    await expect.poll(() => replicas.a!.source.writing, { timeout: 10_000 }).toBe(true);
    await expect.poll(() => condition('before'), { timeout: 10_000 }).toBe('True');
    replicas.b = await start('b');
    expect(holder()).toBe('a');
    expect(replicas.b.source.writing).toBe(false);
  });

  it('both replicas apply a change, and only the holder writes its status and Event', async () => {
    const { a, b } = replicas as Record<'a' | 'b', Replica>;
    api.put(...VS, virtualService('good', 100));
    api.put(...VS, virtualService('bad', -1));
    await expect.poll(() => hasVs(a, 'good') && hasVs(b, 'good'), { timeout: 10_000 }).toBe(true);
    await expect.poll(() => condition('good'), { timeout: 10_000 }).toBe('True');
    await expect.poll(() => condition('bad'), { timeout: 10_000 }).toBe('False');
    // Neither replica took the invalid one.
    expect(hasVs(a, 'bad') || hasVs(b, 'bad')).toBe(false);
    expect(b.source.writing).toBe(false);
    expect(new Set(statusWriters())).toEqual(new Set(['control-a']));
  });

  it('once the holder stops, the other takes over and writes; the stopped one writes nothing more', async () => {
    const { a, b } = replicas as Record<'a' | 'b', Replica>;
    await a.source.stop();
    replicas.a = undefined;
    await expect.poll(() => b.source.writing, { timeout: 10_000 }).toBe(true);
    expect(holder()).toBe('b');
    // The new holder writes what it knows (the refused one's condition again) ...
    await expect.poll(() => statusWriters().includes('control-b'), { timeout: 10_000 }).toBe(true);
    // ... and what comes after.
    api.put(...VS, virtualService('after', 100));
    await expect.poll(() => condition('after'), { timeout: 10_000 }).toBe('True');
    // Its watches stopped, the one that stopped could only write about 'after' in response to it: it did not.
    expect(statusWriters('after')).toEqual(['control-b']);
  });
});
