/**
 * Discovery as data: how snapshots become versioned resources and back, and how the control plane tracks
 * what each client holds (incremental pushes, one response in flight, ACK, NACK, resync after reconnect).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import {
  compareResourceSets,
  resourceBlocks,
  SharedGeneration,
} from '../../src/control/discovery/generation.ts';
import {
  type PushResponse,
  type SubscriberView,
  Subscription,
} from '../../src/control/discovery/subscription.ts';
import { buildMesh } from '../../src/control/model/mesh.ts';
import { ztunnelView } from '../../src/control/model/views.ts';
import type { PodRecord } from '../../src/control/pods/pod-source.ts';
import type { Resource } from '../../src/core/config/resource.ts';
import {
  assembleSnapshot,
  decodeResource,
  type EncodedResource,
  encodeResource,
  ResourceError,
  resourceKey,
  snapshotResources,
} from '../../src/core/discovery/resources.ts';
import type { NodeSnapshot } from '../../src/core/model/index.ts';

const ROOT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

function meshOf(pods: PodRecord[], services: number) {
  const resources: Resource[] = Array.from({ length: services }, (_, i) => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: `svc-${i}`, namespace: 'default', labels: {}, annotations: {} },
    spec: {
      selector: { app: `app-${i}` },
      clusterIP: `10.96.${Math.floor(i / 250)}.${(i % 250) + 1}`,
      ports: [{ port: 80, targetPort: 8080 }],
    },
    source: { file: 'gen.yaml', document: i + 1 },
  }));
  return buildMesh({ resources, pods, trustDomain: 'cluster.local', trustBundle: [ROOT] });
}

function pods(count: number, nodes: number, services: number): PodRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    uid: `default/pod-${i}`,
    name: `pod-${i}`,
    namespace: 'default',
    node: `node-${i % nodes}`,
    ips: [`10.244.${Math.floor(i / 250)}.${(i % 250) + 1}`],
    serviceAccount: `sa-${i % services}`,
    labels: { app: `app-${i % services}` },
    ready: true,
    ports: [],
  }));
}

function resourceSet(entries: [string, string][]): Map<string, EncodedResource> {
  return new Map(
    entries.map(([key, version]) => {
      const [type, name] = key.split('/') as [string, string];
      return [key, { type, name, version, body: Buffer.from('{}') }];
    }),
  );
}

function encode(view: Omit<NodeSnapshot, 'version'>): Map<string, EncodedResource> {
  return new Map(
    snapshotResources('ztunnel', view).map((item) => [
      resourceKey(item.type, item.name),
      encodeResource(item),
    ]),
  );
}

describe('resources', () => {
  it('round-trip a snapshot: encode, decode, reassemble', () => {
    const view = ztunnelView(meshOf(pods(6, 2, 3), 3), 'node-0');
    const decoded = [...encode(view).values()].map((resource) => decodeResource('ztunnel', resource));
    const snapshot = assembleSnapshot('ztunnel', '7', decoded) as NodeSnapshot;
    expect(snapshot).toEqual({
      version: '7',
      ...view,
      services: [...view.services].sort((a, b) =>
        `${a.namespace}/${a.name}` < `${b.namespace}/${b.name}` ? -1 : 1,
      ),
    });
  });

  it('version a resource by its content', () => {
    const a = encodeResource({ type: 'workload', name: 'x', value: { uid: 'x', ips: ['1.2.3.4'] } });
    const b = encodeResource({ type: 'workload', name: 'x', value: { uid: 'x', ips: ['1.2.3.4'] } });
    const c = encodeResource({ type: 'workload', name: 'x', value: { uid: 'x', ips: ['1.2.3.5'] } });
    expect(a.version).toBe(b.version);
    expect(a.version).not.toBe(c.version);
  });

  it.each([
    [{ type: 'workload', name: 'a', body: Buffer.from('{') }, /workload a: body is not JSON/],
    [{ type: 'workload', name: 'a', body: Buffer.from('{"uid":"b"}') }, 'workload a: body names "b"'],
    [
      { type: 'virtualservice', name: 'ns/a', body: Buffer.from('{"name":"a","namespace":"ns"}') },
      'unknown resource type "virtualservice" for a ztunnel',
    ],
    [
      { type: 'trustbundle', name: 'roots', body: Buffer.from('["nope"]') },
      'trust bundle: expected a list of PEM certificates',
    ],
    [
      { type: 'meshsettings', name: 'mesh', body: Buffer.from('{"outboundTrafficPolicy":"SOMETIMES"}') },
      'mesh settings: outboundTrafficPolicy must be one of ALLOW_ANY, REGISTRY_ONLY',
    ],
  ])('refuse a resource the client cannot use (%#)', (resource, message) => {
    expect(() => decodeResource('ztunnel', { ...resource, version: 'v' })).toThrow(ResourceError);
    expect(() => decodeResource('ztunnel', { ...resource, version: 'v' })).toThrow(message);
  });
});

describe('incremental push', () => {
  it('one changed pod in a 1000-pod mesh resends that workload and the services selecting it, not the world', () => {
    const before = pods(1000, 50, 50);
    const after = before.map((pod) =>
      pod.name === 'pod-7' ? { ...pod, labels: { ...pod.labels, version: 'v2' } } : pod,
    );
    const old = encode(ztunnelView(meshOf(before, 50), 'node-3'));
    const next = encode(ztunnelView(meshOf(after, 50), 'node-3'));
    const diff = compareResourceSets(next, old, (resource) => resource.version);
    expect(diff.changed.map((resource) => resourceKey(resource.type, resource.name))).toEqual([
      'workload/default/pod-7',
    ]);
    expect(diff.removed).toEqual([]);
    const removedPod = encode(
      ztunnelView(
        meshOf(
          before.filter((pod) => pod.name !== 'pod-7'),
          50,
        ),
        'node-3',
      ),
    );
    const removal = compareResourceSets(removedPod, old, (resource) => resource.version);
    expect(removal.changed.map((resource) => resourceKey(resource.type, resource.name))).toEqual([
      'service/default/svc-7',
    ]);
    expect(removal.removed).toEqual(['workload/default/pod-7']);
  });
});

/** Every resource a response carries, in blocks or alone. */
const pushed = (response: PushResponse | undefined): EncodedResource[] =>
  response ? [...response.blocks.flatMap((block) => block.resources), ...response.resources] : [];

