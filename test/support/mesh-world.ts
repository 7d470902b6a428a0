/**
 * A small mesh that changes at random (seeded), for the tests that hold a memoized or incremental model
 * equal to a full build: pods added, removed, relabelled, moved and reported in batches, waypoint instances
 * among them, and config changes (namespace labels, a Service's selector, a waypoint, a ServiceEntry).
 */
import { expect } from 'vitest';
import { parseFiles } from '../../src/control/config/parse.ts';
import { CONTROL_KINDS } from '../../src/control/kinds.ts';
import type { MeshInputs } from '../../src/control/model/mesh.ts';
import type { PodRecord } from '../../src/control/pods/pod-source.ts';
import type { Resource } from '../../src/core/config/resource.ts';
import { GATEWAY_NAME_LABEL } from '../../src/core/labels.ts';

export interface MeshWorld {
  /** In report order (a changed pod keeps its place, a new one goes last), as a pod source lists them. */
  pods: Map<string, PodRecord>;
  nsLabels: Record<string, string>;
  selectors: string[];
  waypoint: boolean;
  serviceEntry: boolean;
  /** A ServiceEntry whose workloadSelector has no labels (every pod of its namespace), apart. */
  allPodsEntry: boolean;
}

export const APPS = ['a', 'b', 'c', 'd'];

export function meshWorld(pods: PodRecord[] = [], selectors = ['a', 'b', 'c']): MeshWorld {
  return {
    pods: new Map(pods.map((pod) => [pod.name, pod])),
    nsLabels: { 'istio.io/dataplane-mode': 'ambient' },
    selectors,
    waypoint: false,
    serviceEntry: false,
    allPodsEntry: false,
  };
}

export function resourcesOf(world: MeshWorld): Resource[] {
  const labels = Object.entries(world.nsLabels)
    .map(([key, value]) => `${key}: ${value}`)
    .join(', ');
  const yaml = [
    `apiVersion: v1\nkind: Namespace\nmetadata: {name: apps, labels: {${labels}}}`,
    ...world.selectors.map(
      (app, i) =>
        `apiVersion: v1\nkind: Service\nmetadata: {name: svc-${i}, namespace: apps}\nspec: {selector: {app: ${app}}, clusterIP: 10.96.0.${i + 1}, ports: [{name: http, port: 80, targetPort: web}]}`,
    ),
    'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: deny-b, namespace: apps}\nspec: {selector: {matchLabels: {app: b}}, action: DENY, rules: [{to: [{operation: {ports: ["9"]}}]}]}',
    ...(world.waypoint
      ? [
          'apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: wp, namespace: apps}\nspec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}',
        ]
      : []),
    ...(world.serviceEntry
      ? [
          'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: vms, namespace: apps}\nspec: {hosts: [vms.apps.internal], location: MESH_INTERNAL, resolution: STATIC, ports: [{number: 80, name: http, protocol: HTTP}], workloadSelector: {labels: {app: c}}}',
          // Endpoints at pods' addresses (pod-2's, pod-5's) and at one no pod has.
          'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: at-pods, namespace: apps}\nspec: {hosts: [at-pods.apps.internal], location: MESH_INTERNAL, resolution: STATIC, ports: [{number: 80, name: http, protocol: HTTP}], endpoints: [{address: 10.244.0.3}, {address: 10.244.0.6}, {address: 10.250.0.1}]}',
        ]
      : []),
    ...(world.allPodsEntry
      ? [
          'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: all-pods, namespace: apps}\nspec: {hosts: [all.apps.internal], location: MESH_INTERNAL, resolution: STATIC, ports: [{number: 80, name: http, protocol: HTTP}], workloadSelector: {labels: {}}}',
        ]
      : []),
  ].join('\n---\n');
  const parsed = parseFiles([{ name: 'world.yaml', content: yaml }], CONTROL_KINDS);
  expect(parsed.issues.filter((issue) => issue.severity === 'error')).toEqual([]);
  return parsed.resources;
}

export function worldPod(
  i: number,
  labels: Record<string, string>,
  node = `node-${i % 3}`,
  ready = true,
): PodRecord {
  return {
    // Not in the order of i: the model's order (uid) is not the report order.
    uid: `uid-${(i * 7919) % 1000}-${i}`,
    name: `pod-${i}`,
    namespace: 'apps',
    node,
    ips: [`10.244.${Math.floor(i / 250)}.${(i % 250) + 1}`],
    serviceAccount: `sa-${i % 4}`,
    labels,
    ready,
    ports: i % 2 === 0 ? [{ name: 'web', containerPort: 8000 + i, protocol: 'TCP' }] : [],
  };
}

/** Whether a change named by `change` touched pods only (the config's resources are then the same). */
export const podsOnly = (described: string) => /^(add|remove|relabel|ready|batch)/.test(described);

/** One random change of the world, named for the failure message. */
export function changeWorld(world: MeshWorld, next: () => number, counter: { pods: number }): string {
  const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!;
  const keys = [...world.pods.keys()];
  const roll = next();
  if (roll < 0.25 || keys.length === 0) {
    const i = counter.pods++;
    const labels: Record<string, string> =
      next() < 0.15 ? { [GATEWAY_NAME_LABEL]: 'wp' } : { app: pick(APPS) };
    world.pods.set(`pod-${i}`, worldPod(i, labels));
    return `add pod-${i}`;
  }
  if (roll < 0.42) {
    const key = pick(keys);
    world.pods.delete(key);
    return `remove ${key}`;
  }
  if (roll < 0.57) {
    const key = pick(keys);
    const old = world.pods.get(key)!;
    const labels: Record<string, string> =
      next() < 0.5 ? { app: pick(APPS) } : { ...old.labels, version: `v${counter.pods}` };
    world.pods.set(key, { ...old, labels });
    return `relabel ${key}`;
  }
  if (roll < 0.67) {
    const key = pick(keys);
    const old = world.pods.get(key)!;
    world.pods.set(key, { ...old, ready: !old.ready, node: pick(['node-0', 'node-1', 'node-2']) });
    return `ready/node of ${key}`;
  }
  if (roll < 0.75) {
    // Several pods at once, as a node's resync reports them.
    const touched = keys.filter(() => next() < 0.3);
    for (const key of touched) {
      const old = world.pods.get(key)!;
      world.pods.set(key, { ...old, labels: { ...old.labels, batch: `${counter.pods}` } });
    }
    return `batch of ${touched.length}`;
  }
  if (roll < 0.82) {
    world.nsLabels =
      next() < 0.5
        ? { 'istio.io/dataplane-mode': 'ambient' }
        : { 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'wp' };
    return `namespace labels ${JSON.stringify(world.nsLabels)}`;
  }
  if (roll < 0.89) {
    const at = Math.floor(next() * world.selectors.length);
    world.selectors[at] = pick(APPS);
    return `service svc-${at} selects ${world.selectors[at]}`;
  }
  if (roll < 0.95) {
    world.waypoint = !world.waypoint;
    return world.waypoint ? 'waypoint declared' : 'waypoint removed';
  }
  if (roll < 0.975) {
    world.serviceEntry = !world.serviceEntry;
    return world.serviceEntry ? 'service entries added' : 'service entries removed';
  }
  world.allPodsEntry = !world.allPodsEntry;
  return world.allPodsEntry ? 'all-pods entry added' : 'all-pods entry removed';
}

export function worldInputs(world: MeshWorld, resources: Resource[]): MeshInputs {
  return {
    resources,
    pods: [...world.pods.values()],
    trustDomain: 'cluster.local',
    trustBundle: ['root'],
  };
}
