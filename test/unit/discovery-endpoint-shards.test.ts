/**
 * A large Service travels as its spec and endpoint shards, so that a pod that comes or goes resends one
 * shard, not the Service: the wire shape (which Services shard, into how many, and that joining gives the
 * Service back exactly), the client's joining of a delta over what it holds, and end to end a real control
 * plane and a real ztunnel discovery client with the ztunnel's store, whose Service follows pods added,
 * relabelled away and removed while each change costs a fraction of the whole Service's bytes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane } from '../../src/control/control-plane.ts';
import { ControlApiClient } from '../../src/core/control-api/client.ts';
import type { PodInfo } from '../../src/core/control-api/types.ts';
import {
  assembleSnapshot,
  ENDPOINTS_TYPE,
  encodeResource,
  endpointShardCount,
  joinChangedServices,
  type ResourceItem,
  resourceKey,
  SERVICE_TYPE,
  serviceResources,
} from '../../src/core/discovery/resources.ts';
import type { Endpoint, Service } from '../../src/core/model/index.ts';
import { StateStore } from '../../src/ztunnel/state/store.ts';
import { quietLogs } from '../support/logging.ts';
import { syncedZtunnel } from '../support/node-connection.ts';

const uid = (i: number) => `shop/pod-${String(i).padStart(4, '0')}`;
const endpoint = (i: number): Endpoint => ({
  workloadUid: uid(i),
  ip: `10.244.${i >> 8}.${i & 255}`,
  ready: true,
});

function service(count: number, endpoints = Array.from({ length: count }, (_, i) => endpoint(i))): Service {
  return {
    name: 'web',
    namespace: 'shop',
    hostname: 'web.shop.svc.cluster.local',
    vips: ['10.96.0.10'],
    ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP', appProtocol: 'http' }],
    endpoints,
  };
}

const byKey = (items: readonly ResourceItem[]) =>
  new Map(items.map((item) => [resourceKey(item.type, item.name), item]));

describe('endpoint shards: the wire shape', () => {
  it.each([
    ['a small Service travels whole', service(32), 1],
    ['33 endpoints: 4 shards', service(33), 4],
    ['200 endpoints: 16 shards', service(200), 16],
    ['257 endpoints: 32 shards', service(257), 32],
    [
      'endpoints out of uid order (a Service without selector) travel whole',
      service(
        0,
        Array.from({ length: 40 }, (_, i) => endpoint(39 - i)),
      ),
      1,
    ],
  ] as const)('%s', (_what, whole, shards) => {
    expect(endpointShardCount(whole)).toBe(shards);
    const items = serviceResources(whole);
    if (shards === 1) {
      expect(items).toEqual([{ type: SERVICE_TYPE, name: 'shop/web', value: whole }]);
      return;
    }
    expect(items[0]).toEqual({
      type: SERVICE_TYPE,
      name: 'shop/web',
      value: { ...whole, endpoints: [], endpointShards: shards },
    });
    expect(items.slice(1).map((item) => [item.type, item.name])).toEqual(
      Array.from({ length: shards }, (_, i) => [ENDPOINTS_TYPE, `shop/web#${i}`]),
    );
    // A workload's endpoints all go to one shard; every endpoint goes to exactly one.
    const shardOf = new Map<string, string>();
    for (const item of items.slice(1))
      for (const { workloadUid } of (item.value as { endpoints: Endpoint[] }).endpoints) {
        expect(shardOf.get(workloadUid) ?? item.name).toBe(item.name);
        shardOf.set(workloadUid, item.name);
      }
    expect(shardOf.size).toBe(whole.endpoints.length);
    // Joined back, as a waypoint's client assembles its snapshot: the very Service.
    const snapshot = assembleSnapshot('ztunnel', '1', items) as { services: Service[] };
    expect(snapshot.services).toEqual([whole]);
  });

  it('a pod added changes one shard; the spec and the other shards keep their versions', () => {
    const before = byKey(serviceResources(service(200)));
    const after = byKey(serviceResources(service(201)));
    expect([...after.keys()]).toEqual([...before.keys()]);
    const changed = [...after].filter(
      ([key, item]) => encodeResource(item).version !== encodeResource(before.get(key)!).version,
    );
    expect(changed.map(([key]) => key.split('#')[0])).toEqual(['endpoints/shop/web']);
    const wholeBytes = encodeResource({ type: SERVICE_TYPE, name: 'shop/web', value: service(201) }).body
      .length;
    expect(encodeResource(changed[0]![1]).body.length).toBeLessThan(wholeBytes / 8);
  });

  it('the client joins a delta over what it holds into whole Services for its store', () => {
    const held = byKey(serviceResources(service(200)));
    const next = serviceResources(service(201));
    const delta = next.filter(
      (item) =>
        encodeResource(item).version !== encodeResource(held.get(resourceKey(item.type, item.name))!).version,
    );
    const joined = joinChangedServices(delta, [], (key) => held.get(key));
    expect(joined).toEqual({
      changed: [{ type: SERVICE_TYPE, name: 'shop/web', value: service(201) }],
      removed: [],
    });
    // Shrunk back to whole: the spec comes whole and the shards' removals stay with the client.
    const shards = [...held.values()].filter((item) => item.type === ENDPOINTS_TYPE);
    const whole = joinChangedServices(serviceResources(service(20)), shards, (key) => held.get(key));
    expect(whole).toEqual({
      changed: [{ type: SERVICE_TYPE, name: 'shop/web', value: service(20) }],
      removed: [],
    });
    // A shard missing (never sent, or removed): the response is refused, not applied half.
    expect(() => joinChangedServices(delta, [shards[0]!], (key) => held.get(key))).toThrow(
      /shard 0 is missing/,
    );
  });
});

describe('endpoint shards end to end: control plane, discovery client, ztunnel store', () => {
  const state = mkdtempSync(join(tmpdir(), 'ambit-endpoint-shards-'));
  let plane: ControlPlane;
  let api: ControlApiClient;
  let client: Awaited<ReturnType<typeof syncedZtunnel>>;
  const store = new StateStore();
  const pod = (i: number, app = 'web'): PodInfo => ({
    name: `pod-${i}`,
    namespace: 'shop',
    node: `node-${i % 2 === 0 ? 'a' : 'b'}`,
    ips: [`10.244.${i >> 8}.${(i & 255) + 1}`],
    labels: { app },
  });
  const endpointsInStore = () =>
    store.snapshot.services
      .find((candidate) => candidate.name === 'web')
      ?.endpoints.map((e) => e.ip)
      .sort();
  const ipsOf = (indexes: number[]) => indexes.map((i) => pod(i).ips[0]!).sort();
  const pushedBytes = async () =>
    (await plane.metrics.pushBytes.get()).values.reduce((sum, value) => sum + value.value, 0);

  beforeAll(async () => {
    quietLogs();
    plane = await ControlPlane.start({
      stateDir: state,
      listen: '127.0.0.1:0',
      metricsPort: 0,
      debounceMs: 5,
    });
    api = new ControlApiClient([plane.paths.socket], { timeoutMs: 5_000 });
    await api.apply([
      {
        name: 'shop.yaml',
        content:
          'apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {selector: {app: web}, clusterIP: 10.96.0.10, ports: [{name: http, port: 80, targetPort: 8080}]}\n',
      },
    ]);
    client = await syncedZtunnel(plane, state, 'node-a', store);
  });

  afterAll(async () => {
    client?.close();
    await plane?.stop();
    rmSync(state, { recursive: true, force: true });
  });

  it('the store holds the whole Service through pods added, relabelled away and removed', async () => {
    const all = Array.from({ length: 100 }, (_, i) => i);
    for (const node of ['node-a', 'node-b'])
      await api.syncNodePods(
        node,
        all.filter((i) => pod(i).node === node).map((i) => pod(i)),
      );
    await api.awaitPushed(10_000);
    expect(endpointsInStore()).toEqual(ipsOf(all));
    const whole = await pushedBytes();

    const steps: [string, () => Promise<unknown>, number[]][] = [
      ['one pod added', () => api.reportPod(pod(100)), [...all, 100]],
      ['one pod relabelled away', () => api.reportPod(pod(7, 'other')), [...all, 100].filter((i) => i !== 7)],
      ['one pod removed', () => api.removePod('shop', 'pod-100'), all.filter((i) => i !== 7)],
    ];
    for (const [what, run, expected] of steps) {
      const before = await pushedBytes();
      await run();
      expect((await api.awaitPushed(10_000)).timedOut, what).toBe(false);
      expect(endpointsInStore(), what).toEqual(ipsOf(expected));
      // One shard and a workload, not the Service (the first push carried the whole mesh).
      expect((await pushedBytes()) - before, what).toBeLessThan(whole / 10);
    }

    // Shrunk to a few endpoints, the Service travels whole again and the store still has it all.
    const few = [0, 2, 4];
    await api.syncNodePods(
      'node-a',
      few.map((i) => pod(i)),
    );
    await api.syncNodePods('node-b', []);
    await api.awaitPushed(10_000);
    expect(endpointsInStore()).toEqual(ipsOf(few));
  });

  it("a node's own part follows its own pods and the config, whatever changes elsewhere", async () => {
    const own = () =>
      store.snapshot.workloads
        .filter((workload) => workload.node === 'node-a')
        .map((workload) => `${workload.name}:${workload.labels.app ?? ''}`)
        .sort();
    const before = own();
    expect(before.length).toBeGreaterThan(0);
    // A pod of node-b relabelled: node-a's own workloads stay in full.
    await api.reportPod(pod(1, 'elsewhere'));
    expect((await api.awaitPushed(10_000)).timedOut).toBe(false);
    expect(own()).toEqual(before);
    // A pod of node-a relabelled: its full form with the new label.
    await api.reportPod(pod(0, 'moved'));
    expect((await api.awaitPushed(10_000)).timedOut).toBe(false);
    expect(own()).toEqual(before.map((entry) => (entry.startsWith('pod-0:') ? 'pod-0:moved' : entry)));
    // A policy (a config change) that applies to node-a's pods reaches its ztunnel.
    await api.apply([
      {
        name: 'policy.yaml',
        content:
          'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: deny-moved, namespace: shop}\nspec: {selector: {matchLabels: {app: moved}}, action: DENY, rules: [{}]}\n',
      },
    ]);
    expect((await api.awaitPushed(10_000)).timedOut).toBe(false);
    expect(store.snapshot.policies.map((policy) => policy.name)).toContain('deny-moved');
  });
});