describe('subscription (what the control plane believes a client holds)', () => {
  const info = { kind: 'ztunnel' as const, node: 'n', instance: 'i', peer: 'p' };
  // Each test's views follow one another as published meshes do: each shared generation advances the last.
  let generation: SharedGeneration | undefined;
  beforeEach(() => {
    generation = undefined;
  });
  /** A view whose workloads are shared and whose policies are the subscriber's own. */
  const target = (entries: [string, string][]): SubscriberView => {
    const shared = resourceSet(entries.filter(([key]) => key.startsWith('workload/')));
    generation = generation ? generation.advance(shared) : new SharedGeneration(shared);
    return { shared: generation, own: resourceSet(entries.filter(([key]) => key.startsWith('policy/'))) };
  };

  it('always answers the first request, then sends only differences, one response at a time', () => {
    const sub = new Subscription('s', info, []);
    const first = sub.prepare(target([['workload/a', '1']]), 'v1', 0, true)!;
    expect(pushed(first).map((r) => r.name)).toEqual(['a']);
    expect(sub.status().inSync).toBe(false);
    // A change while the first response is in flight waits for the answer.
    expect(sub.prepare(target([['workload/a', '2']]), 'v2', 0)).toBeUndefined();
    const answer = sub.answer(first.nonce, '');
    // v1 is held, but v2 waits: not in sync until it is sent and ACKed.
    expect(sub.status().inSync).toBe(false);
    expect(answer.resend).toBe(true);
    const second = sub.prepare(
      target([
        ['workload/a', '2'],
        ['workload/b', '1'],
      ]),
      'v3',
      0,
    )!;
    expect(second.resources.map((r) => `${r.name}@${r.version}`)).toEqual(['a@2', 'b@1']);
    sub.answer(second.nonce, '');
    expect(
      sub.prepare(
        target([
          ['workload/a', '2'],
          ['workload/b', '1'],
        ]),
        'v4',
        0,
      ),
    ).toBeUndefined();
    expect(sub.status()).toMatchObject({ ackedVersion: 'v3', inSync: true, nacks: 0 });
  });

  it('after a NACK keeps what the client held, and sends the rejected change again with the next one', () => {
    const sub = new Subscription('s', info, []);
    sub.answer(sub.prepare(target([['workload/a', '1']]), 'v1', 0, true)!.nonce, '');
    const bad = sub.prepare(
      target([
        ['workload/a', '1'],
        ['workload/bad', '1'],
      ]),
      'v2',
      0,
    )!;
    expect(sub.answer(bad.nonce, 'cannot apply workload bad')).toMatchObject({ resend: false });
    expect(sub.status()).toMatchObject({
      ackedVersion: 'v1',
      inSync: false,
      nacks: 1,
      lastNack: { version: 'v2', message: 'cannot apply workload bad' },
    });
    const next = sub.prepare(
      target([
        ['workload/a', '1'],
        ['workload/bad', '1'],
        ['workload/c', '1'],
      ]),
      'v3',
      0,
    )!;
    expect(next.resources.map((r) => r.name)).toEqual(['bad', 'c']);
    // Stale or unknown nonces are ignored.
    expect(sub.answer('not-a-nonce', '')).toEqual({ resend: false });
  });

  it('after a reconnect sends only what changed since what the client says it holds', () => {
    const sub = new Subscription('s', info, [
      { type: 'workload', name: 'a', version: '1' },
      { type: 'workload', name: 'gone', version: '1' },
    ]);
    const first = sub.prepare(
      target([
        ['workload/a', '1'],
        ['workload/b', '1'],
      ]),
      'v9',
      0,
      true,
    )!;
    expect(first.resources.map((r) => r.name)).toEqual(['b']);
    expect(first.removed).toEqual([{ type: 'workload', name: 'gone', version: '' }]);
  });
});

