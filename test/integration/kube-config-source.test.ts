/**
 * The Kubernetes API as the control plane's config source, through `@kubernetes/client-node`'s informers
 * against the in-test API server: objects created, changed and deleted reach the config store; a watch
 * answered 410 Gone relists without losing or duplicating an object; a bookmark spares a quiet watch that
 * relist; an invalid VirtualService is refused alone, with an `Accepted=False` condition and a Warning Event
 * naming the field, while its previous version stays in force.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigStore } from '../../src/control/config/store.ts';
import { CONTROL_KINDS } from '../../src/control/kinds.ts';
import { loadKubeConfig } from '../../src/kube/client.ts';
import { type ConfigSink, KubernetesConfigSource } from '../../src/kube/config-source.ts';
import {
  CORE_RESOURCES,
  KubeApiServer,
  type KubeObject,
  MESH_RESOURCES,
} from '../support/kube-api-server.ts';
import { quietLogs } from '../support/logging.ts';

const VS = ['/apis/networking.istio.io/v1', 'virtualservices'] as const;
const SVC = ['/api/v1', 'services'] as const;

const virtualService = (weight: number, host = 'reviews'): KubeObject => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: { name: 'reviews', namespace: 'shop' },
  spec: { hosts: [host], http: [{ route: [{ destination: { host }, weight }] }] },
});
const service = (name: string): KubeObject => ({
  metadata: { name, namespace: 'shop' },
  spec: { selector: { app: name }, ports: [{ port: 80, targetPort: 8080 }] },
});

describe('the Kubernetes config source', () => {
  let api: KubeApiServer;
  let dir: string;
  let store: ConfigStore;
  let source: KubernetesConfigSource;
  /** Every call the source made on the store, in order. */
  const calls: string[] = [];

  const inStore = () =>
    store
      .resources()
      .map((r) => `${r.kind} ${r.metadata.namespace ?? ''}/${r.metadata.name}`)
      .sort();
  const weightInStore = () => {
    const entry = store.list().find((e) => e.resource.kind === 'VirtualService');
    const document = entry?.document as
      | { spec: { http: Array<{ route: Array<{ weight: number }> }> } }
      | undefined;
    return document === undefined ? undefined : document.spec.http[0]!.route[0]!.weight;
  };
  const listsOf = (plural: string) =>
    api.requests.filter(
      (r) => r.method === 'GET' && r.path.endsWith(`/${plural}`) && !r.query.includes('watch=true'),
    ).length;

  beforeAll(async () => {
    quietLogs();
    api = await new KubeApiServer([...CORE_RESOURCES, ...MESH_RESOURCES]).listen();
    dir = mkdtempSync(join(tmpdir(), 'ambit-kube-source-'));
    writeFileSync(join(dir, 'kubeconfig'), api.kubeconfig());
    api.put('/api/v1', 'namespaces', {
      metadata: { name: 'shop', labels: { 'istio.io/dataplane-mode': 'ambient' } },
    });
    api.put(...SVC, service('reviews'));
    api.put(...VS, virtualService(100));
    store = new ConfigStore(CONTROL_KINDS, 'cluster.local');
    // Left from an earlier run (the store persists its config): the API no longer has it.
    store.replaceOrigin('kube:Service/shop/gone', [
      {
        name: 'earlier run',
        content:
          'apiVersion: v1\nkind: Service\nmetadata: {name: gone, namespace: shop}\nspec: {ports: [{port: 80}]}\n',
      },
    ]);
    const sink: ConfigSink = {
      replaceOrigin: (origin, files) => {
        calls.push(`upsert ${origin}`);
        return store.replaceOrigin(origin, files);
      },
      removeOrigin: (origin) => {
        calls.push(`remove ${origin}`);
        return store.removeOrigin(origin);
      },
      origins: () => store.origins(),
    };
    source = new KubernetesConfigSource(loadKubeConfig(join(dir, 'kubeconfig')), sink);
    await source.start();
  });

  afterAll(async () => {
    await source?.stop();
    await api?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('lists what exists into the store, and drops what an earlier run kept that the API no longer has', async () => {
    await expect
      .poll(inStore)
      .toEqual(['Namespace /shop', 'Service shop/reviews', 'VirtualService shop/reviews']);
    // Each watch asked for bookmarks.
    expect(
      api.requests
        .filter((r) => r.query.includes('watch=true'))
        .every((r) => r.query.includes('allowWatchBookmarks=true')),
    ).toBe(true);
  });

  it('follows creations, changes and deletions through the watch', async () => {
    api.put(...SVC, service('ratings'));
    api.put(...VS, virtualService(50));
    await expect.poll(inStore).toContain('Service shop/ratings');
    await expect.poll(weightInStore).toBe(50);
    api.delete(...SVC, 'shop', 'ratings');
    await expect.poll(inStore).not.toContain('Service shop/ratings');
  });

  it('refuses an invalid VirtualService alone: condition and Event name the field, the previous version stays', async () => {
    api.put(...VS, virtualService(-1));
    await expect
      .poll(
        () =>
          (api.get(...VS, 'shop', 'reviews') as { status?: { conditions?: Array<Record<string, string>> } })
            .status?.conditions?.[0],
      )
      .toMatchObject({
        type: 'Accepted',
        status: 'False',
        reason: 'Invalid',
        message: expect.stringContaining('spec.http[0].route[0].weight'),
      });
    await expect
      .poll(() =>
        api
          .list('/api/v1', 'events')
          .map((e) => [e.type, e.reason, (e.involvedObject as { name: string }).name]),
      )
      .toContainEqual(['Warning', 'InvalidConfig', 'reviews']);
    const event = api.list('/api/v1', 'events').find((e) => e.reason === 'InvalidConfig')!;
    expect(event.message).toMatch(/spec\.http\[0\]\.route\[0\]\.weight: must be at least 0/);
    expect(weightInStore()).toBe(50);

    api.put(...VS, { ...virtualService(70), status: api.get(...VS, 'shop', 'reviews')!.status });
    await expect.poll(weightInStore).toBe(70);
    await expect
      .poll(
        () =>
          (api.get(...VS, 'shop', 'reviews') as { status?: { conditions?: Array<{ status: string }> } })
            .status?.conditions?.[0]?.status,
      )
      .toBe('True');
  });

  it('relists after 410 Gone without losing or duplicating an object', async () => {
    await expect.poll(() => api.watcherCount(...SVC), { timeout: 15_000 }).toBe(1);
    const servicesListed = listsOf('services');
    const before = calls.length;
    // All in one tick, before the informer's re-watch arrives: what it missed is only in the relist.
    api.endWatches();
    api.put(...SVC, service('details'));
    api.put(...SVC, {
      ...service('reviews'),
      spec: { selector: { app: 'reviews-v2' }, ports: [{ port: 80 }] },
    });
    api.put('/api/v1', 'namespaces', { metadata: { name: 'quiet' } });
    api.compact();
    await expect.poll(() => listsOf('services'), { timeout: 15_000 }).toBeGreaterThan(servicesListed);
    await expect.poll(inStore).toContain('Service shop/details');
    await expect
      .poll(() =>
        calls
          .slice(before)
          .filter((c) => c.includes(':Service/shop/'))
          .sort(),
      )
      .toEqual(['upsert kube:Service/shop/details', 'upsert kube:Service/shop/reviews']);
    expect(calls.slice(before).filter((c) => c.startsWith('remove'))).toEqual([]);
    expect(inStore().filter((r) => r.startsWith('Service'))).toEqual([
      'Service shop/details',
      'Service shop/reviews',
    ]);
  });

  it('a bookmark moves a quiet watch past a compaction, so it re-watches without a relist', async () => {
    // Back from the previous test's ended watches (the informer waits before re-watching).
    await expect.poll(() => api.watcherCount(...VS), { timeout: 15_000 }).toBe(1);
    api.put(...SVC, service('noise')); // advances the resourceVersion; the VirtualService watch sees nothing
    api.bookmark();
    await new Promise((resolve) => setTimeout(resolve, 500)); // the bookmark line reaches the informer
    const listed = listsOf('virtualservices');
    api.compact();
    api.endWatches();
    await expect.poll(() => api.watcherCount(...VS), { timeout: 15_000 }).toBe(1);
    expect(listsOf('virtualservices')).toBe(listed);
  });
});
