/**
 * When an object the waypoint controller deployed counts as changed by hand: a rendered field missing or
 * different, arrays element by element; what the API server or other controllers add is not drift, and
 * neither is a Deployment's scale.
 */
import { describe, expect, it } from 'vitest';
import { covers, drifted } from '../../src/kube/waypoints/drift.ts';
import { waypointObjects } from '../../src/kube/waypoints/render.ts';

describe('covers', () => {
  it.each<[string, unknown, unknown, boolean]>([
    ['equal scalars', 1, 1, true],
    ['other scalars', 1, 2, false],
    ['a number and its string', '1', 1, false],
    ['extra fields in the live object', { a: 1, b: 2 }, { a: 1 }, true],
    ['a missing field', { b: 2 }, { a: 1 }, false],
    ['an undefined rendered field is not asked', {}, { a: undefined }, true],
    ['nested extra fields', { a: { b: 1, c: 2 } }, { a: { b: 1 } }, true],
    ['arrays element by element, each with extras', [{ a: 1, x: 0 }, { a: 2 }], [{ a: 1 }, { a: 2 }], true],
    ['an array one longer', [{ a: 1 }, { a: 2 }], [{ a: 1 }], false],
    ['an array one shorter', [{ a: 1 }], [{ a: 1 }, { a: 2 }], false],
    ['an array in another order', [{ a: 2 }, { a: 1 }], [{ a: 1 }, { a: 2 }], false],
    ['an object where an array was', { 0: 'a' }, ['a'], false],
    ['an array where an object was', ['a'], { 0: 'a' }, false],
    ['null where an object was', null, { a: 1 }, false],
  ])('%s -> %s', (_, live, rendered, expected) => {
    expect(covers(live, rendered)).toBe(expected);
  });
});

describe('drifted', () => {
  const objects = waypointObjects(
    { name: 'waypoint', namespace: 'shop', uid: 'gw-uid' },
    {
      image: 'ambit:test',
      control: 'ambit-control.ambit-system.svc:15012',
      trustDomain: 'cluster.local',
      rootCertPem: 'root',
    },
  );
  const deployment = objects.find((o) => o.kind === 'Deployment')!;
  const service = objects.find((o) => o.kind === 'Service')!;
  /** Both kinds' fields the cases touch (a Service has no template: the cases for it do not touch one). */
  interface LiveCopy {
    kind: string;
    metadata: {
      uid?: string;
      resourceVersion?: string;
      labels: Record<string, string>;
      ownerReferences?: unknown;
    };
    spec: {
      replicas?: number;
      strategy?: unknown;
      clusterIP?: string;
      selector?: Record<string, string>;
      ports: Array<{ port: number }>;
      template: {
        spec: {
          containers: Array<{ name: string; image: string; args?: string[]; imagePullPolicy?: string }>;
        };
      };
    };
  }
  /** The object as an API server returns it: our fields plus its own. */
  const live = (object: (typeof objects)[number], change: (copy: LiveCopy) => void = () => {}) => {
    const copy = structuredClone(object) as unknown as LiveCopy;
    copy.metadata.uid = 'live-uid';
    copy.metadata.resourceVersion = '42';
    copy.metadata.labels['other.example/added'] = 'by another controller';
    if (copy.kind === 'Service') copy.spec.clusterIP = '10.96.0.9';
    if (copy.kind === 'Deployment') {
      copy.spec.strategy = { type: 'RollingUpdate' };
      copy.spec.template.spec.containers[0]!.imagePullPolicy = 'IfNotPresent';
    }
    change(copy);
    return copy;
  };

  it.each<[string, (typeof objects)[number], (copy: LiveCopy) => void, boolean]>([
    ['as applied, with what the server added', deployment, () => {}, false],
    ['scaled by hand', deployment, (d) => (d.spec.replicas = 3), false],
    ['another image', deployment, (d) => (d.spec.template.spec.containers[0]!.image = 'evil:1'), true],
    ['an argument removed', deployment, (d) => d.spec.template.spec.containers[0]!.args!.pop(), true],
    [
      'a sidecar added',
      deployment,
      (d) => d.spec.template.spec.containers.push({ name: 'x', image: 'x' }),
      true,
    ],
    [
      'its managed label removed',
      deployment,
      (d) => delete d.metadata.labels['gateway.istio.io/managed'],
      true,
    ],
    ['its owner reference removed', deployment, (d) => delete d.metadata.ownerReferences, true],
    ['a Service with its cluster IP', service, () => {}, false],
    ['a Service whose selector was edited', service, (s) => (s.spec.selector = { app: 'other' }), true],
    ['a Service with a port changed', service, (s) => (s.spec.ports[1]!.port = 8080), true],
  ])('%s -> %s', (_, object, change, expected) => {
    expect(drifted(object, live(object, change))).toBe(expected);
  });
});