describe("subscription: a ztunnel's own workloads in full over the shared remote forms", () => {
  const info = { kind: 'ztunnel' as const, node: 'n', instance: 'i', peer: 'p' };
  /** Shared `remote` versions and own `full` versions, by workload name. */
  type Step = { shared: [string, string][]; own: [string, string][] };
  const keyed = (entries: [string, string][]) =>
    resourceSet(entries.map(([name, version]) => [`workload/${name}`, version]));
  const sent = (response: PushResponse | undefined) => ({
    sent: pushed(response)
      .map((r) => `${r.name}@${r.version}`)
      .sort(),
    dropped: (response?.removed ?? []).map((r) => r.name).sort(),
  });

  it.each([
    [
      'the own version is sent, never the shared one of the same key',
      {
        shared: [
          ['a', 'remote1'],
          ['b', 'remote1'],
        ],
        own: [['a', 'full1']],
      },
      {
        shared: [
          ['a', 'remote1'],
          ['b', 'remote1'],
        ],
        own: [['a', 'full1']],
      },
      { sent: [], dropped: [] },
    ],
    [
      "a shared change to an owned key is not the client's",
      { shared: [['a', 'remote1']], own: [['a', 'full1']] },
      { shared: [['a', 'remote2']], own: [['a', 'full1']] },
      { sent: [], dropped: [] },
    ],
    [
      'an owned workload that changes is sent in full',
      { shared: [['a', 'remote1']], own: [['a', 'full1']] },
      { shared: [['a', 'remote2']], own: [['a', 'full2']] },
      { sent: ['a@full2'], dropped: [] },
    ],
    [
      'a key the view stops owning falls back to its shared version',
      { shared: [['a', 'remote1']], own: [['a', 'full1']] },
      { shared: [['a', 'remote1']], own: [] },
      { sent: ['a@remote1'], dropped: [] },
    ],
    [
      'an owned workload removed from the mesh is dropped once',
      {
        shared: [
          ['a', 'remote1'],
          ['b', 'remote1'],
        ],
        own: [['a', 'full1']],
      },
      { shared: [['b', 'remote1']], own: [] },
      { sent: [], dropped: ['a'] },
    ],
    [
      'a shared key the view starts owning is sent in full',
      { shared: [['a', 'remote1']], own: [] },
      { shared: [['a', 'remote1']], own: [['a', 'full1']] },
      { sent: ['a@full1'], dropped: [] },
    ],
  ] as [string, Step, Step, { sent: string[]; dropped: string[] }][])(
    '%s',
    (_name, before, after, expected) => {
      const first = new SharedGeneration(keyed(before.shared));
      const sub = new Subscription('s', info, []);
      const initial = sub.prepare({ shared: first, own: keyed(before.own) }, 'v1', 0, true)!;
      // The first response holds every key once, owned ones in their own version.
      const owned = new Map(before.own);
      expect(sent(initial).sent).toEqual(
        before.shared.map(([name, version]) => `${name}@${owned.get(name) ?? version}`).sort(),
      );
      sub.answer(initial.nonce, '');
      const view = { shared: first.advance(keyed(after.shared)), own: keyed(after.own) };
      expect(sent(sub.prepare(view, 'v2', 0))).toEqual(expected);
      // A client that reconnects declaring what it held gets the same answer.
      const declared = new Subscription(
        'r',
        info,
        pushed(initial).map((r) => ({ type: r.type, name: r.name, version: r.version })),
      );
      expect(sent(declared.prepare(view, 'v2', 0))).toEqual(expected);
    },
  );
});

