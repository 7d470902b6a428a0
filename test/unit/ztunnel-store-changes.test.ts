/**
 * The ztunnel's store fed deltas (`applyChanges`, what the discovery client does) answers every question as
 * a store given the whole resulting snapshot at once does, after seeded random sequences of workload,
 * service, policy and PeerAuthentication changes; and a refused delta changes nothing.
 */
import { describe, expect, it } from 'vitest';
import type { NodeSnapshotChanges } from '../../src/core/discovery/resources.ts';
import type {
  L4Policy,
  NodeSnapshot,
  PeerAuthPolicy,
  Service,
  Workload,
} from '../../src/core/model/index.ts';
import { StateStore } from '../../src/ztunnel/state/store.ts';
import { peerAuth, policy, service, workload } from '../support/mesh-fixtures.ts';
import { seededRandom } from '../support/seeded-random.ts';

interface World {
  workloads: Map<string, Workload>;
  services: Map<string, Service>;
  policies: Map<string, L4Policy>;
  peerAuthentications: Map<string, PeerAuthPolicy>;
}

const APPS = ['a', 'b', 'c'];
const NODES = ['node-a', 'node-b'];

function snapshotOf(world: World, version: string): NodeSnapshot {
  return {
    version,
    workloads: [...world.workloads.values()],
    services: [...world.services.values()],
    policies: [...world.policies.values()],
    peerAuthentications: [...world.peerAuthentications.values()],
    trustBundle: [],
  };
}

const byName =
  <T>(key: (item: T) => string) =>
  (a: T, b: T) =>
    key(a) < key(b) ? -1 : 1;
const namespaced = (item: { namespace: string; name: string }) => `${item.namespace}/${item.name}`;

function inNameOrder(snapshot: NodeSnapshot): NodeSnapshot {
  return {
    ...snapshot,
    workloads: [...snapshot.workloads].sort(byName((w) => w.uid)),
    services: [...snapshot.services].sort(byName(namespaced)),
    policies: [...snapshot.policies].sort(byName(namespaced)),
    peerAuthentications: [...snapshot.peerAuthentications].sort(byName(namespaced)),
  };
}

const noChanges = (version: string): NodeSnapshotChanges => ({
  version,
  workloads: { set: [], removed: [] },
  services: { set: [], removed: [] },
  policies: { set: [], removed: [] },
  peerAuthentications: { set: [], removed: [] },
});

/** A random delta of a few changes, applied to `world` as well. */
function randomChanges(world: World, next: () => number, version: string): NodeSnapshotChanges {
  const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!;
  const changes = noChanges(version);
  for (let n = 1 + Math.floor(next() * 3); n > 0; n--) {
    const roll = next();
    if (roll < 0.4) {
      // Pods keep their IP by index: IPs (and VIPs, hostnames) are unique, as the control plane makes them.
      const i = Math.floor(next() * 12);
      const uid = `default/pod-${i}`;
      if (changes.workloads.set.some((w) => w.uid === uid) || changes.workloads.removed.includes(uid))
        continue;
      if (world.workloads.has(uid) && next() < 0.3) {
        world.workloads.delete(uid);
        changes.workloads.removed.push(uid);
      } else {
        const app = pick(APPS);
        const bound = next() < 0.3 ? { waypoint: { name: 'wp', namespace: 'default' } } : {};
        const made = workload({
          name: `pod-${i}`,
          node: pick(NODES),
          ips: [`10.244.0.${i + 1}`],
          labels: { app },
          ...bound,
        });
        world.workloads.set(uid, made);
        changes.workloads.set.push(made);
      }
    } else if (roll < 0.75) {
      const i = Math.floor(next() * 4);
      const name = i === 3 ? 'wp' : `svc-${i}`;
      const key = `default/${name}`;
      if (changes.services.set.some((s) => s.name === name) || changes.services.removed.includes(key))
        continue;
      if (world.services.has(key) && next() < 0.3) {
        world.services.delete(key);
        changes.services.removed.push(key);
      } else {
        const app = pick(APPS);
        const endpoints = [...world.workloads.values()]
          .filter((w) => w.labels.app === app)
          .map((w) => ({ workloadUid: w.uid, ip: w.ips[0]!, ready: next() < 0.8 }));
        const made = service({
          name,
          vips: [`10.96.0.${i + 1}`],
          endpoints,
          ...(i === 1 ? { waypoint: { name: 'wp', namespace: 'default' } } : {}),
          ...(i === 2
            ? { serviceEntry: { ranges: [`192.0.2.${i * 16}/28`] } as Service['serviceEntry'] }
            : {}),
        });
        world.services.set(key, made);
        changes.services.set.push(made);
      }
    } else if (roll < 0.9) {
      const name = `p-${Math.floor(next() * 3)}`;
      const key = `default/${name}`;
      if (changes.policies.set.some((p) => p.name === name) || changes.policies.removed.includes(key))
        continue;
      if (world.policies.has(key) && next() < 0.4) {
        world.policies.delete(key);
        changes.policies.removed.push(key);
      } else {
        const made = policy({ name, scope: 'workload', selector: { app: pick(APPS) } });
        world.policies.set(key, made);
        changes.policies.set.push(made);
      }
    } else {
      const key = 'default/strict';
      if (changes.peerAuthentications.set.length + changes.peerAuthentications.removed.length > 0) continue;
      if (world.peerAuthentications.has(key)) {
        world.peerAuthentications.delete(key);
        changes.peerAuthentications.removed.push(key);
      } else {
        const made = peerAuth({ name: 'strict', mode: pick(['STRICT', 'PERMISSIVE'] as const) });
        world.peerAuthentications.set(key, made);
        changes.peerAuthentications.set.push(made);
      }
    }
  }
  return changes;
}

