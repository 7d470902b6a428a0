/**
 * The model rebuilt with the previous build's memo equals a build from scratch after any sequence of changes
 * (seeded random sequences of pod, namespace, Service and waypoint changes), and hands back the very objects
 * of what a change did not touch, so that their encodings are reused downstream.
 */
import { describe, expect, it } from 'vitest';
import { parseFiles } from '../../src/control/config/parse.ts';
import { CONTROL_KINDS } from '../../src/control/kinds.ts';
import { Memo } from '../../src/control/model/memo.ts';
import { buildMesh, type Mesh, MeshMemo } from '../../src/control/model/mesh.ts';
import type { PodRecord } from '../../src/control/pods/pod-source.ts';
import type { Resource } from '../../src/core/config/resource.ts';
import { seededRandom } from '../support/seeded-random.ts';

interface World {
  pods: Map<string, PodRecord>;
  nsLabels: Record<string, string>;
  selectors: string[];
  waypoint: boolean;
}

function resourcesOf(world: World): Resource[] {
  const labels = Object.entries(world.nsLabels)
    .map(([key, value]) => `${key}: ${value}`)
    .join(', ');
  const yaml = [
    `apiVersion: v1\nkind: Namespace\nmetadata: {name: apps, labels: {${labels}}}`,
    ...world.selectors.map(
      (app, i) =>
        `apiVersion: v1\nkind: Service\nmetadata: {name: svc-${i}, namespace: apps}\nspec: {selector: {app: ${app}}, clusterIP: 10.96.0.${i + 1}, ports: [{name: http, port: 80, targetPort: 8080}]}`,
    ),
    ...(world.waypoint
      ? [
          'apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: wp, namespace: apps}\nspec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}',
        ]
      : []),
  ].join('\n---\n');
  const parsed = parseFiles([{ name: 'world.yaml', content: yaml }], CONTROL_KINDS);
  expect(parsed.issues.filter((issue) => issue.severity === 'error')).toEqual([]);
  return parsed.resources;
}

function pod(i: number, app: string, extra: Record<string, string> = {}): PodRecord {
  return {
    uid: `apps/pod-${i}`,
    name: `pod-${i}`,
    namespace: 'apps',
    node: `node-${i % 3}`,
    ips: [`10.244.0.${i + 1}`],
    serviceAccount: `sa-${i % 4}`,
    labels: { app, ...extra },
    ready: true,
    ports: [],
  };
}

const APPS = ['a', 'b', 'c', 'd'];

/** One random change of the world, named for the failure message. */
function change(world: World, next: () => number, counter: { pods: number }): string {
  const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!;
  const keys = [...world.pods.keys()];
  const roll = next();
  if (roll < 0.25 || keys.length === 0) {
    const i = counter.pods++;
    world.pods.set(`apps/pod-${i}`, pod(i, pick(APPS)));
    return `add pod-${i}`;
  }
  if (roll < 0.45) {
    const key = pick(keys);
    world.pods.delete(key);
    return `remove ${key}`;
  }
  if (roll < 0.7) {
    const key = pick(keys);
    const old = world.pods.get(key)!;
    const labels: Record<string, string> =
      next() < 0.5 ? { app: pick(APPS) } : { ...old.labels, version: `v${counter.pods}` };
    world.pods.set(key, { ...old, labels, ready: next() < 0.8 });
    return `relabel ${key}`;
  }
  if (roll < 0.8) {
    world.nsLabels =
      next() < 0.5
        ? { 'istio.io/dataplane-mode': 'ambient' }
        : { 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'wp' };
    return `namespace labels ${JSON.stringify(world.nsLabels)}`;
  }
  if (roll < 0.9) {
    const at = Math.floor(next() * world.selectors.length);
    world.selectors[at] = pick(APPS);
    return `service svc-${at} selects ${world.selectors[at]}`;
  }
  world.waypoint = !world.waypoint;
  return world.waypoint ? 'waypoint declared' : 'waypoint removed';
}

function build(world: World, resources: Resource[], memo?: MeshMemo): Mesh {
  return buildMesh(
    { resources, pods: [...world.pods.values()], trustDomain: 'cluster.local', trustBundle: [] },
    memo,
  );
}

describe('the memoized model', () => {
  it.each([1, 2, 3, 4])('equals a build from scratch after random changes (seed %i)', (seed) => {
    const next = seededRandom(seed);
    const counter = { pods: 0 };
    const world: World = {
      pods: new Map(),
      nsLabels: { 'istio.io/dataplane-mode': 'ambient' },
      selectors: ['a', 'b', 'c'],
      waypoint: false,
    };
    for (let i = 0; i < 12; i++) change(world, next, counter);
    const memo = new MeshMemo();
    const steps: string[] = [];
    for (let step = 0; step < 40; step++) {
      steps.push(change(world, next, counter));
      const resources = resourcesOf(world);
      expect(build(world, resources, memo), steps.join(' -> ')).toEqual(build(world, resources));
    }
  });

  it('hands back the same objects for what a change did not touch', () => {
    const world: World = {
      pods: new Map([0, 1, 2, 3].map((i) => [`apps/pod-${i}`, pod(i, APPS[i % 2]!)])),
      nsLabels: { 'istio.io/dataplane-mode': 'ambient' },
      selectors: ['a', 'b'],
      waypoint: false,
    };
    const memo = new MeshMemo();
    const before = build(world, resourcesOf(world), memo);
    world.pods.set('apps/pod-1', pod(1, 'b', { version: 'v2' }));
    const after = build(world, resourcesOf(world), memo);
    const byUid = (mesh: Mesh, uid: string) => mesh.workloads.find((workload) => workload.uid === uid);
    const byName = (mesh: Mesh, name: string) => mesh.services.find((service) => service.name === name);
    // pod-1 (app b) changed: its workload and svc-1 (selects b) are new; the rest are the objects of before.
    expect(byUid(after, 'apps/pod-1')).not.toBe(byUid(before, 'apps/pod-1'));
    expect(byName(after, 'svc-1')).not.toBe(byName(before, 'svc-1'));
    for (const uid of ['apps/pod-0', 'apps/pod-2', 'apps/pod-3'])
      expect(byUid(after, uid)).toBe(byUid(before, uid));
    expect(byName(after, 'svc-0')).toBe(byName(before, 'svc-0'));
    // A namespace label reaches every workload of the namespace.
    world.nsLabels = { 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'wp' };
    const relabelled = build(world, resourcesOf(world), memo);
    for (const uid of ['apps/pod-0', 'apps/pod-2'])
      expect(byUid(relabelled, uid)).not.toBe(byUid(after, uid));
  });
});

describe('Memo', () => {
  it.each([
    ['same inputs', ['x', 1], ['x', 1], false],
    ['a changed input', ['x', 1], ['x', 2], true],
    ['an input more', ['x'], ['x', 1], true],
    ['an equal but new object', [{ a: 1 }], [{ a: 1 }], true],
  ] as const)('rebuilds on %s: %j then %j -> %s', (_, first, second, rebuilt) => {
    const memo = new Memo<object>();
    memo.nextRound();
    const one = memo.get('k', first, () => ({}));
    memo.nextRound();
    const two = memo.get('k', second, () => ({}));
    expect(two !== one).toBe(rebuilt);
  });

  it('forgets what a round did not ask for', () => {
    const memo = new Memo<object>();
    memo.nextRound();
    const kept = memo.get('k', [1], () => ({}));
    memo.nextRound();
    memo.nextRound();
    expect(memo.get('k', [1], () => ({}))).not.toBe(kept);
  });
});