describe('shared generations (what changed for a client that held an older one)', () => {
  const keysOf = (changes: { changed: EncodedResource[]; removed: string[] }) => ({
    changed: changes.changed.map(
      (resource) => `${resourceKey(resource.type, resource.name)}@${resource.version}`,
    ),
    removed: changes.removed,
  });
  /** Generations advanced through `steps` from a first one holding `start`. */
  const chain = (start: [string, string][], steps: [string, string][][]) => {
    const generations = [new SharedGeneration(resourceSet(start))];
    for (const step of steps) generations.push(generations.at(-1)!.advance(resourceSet(step)));
    return generations;
  };

  it.each([
    ['nothing changed: the same generation', [['workload/a', '1']], [[['workload/a', '1']]], [], []],
    ['one change', [['workload/a', '1']], [[['workload/a', '2']]], ['workload/a@2'], []],
    [
      'added then removed: nothing to send or drop',
      [['workload/a', '1']],
      [
        [
          ['workload/a', '1'],
          ['workload/b', '1'],
        ],
        [['workload/a', '1']],
      ],
      [],
      [],
    ],
    [
      'changed then changed back: nothing to send',
      [['workload/a', '1']],
      [[['workload/a', '2']], [['workload/a', '1']]],
      [],
      [],
    ],
    [
      'removed then back with a new version: sent, not dropped',
      [['workload/a', '1']],
      [[], [['workload/a', '3']]],
      ['workload/a@3'],
      [],
    ],
    [
      'removed over two steps',
      [
        ['workload/a', '1'],
        ['workload/b', '1'],
      ],
      [[['workload/a', '1']], []],
      [],
      ['workload/b', 'workload/a'],
    ],
  ] as [string, [string, string][], [string, string][][], string[], string[]][])(
    '%s',
    (_name, start, steps, changed, removed) => {
      const generations = chain(start, steps);
      const changes = keysOf(generations[0]!.changesTo(generations.at(-1)!));
      expect(changes).toEqual({ changed, removed });
      // Advanced by the changes alone (as the incremental model tells them), the same sets and answer.
      const told = [new SharedGeneration(resourceSet(start))];
      for (const step of steps) {
        const next = resourceSet(step);
        const gone = [...told.at(-1)!.resources.keys()].filter((key) => !next.has(key));
        told.push(told.at(-1)!.advanceBy([...next.values()], gone));
      }
      expect(told.map((generation) => [...generation.resources.keys()].sort())).toEqual(
        generations.map((generation) => [...generation.resources.keys()].sort()),
      );
      expect(told.map((generation, i) => generation === told[i - 1])).toEqual(
        generations.map((generation, i) => generation === generations[i - 1]),
      );
      expect(keysOf(told[0]!.changesTo(told.at(-1)!))).toEqual(changes);
      // Walking the links and comparing the whole sets agree.
      expect(changes.changed.sort()).toEqual(
        keysOf(
          compareResourceSets(generations.at(-1)!.resources, generations[0]!.resources, (r) => r.version),
        ).changed.sort(),
      );
    },
  );

  it('a client many generations behind gets the same answer as a full comparison', () => {
    const steps = Array.from({ length: 100 }, (_, i): [string, string][] => [
      ['workload/steady', '1'],
      [`workload/w${i}`, String(i)],
    ]);
    const generations = chain([['workload/gone', '1']], steps);
    const changes = keysOf(generations[0]!.changesTo(generations.at(-1)!));
    expect(changes.changed.sort()).toEqual(['workload/steady@1', 'workload/w99@99']);
    expect(changes.removed).toEqual(['workload/gone']);
    const recent = keysOf(generations[98]!.changesTo(generations.at(-1)!));
    expect(recent).toEqual({ changed: ['workload/w99@99'], removed: ['workload/w97'] });
  });
});

