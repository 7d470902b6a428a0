/**
 * The pure decisions behind Services without a selector: what an EndpointSlice's endpoints are (conditions
 * and their documented defaults, ports by name, address types), which take connections (ready ones, else the
 * serving ones that terminate), how a Service's slices merge, and what the model makes of them.
 */
import { describe, expect, it } from 'vitest';
import type { ServiceView } from '../../src/control/model/core-view.ts';
import { buildMesh, MeshMemo } from '../../src/control/model/mesh.ts';
import { PodIndex } from '../../src/control/model/pod-index.ts';
import { buildService } from '../../src/control/model/services.ts';
import { mergeSlices } from '../../src/control/pods/kube-endpoint-slices.ts';
import type { PodRecord } from '../../src/control/pods/pod-source.ts';
import {
  type EndpointSliceFields,
  type SliceEndpoint,
  type SliceEndpointsByService,
  sliceEndpoints,
  takesConnections,
} from '../../src/control/pods/slice-endpoints.ts';

type Conditions = Pick<SliceEndpoint, 'ready' | 'serving' | 'terminating'>;

const endpoint = (ip: string, conditions: Partial<Conditions> = {}): SliceEndpoint => ({
  ip,
  ready: true,
  serving: true,
  terminating: false,
  ports: { http: 8080 },
  ...conditions,
});

describe('sliceEndpoints', () => {
  const slice = (fields: Partial<EndpointSliceFields>): EndpointSliceFields => ({
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    ...fields,
  });

  it.each<[string, EndpointSliceFields['endpoints'], Conditions]>([
    [
      'no conditions: ready, serving',
      [{ addresses: ['10.0.0.1'] }],
      { ready: true, serving: true, terminating: false },
    ],
    [
      'not ready, serving unknown: follows ready',
      [{ addresses: ['10.0.0.1'], conditions: { ready: false } }],
      { ready: false, serving: false, terminating: false },
    ],
    [
      'terminating and still serving',
      [{ addresses: ['10.0.0.1'], conditions: { ready: false, serving: true, terminating: true } }],
      { ready: false, serving: true, terminating: true },
    ],
    [
      'ready, serving unknown',
      [{ addresses: ['10.0.0.1'], conditions: { ready: true } }],
      { ready: true, serving: true, terminating: false },
    ],
  ])('%s', (_, endpoints, conditions) => {
    expect(sliceEndpoints(slice({ endpoints }))).toEqual([
      { ip: '10.0.0.1', ports: { http: 8080 }, ...conditions },
    ]);
  });

  it.each<[string, Partial<EndpointSliceFields>, SliceEndpoint[]]>([
    ['an FQDN slice gives nothing', { addressType: 'FQDN', endpoints: [{ addresses: ['db.example'] }] }, []],
    [
      'a slice without an address type gives nothing',
      { addressType: undefined, endpoints: [{ addresses: ['10.0.0.1'] }] },
      [],
    ],
    [
      'an address that is not an IP is skipped',
      { endpoints: [{ addresses: ['nope', '10.0.0.2'] }] },
      [endpoint('10.0.0.2')],
    ],
    [
      'IPv6 slices are read',
      { addressType: 'IPv6', endpoints: [{ addresses: ['fd00::1'] }] },
      [endpoint('fd00::1')],
    ],
    [
      'an unnamed port is filed under "", UDP and numberless ports are left out',
      {
        ports: [{ port: 9000 }, { name: 'dns', port: 53, protocol: 'UDP' }, { name: 'any' }],
        endpoints: [{ addresses: ['10.0.0.3'] }],
      },
      [{ ...endpoint('10.0.0.3'), ports: { '': 9000 } }],
    ],
    ['a slice without endpoints', { endpoints: undefined }, []],
  ])('%s', (_, fields, expected) => {
    expect(sliceEndpoints(slice(fields))).toEqual(expected);
  });
});

describe('takesConnections', () => {
  const ready = endpoint('10.0.0.1');
  const draining = endpoint('10.0.0.2', { ready: false, serving: true, terminating: true });
  const gone = endpoint('10.0.0.3', { ready: false, serving: false, terminating: true });
  const starting = endpoint('10.0.0.4', { ready: false, serving: false });

  it.each<[string, SliceEndpoint[], string[]]>([
    ['ready endpoints only, while one is ready', [ready, draining, gone, starting], ['10.0.0.1']],
    ['serving terminating ones when none is ready', [draining, gone, starting], ['10.0.0.2']],
    ['none when nothing serves', [gone, starting], []],
    ['none of none', [], []],
  ])('%s', (_, endpoints, expected) => {
    const takes = takesConnections(endpoints);
    expect(endpoints.filter(takes).map((e) => e.ip)).toEqual(expected);
  });
});