/** Every question the data path asks, over every workload, service and address of the world. */
function answers(store: StateStore, world: World) {
  const workloads = [...world.workloads.values()];
  const wp = { name: 'wp', namespace: 'default' };
  return {
    snapshot: store.snapshot,
    byIp: Array.from({ length: 12 }, (_, i) => store.workloadByIp(`10.244.0.${i + 1}`)?.uid),
    byVip: Array.from({ length: 4 }, (_, i) => store.serviceByVip(`10.96.0.${i + 1}`)?.name),
    byHostname: Array.from(
      { length: 3 },
      (_, i) => store.serviceByHostname(`svc-${i}.default.svc.cluster.local`)?.name,
    ),
    byRange: store.serviceEntryByRange('192.0.2.33')?.name,
    onNode: NODES.map((node) => store.workloadsOnNode(node).map((w) => w.uid)),
    waypoint: store.waypointService(wp)?.name,
    perWorkload: workloads.map((w) => ({
      policies: store.policiesFor(w).map((p) => p.name),
      mtls: store.mtlsMode(w, 8080),
      waypointFor: workloads.map((peer) => store.isWaypointFor(peer, w)),
      bypassed: store.bypassedWaypoint(workloads[0], w, 8080)?.name,
    })),
  };
}

describe('the ztunnel store fed deltas', () => {
  it.each([1, 2, 3, 4, 5, 6])('answers as a store given the whole snapshot (seed %i)', (seed) => {
    const next = seededRandom(seed);
    const world: World = {
      workloads: new Map(),
      services: new Map(),
      policies: new Map(),
      peerAuthentications: new Map(),
    };
    const incremental = new StateStore();
    const steps: string[] = [];
    for (let step = 1; step <= 80; step++) {
      const changes = randomChanges(world, next, String(step));
      steps.push(JSON.stringify([changes.workloads.removed, changes.services.removed]));
      incremental.applyChanges(changes);
      const full = new StateStore();
      full.apply(snapshotOf(world, String(step)));
      // Ask the incremental store first: its lazy answers must not depend on having been asked before.
      expect(answers(incremental, world), `seed ${seed}, step ${step}`).toEqual(answers(full, world));
      // And both hold the world itself, in name order.
      expect(incremental.snapshot).toEqual(inNameOrder(snapshotOf(world, String(step))));
    }
  });

  it('refuses a delta with a malformed resource and keeps everything it held', () => {
    const store = new StateStore();
    const app = workload({ name: 'app', ips: ['10.244.0.1'] });
    store.applyChanges({ ...noChanges('1'), workloads: { set: [app], removed: [] } });
    const bad = workload({ name: 'bad', ips: ['not-an-ip'] });
    expect(() =>
      store.applyChanges({ ...noChanges('2'), workloads: { set: [bad], removed: ['default/app'] } }),
    ).toThrow('workload default/bad.ips[0]: "not-an-ip" is not an IP address');
    expect(store.version).toBe('1');
    expect(store.workloadByIp('10.244.0.1')).toBe(app);
    expect(store.snapshot.workloads).toEqual([app]);
  });

  it('tells listeners the version of each accepted delta, and only those', () => {
    const store = new StateStore();
    const seen: string[] = [];
    store.subscribe((version) => seen.push(version));
    store.applyChanges(noChanges('1'));
    expect(() =>
      store.applyChanges({
        ...noChanges('2'),
        workloads: { set: [workload({ name: 'x', identity: 'nope' })], removed: [] },
      }),
    ).toThrow('is not a SPIFFE workload identity');
    store.applyChanges(noChanges('3'));
    expect(seen).toEqual(['1', '3']);
  });
});