describe('subscription views with shared and own resources', () => {
  const info = { kind: 'ztunnel' as const, node: 'n', instance: 'i', peer: 'p' };

  it('after a reconnect, drops a declared resource that neither part has, and keeps what either has', () => {
    const shared = new SharedGeneration(resourceSet([['workload/a', '1']]));
    const sub = new Subscription('s', info, [
      { type: 'workload', name: 'a', version: '1' },
      { type: 'policy', name: 'p', version: '1' },
      { type: 'policy', name: 'old', version: '1' },
      { type: 'workload', name: 'old', version: '1' },
    ]);
    const first = sub.prepare({ shared, own: resourceSet([['policy/p', '2']]) }, 'v1', 0, true)!;
    expect(first.resources.map((r) => `${r.type}/${r.name}@${r.version}`)).toEqual(['policy/p@2']);
    expect(first.removed.map((r) => `${r.type}/${r.name}`).sort()).toEqual(['policy/old', 'workload/old']);
    sub.answer(first.nonce, '');
    // From now on the shared part is followed by generation: a change there costs only the change.
    const next = shared.advance(
      resourceSet([
        ['workload/a', '1'],
        ['workload/b', '1'],
      ]),
    );
    const second = sub.prepare({ shared: next, own: resourceSet([]) }, 'v2', 0)!;
    expect(second.resources.map((r) => `${r.type}/${r.name}`)).toEqual(['workload/b']);
    expect(second.removed).toEqual([{ type: 'policy', name: 'p', version: '' }]);
    sub.answer(second.nonce, '');
    expect(sub.status()).toMatchObject({
      inSync: true,
      ackedVersion: 'v2',
    });
  });
});

