/**
 * The model rebuilt with the previous build's memo equals a build from scratch after any sequence of changes
 * (seeded random sequences of pod, namespace, Service and waypoint changes), and hands back the very objects
 * of what a change did not touch, so that their encodings are reused downstream.
 */
import { describe, expect, it } from 'vitest';
import { Memo } from '../../src/control/model/memo.ts';
import { buildMesh, type Mesh, MeshMemo } from '../../src/control/model/mesh.ts';
import type { Resource } from '../../src/core/config/resource.ts';
import {
  APPS,
  changeWorld,
  type MeshWorld,
  meshWorld,
  resourcesOf,
  worldInputs,
  worldPod,
} from '../support/mesh-world.ts';
import { seededRandom } from '../support/seeded-random.ts';

function build(world: MeshWorld, resources: Resource[], memo?: MeshMemo): Mesh {
  return buildMesh(worldInputs(world, resources), memo);
}

describe('the memoized model', () => {
  it.each([1, 2, 3, 4])('equals a build from scratch after random changes (seed %i)', (seed) => {
    const next = seededRandom(seed);
    const counter = { pods: 0 };
    const world = meshWorld();
    for (let i = 0; i < 12; i++) changeWorld(world, next, counter);
    const memo = new MeshMemo();
    const steps: string[] = [];
    for (let step = 0; step < 40; step++) {
      steps.push(changeWorld(world, next, counter));
      const resources = resourcesOf(world);
      expect(build(world, resources, memo), steps.join(' -> ')).toEqual(build(world, resources));
    }
  });

  it('hands back the same objects for what a change did not touch', () => {
    const world = meshWorld(
      [0, 1, 2, 3].map((i) => worldPod(i, { app: APPS[i % 2]! })),
      ['a', 'b'],
    );
    const memo = new MeshMemo();
    const before = build(world, resourcesOf(world), memo);
    world.pods.set('pod-1', worldPod(1, { app: 'b', version: 'v2' }));
    const after = build(world, resourcesOf(world), memo);
    const byUid = (mesh: Mesh, i: number) =>
      mesh.workloads.find((workload) => workload.uid === worldPod(i, {}).uid);
    const byName = (mesh: Mesh, name: string) => mesh.services.find((service) => service.name === name);
    // pod-1 (app b) changed: its workload and svc-1 (selects b) are new; the rest are the objects of before.
    expect(byUid(after, 1)).not.toBe(byUid(before, 1));
    expect(byName(after, 'svc-1')).not.toBe(byName(before, 'svc-1'));
    for (const i of [0, 2, 3]) expect(byUid(after, i)).toBe(byUid(before, i));
    expect(byName(after, 'svc-0')).toBe(byName(before, 'svc-0'));
    // A namespace label reaches every workload of the namespace.
    world.nsLabels = { 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'wp' };
    const relabelled = build(world, resourcesOf(world), memo);
    for (const i of [0, 2]) expect(byUid(relabelled, i)).not.toBe(byUid(after, i));
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
