/**
 * The incremental model (`model/incremental.ts`) equals a full build after any sequence of changes (seeded
 * random sequences of pod changes, with config changes among them), tells every object that changed and
 * nothing else, and hands back the very objects a pod change did not touch, policies included.
 */
import { describe, expect, it } from 'vitest';
import { IncrementalMesh, type MeshUpdate } from '../../src/control/model/incremental.ts';
import { buildMesh, type Mesh, serviceKey } from '../../src/control/model/mesh.ts';
import {
  APPS,
  changeWorld,
  meshWorld,
  podsOnly,
  resourcesOf,
  worldInputs,
  worldPod,
} from '../support/mesh-world.ts';
import { seededRandom } from '../support/seeded-random.ts';

/**
 * What the update says changed is exactly what did: every workload and Service whose object differs from
 * the previous mesh's is in the changes with its new object (or undefined when gone), and nothing else is.
 */
function expectChangesTold(before: Mesh, update: MeshUpdate, steps: string): void {
  const { mesh, changes } = update;
  expect(changes, steps).toBeDefined();
  for (const [list, told, keyOf] of [
    [[before.workloads, mesh.workloads], changes!.workloads, (item: { uid: string }) => item.uid] as const,
    [[before.services, mesh.services], changes!.services, serviceKey] as const,
  ]) {
    const was = new Map<string, unknown>(list[0].map((item) => [keyOf(item as never), item]));
    const now = new Map<string, unknown>(list[1].map((item) => [keyOf(item as never), item]));
    const differing = [...new Set([...was.keys(), ...now.keys()])].filter(
      (key) => was.get(key) !== now.get(key),
    );
    expect([...told.keys()].filter((key) => was.get(key) !== now.get(key)).sort(), steps).toEqual(
      differing.sort(),
    );
    for (const key of differing) expect(told.get(key), `${steps}: ${key}`).toBe(now.get(key));
  }
  if (!changes!.config) expect(mesh.policies, steps).toBe(before.policies);
}

describe('the incremental model', () => {
  it.each([1, 2, 3, 4, 5, 6])(
    'equals a full build after random changes, and tells them (seed %i)',
    (seed) => {
      const next = seededRandom(seed);
      const counter = { pods: 0 };
      const world = { ...meshWorld(), waypoint: true };
      for (let i = 0; i < 15; i++) changeWorld(world, next, counter);
      const model = new IncrementalMesh();
      let resources = resourcesOf(world);
      let before = model.update(worldInputs(world, resources)).mesh;
      const steps: string[] = [];
      for (let step = 0; step < 60; step++) {
        const described = changeWorld(world, next, counter);
        steps.push(described);
        // Config is parsed again only when it changed, as the store hands back the same resources otherwise.
        if (!podsOnly(described)) resources = resourcesOf(world);
        const update = model.update(worldInputs(world, resources));
        const trail = steps.join(' -> ');
        expect(update.mesh, trail).toEqual(buildMesh(worldInputs(world, resources)));
        expectChangesTold(before, update, trail);
        before = update.mesh;
      }
    },
  );

  it('a pod change rebuilds its workload and the Services that select it, and nothing else', () => {
    const world = meshWorld(
      [0, 1, 2, 3].map((i) => worldPod(i, { app: APPS[i % 2]! })),
      ['a', 'b'],
    );
    const model = new IncrementalMesh();
    const resources = resourcesOf(world);
    const before = model.update(worldInputs(world, resources)).mesh;
    world.pods.set('pod-1', worldPod(1, { app: 'b', version: 'v2' }));
    const { mesh, changes } = model.update(worldInputs(world, resources));
    expect([...changes!.workloads.keys()]).toEqual([worldPod(1, {}).uid]);
    expect([...changes!.services.keys()]).toEqual(['apps/svc-1']);
    expect([...changes!.nodes]).toEqual(['node-1']);
    expect(changes!.config).toBe(false);
    expect(mesh.policies).toBe(before.policies);
    expect(mesh.services.find((s) => s.name === 'svc-0')).toBe(
      before.services.find((s) => s.name === 'svc-0'),
    );
    // Nothing changed: nothing told, the same mesh.
    const again = model.update(worldInputs(world, resources));
    expect(again.mesh).toBe(mesh);
    expect(again.changes!.workloads.size + again.changes!.services.size).toBe(0);
  });

  it('a config change keeps the policies whose resources did not change', () => {
    const world = meshWorld([worldPod(0, { app: 'b' })], ['a']);
    const model = new IncrementalMesh();
    const resources = resourcesOf(world);
    const before = model.update(worldInputs(world, resources)).mesh;
    // The same policy resource object, another Service.
    const service = resourcesOf({ ...world, selectors: ['a', 'b'] }).find(
      (resource) => resource.metadata.name === 'svc-1',
    )!;
    const { mesh, changes } = model.update(worldInputs(world, [...resources, service]));
    expect(changes!.config).toBe(true);
    expect([...changes!.services.keys()]).toEqual(['apps/svc-1']);
    expect(mesh.policies[0]).toBe(before.policies[0]);
  });
});