describe("a new client's snapshot in blocks of shared resources", () => {
  const info = { kind: 'ztunnel' as const, node: 'n1', instance: 'i', peer: 'p' };
  const sized = (entries: [string, number][]) =>
    new Map(
      entries.map(([key, bytes]): [string, EncodedResource] => {
        const [type, name] = key.split('/') as [string, string];
        return [key, { type, name, version: '1', body: Buffer.alloc(bytes, 0x20) }];
      }),
    );
  const shape = (blocks: { resources: readonly EncodedResource[]; bodyBytes: number }[]) =>
    blocks.map((block) => block.resources.map((r) => r.name).join(','));

  it.each<[string, [string, number][], string[][], string[]]>([
    [
      'no groups: in order',
      [
        ['w/a', 10],
        ['w/b', 10],
        ['s/x', 10],
      ],
      [],
      ['a,b,x'],
    ],
    [
      'a group is a block of its own, before the rest',
      [
        ['w/a', 10],
        ['w/b', 10],
        ['w/c', 10],
        ['s/x', 10],
      ],
      [['w/c', 'w/a']],
      ['c,a', 'b,x'],
    ],
    [
      'a key a group names but the set lacks is skipped; an empty group makes no block',
      [
        ['w/a', 10],
        ['s/x', 10],
      ],
      [['w/gone'], ['w/a']],
      ['a', 'x'],
    ],
    [
      'split at 64 KiB of bodies; a larger resource is a block alone',
      [
        ['w/a', 40_000],
        ['w/b', 40_000],
        ['w/c', 100_000],
        ['w/d', 10],
      ],
      [],
      ['a', 'b', 'c', 'd'],
    ],
  ])('%s', (_name, entries, groups, expected) => {
    const { blocks, blockOf } = resourceBlocks(sized(entries), groups);
    expect(shape([...blocks])).toEqual(expected);
    for (const [key] of entries)
      expect(blocks[blockOf.get(key)!]!.resources.map((r) => `${r.type}/${r.name}`)).toContain(key);
    expect(blocks.map((block) => block.bodyBytes)).toEqual(
      blocks.map((block) => block.resources.reduce((sum, r) => sum + r.body.length, 0)),
    );
  });

  it("sends the other nodes' blocks whole and its own workloads in full, as a resource-by-resource diff would", () => {
    const shared = new SharedGeneration(
      resourceSet([
        ['workload/a1', 'remote'],
        ['workload/a2', 'remote'],
        ['workload/b1', 'remote'],
        ['workload/b2', 'remote'],
        ['service/s', '1'],
      ]),
    );
    const view: SubscriberView = {
      shared,
      own: resourceSet([
        ['workload/a1', 'full'],
        ['workload/a2', 'full'],
        ['policy/p', '1'],
      ]),
      groups: () => [
        ['workload/a1', 'workload/a2'],
        ['workload/b1', 'workload/b2'],
      ],
    };
    const fresh = new Subscription('s', info, []).prepare(view, 'v1', 0, true)!;
    expect(shape(fresh.blocks)).toEqual(['b1,b2', 's']);
    expect(fresh.resources.map((r) => `${r.name}@${r.version}`).sort()).toEqual([
      'a1@full',
      'a2@full',
      'p@1',
    ]);
    // A client declaring one stale resource takes the per-resource path: the same resources, and one removal.
    const declared = new Subscription('r', info, [{ type: 'workload', name: 'stale', version: '1' }]);
    const diffed = declared.prepare(view, 'v1', 0, true)!;
    expect(diffed.blocks).toEqual([]);
    const versions = (response: PushResponse) =>
      pushed(response)
        .map((r) => `${r.type}/${r.name}@${r.version}`)
        .sort();
    expect(versions(fresh)).toEqual(versions(diffed));
    expect(diffed.removed.map((r) => r.name)).toEqual(['stale']);
    // Without groups the own workloads' block is split, with the same result.
    const ungrouped = new Subscription('u', info, []).prepare(
      { shared: new SharedGeneration(shared.resources), own: view.own },
      'v1',
      0,
      true,
    )!;
    expect(ungrouped.blocks).toEqual([]);
    expect(versions(ungrouped)).toEqual(versions(fresh));
  });
});

describe('shared generations advanced in place', () => {
  it.each([1, 2, 3, 4, 5])(
    'seed %i: every generation still holds what it held, after later ones took its map over',
    (seed) => {
      let state = seed;
      const random = (n: number) => {
        state = (state * 1103515245 + 12345) % 2 ** 31;
        return Math.floor((state / 2 ** 31) * n);
      };
      const keys = Array.from({ length: 12 }, (_, i) => `workload/w${i}`);
      const generations = [new SharedGeneration(resourceSet([['workload/w0', '0']]))];
      const expected = [new Map([['workload/w0', '0']])];
      for (let step = 1; step <= 40; step++) {
        const changed = Array.from({ length: random(4) }, (): [string, string] => [
          keys[random(keys.length)]!,
          String(random(3)),
        ]);
        const removed = Array.from({ length: random(3) }, () => keys[random(keys.length)]!);
        const next = generations.at(-1)!.advanceBy([...resourceSet(changed).values()], removed);
        const held = new Map(expected.at(-1)!);
        for (const [key, version] of changed) held.set(key, version);
        for (const key of removed) held.delete(key);
        generations.push(next);
        expected.push(held);
        // The same generation only when nothing changed.
        if (next === generations.at(-2)) expect(held).toEqual(expected.at(-2));
      }
      const latest = generations.at(-1)!;
      generations.forEach((generation, i) => {
        for (const key of keys) expect(generation.get(key)?.version).toBe(expected[i]!.get(key));
        const changes = generation.changesTo(latest);
        const full = compareResourceSets(latest.resources, generation.resources, (r) => r.version);
        expect(changes.changed.map((r) => r.name).sort()).toEqual(full.changed.map((r) => r.name).sort());
        expect([...changes.removed].sort()).toEqual([...full.removed].sort());
      });
      // Made again in full (after the walks above), each generation's whole set is as it was.
      generations.forEach((generation, i) => {
        expect(new Map([...generation.resources].map(([key, r]) => [key, r.version]))).toEqual(expected[i]);
      });
    },
  );
});