describe('mergeSlices', () => {
  it.each<[string, SliceEndpoint[][], SliceEndpoint[]]>([
    [
      'the endpoints of every slice',
      [[endpoint('10.0.0.1')], [endpoint('10.0.0.2')]],
      [endpoint('10.0.0.1'), endpoint('10.0.0.2')],
    ],
    [
      'an address in two slices counts once, ready if either says so',
      [[endpoint('10.0.0.1', { ready: false })], [endpoint('10.0.0.1')]],
      [endpoint('10.0.0.1')],
    ],
    [
      'a ready copy is not replaced by a not-ready one',
      [[endpoint('10.0.0.1')], [endpoint('10.0.0.1', { ready: false })]],
      [endpoint('10.0.0.1')],
    ],
  ])('%s', (_, slices, expected) => {
    expect(mergeSlices(slices)).toEqual(expected);
  });
});

describe('a Service without a selector takes its endpoints from its slices', () => {
  const pod: PodRecord = {
    uid: 'pod-uid',
    name: 'db-1',
    namespace: 'shop',
    node: 'node-a',
    ips: ['10.244.1.9'],
    serviceAccount: 'db',
    labels: { app: 'db' },
    ready: false,
    ports: [],
  };
  const view = (selector?: Record<string, string>): ServiceView => ({
    name: 'db',
    namespace: 'shop',
    labels: {},
    selector,
    ports: [
      { name: 'http', port: 80, targetPort: 80, protocol: 'TCP' },
      { name: 'admin', port: 81, targetPort: 81, protocol: 'TCP' },
    ],
    clusterIPs: ['10.96.0.50'],
  });
  const sliced = [endpoint('10.244.1.9'), endpoint('192.0.2.7', { ready: false })];

  it('ports by name, the pod at an address as its workload, readiness from the slice', () => {
    const service = buildService(view(), new PodIndex([pod]), undefined, new Map(), sliced);
    expect(service.endpoints).toEqual([
      // The pod itself is not Ready, but the slice's writer says the endpoint is: the slice decides.
      { workloadUid: 'pod-uid', ip: '10.244.1.9', ready: true, targetPorts: { 80: 8080 } },
      { workloadUid: '', ip: '192.0.2.7', ready: false, targetPorts: { 80: 8080 } },
    ]);
  });

  it.each<[string, Record<string, string> | undefined, number]>([
    ['no selector: the slices', undefined, 2],
    ['an empty selector counts as none', {}, 2],
    ['a selector: its pods, never the slices', { app: 'other' }, 0],
  ])('%s', (_, selector, count) => {
    const service = buildService(view(selector), new PodIndex([pod]), undefined, new Map(), sliced);
    expect(service.endpoints).toHaveLength(count);
  });

  it('buildMesh hands a Service its slices by namespace/name, and keeps the object while they stay', () => {
    const resources = [
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'db', namespace: 'shop', labels: {}, annotations: {} },
        spec: {
          ports: [{ name: 'http', port: 80, targetPort: 80, protocol: 'TCP' }],
          clusterIP: '10.96.0.50',
        },
      },
    ] as unknown as Parameters<typeof buildMesh>[0]['resources'];
    const inputs = { resources, pods: [pod], trustDomain: 'cluster.local', trustBundle: [] };
    const memo = new MeshMemo();
    const db = (sliceEndpoints: SliceEndpointsByService) =>
      buildMesh({ ...inputs, sliceEndpoints }, memo).services.find((s) => s.name === 'db')!;
    const first = db(new Map([['shop/db', sliced]]));
    expect(first.endpoints.map((e) => `${e.ip} ${e.ready}`)).toEqual(['10.244.1.9 true', '192.0.2.7 false']);
    // The same array: the very same Service object (its encoding is reused downstream).
    expect(db(new Map([['shop/db', sliced]]))).toBe(first);
    expect(db(new Map([['shop/db', [endpoint('10.244.1.9', { ready: false })]]])).endpoints).toEqual([
      { workloadUid: 'pod-uid', ip: '10.244.1.9', ready: false, targetPorts: { 80: 8080 } },
    ]);
    expect(db(new Map([['shop/other', sliced]])).endpoints).toEqual([]);
  });
});
