/**
 * The pure decisions of the Kubernetes pod source and the TokenReview authenticator: which API pods are
 * workloads (and with what), which review outcomes name a node agent's pod, which pods are a waypoint's own,
 * and what each kind of caller may hold and subscribe as.
 */
import type { V1Pod, V1TokenReviewStatus } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { Caller } from '../../src/control/auth/node-authenticator.ts';
import { reviewedCaller, waypointCallerOf } from '../../src/control/auth/token-review.ts';
import { callerMayServeWaypoint } from '../../src/control/auth/waypoint-binding.ts';
import { callerMayNotHold } from '../../src/control/ca/service.ts';
import { podRecordOf } from '../../src/control/pods/kube-pods.ts';
import type { PodRecord, PodSource } from '../../src/control/pods/pod-source.ts';

const running: V1Pod = {
  metadata: { name: 'web-1', namespace: 'shop', uid: 'u1', labels: { app: 'web' } },
  spec: {
    nodeName: 'node-a',
    serviceAccountName: 'web',
    containers: [
      { name: 'app', ports: [{ name: 'http', containerPort: 8080 }] },
      { name: 'dns', ports: [{ containerPort: 53, protocol: 'UDP' }] },
    ],
  },
  status: {
    phase: 'Running',
    podIP: '10.244.1.5',
    podIPs: [{ ip: '10.244.1.5' }, { ip: 'fd00::5' }],
    conditions: [{ type: 'Ready', status: 'True' }],
  },
};
const withPod = (change: (pod: V1Pod) => void): V1Pod => {
  const pod = structuredClone(running);
  change(pod);
  return pod;
};

describe('podRecordOf', () => {
  it('takes IPs, node, labels, service account, container ports and readiness', () => {
    expect(podRecordOf(running)).toEqual({
      uid: 'u1',
      name: 'web-1',
      namespace: 'shop',
      node: 'node-a',
      ips: ['10.244.1.5', 'fd00::5'],
      serviceAccount: 'web',
      labels: { app: 'web' },
      ready: true,
      ports: [
        { name: 'http', containerPort: 8080, protocol: 'TCP' },
        { name: undefined, containerPort: 53, protocol: 'UDP' },
      ],
    });
  });

  it.each<[string, V1Pod]>([
    ['not scheduled', withPod((p) => delete p.spec!.nodeName)],
    ['no IP yet', withPod((p) => delete p.status)],
    ['only an invalid IP', withPod((p) => (p.status = { podIPs: [{ ip: 'nope' }] }))],
    ['on the host network', withPod((p) => (p.spec!.hostNetwork = true))],
    ['Succeeded', withPod((p) => (p.status!.phase = 'Succeeded'))],
    ['Failed', withPod((p) => (p.status!.phase = 'Failed'))],
  ])('has no place in the mesh when %s', (_, pod) => {
    expect(podRecordOf(pod)).toBeUndefined();
  });

  it.each<[string, V1Pod, Partial<ReturnType<typeof podRecordOf>>]>([
    [
      'Ready=False',
      withPod((p) => (p.status!.conditions = [{ type: 'Ready', status: 'False' }])),
      { ready: false },
    ],
    ['no conditions', withPod((p) => delete p.status!.conditions), { ready: false }],
    ['terminating', withPod((p) => (p.metadata!.deletionTimestamp = new Date())), { ready: false }],
    ['no service account', withPod((p) => delete p.spec!.serviceAccountName), { serviceAccount: 'default' }],
    ['only podIP', withPod((p) => delete p.status!.podIPs), { ips: ['10.244.1.5'] }],
    ['no labels', withPod((p) => delete p.metadata!.labels), { labels: {} }],
  ])('%s', (_, pod, expected) => {
    expect(podRecordOf(pod)).toMatchObject(expected!);
  });
});

describe('reviewedCaller', () => {
  const settings = { audience: 'ambit-control', trustedAccounts: ['ambit-system/ambit-ztunnel'] };
  const bound: V1TokenReviewStatus = {
    authenticated: true,
    audiences: ['ambit-control'],
    user: {
      username: 'system:serviceaccount:ambit-system:ambit-ztunnel',
      extra: {
        'authentication.kubernetes.io/pod-name': ['ambit-ztunnel-x1'],
        'authentication.kubernetes.io/pod-uid': ['uid-1'],
      },
    },
  };
  const withStatus = (change: (status: V1TokenReviewStatus) => void) => {
    const status = structuredClone(bound);
    change(status);
    return status;
  };

  it.each<[string, V1TokenReviewStatus, string, boolean]>([
    ['a trusted account is a node agent', bound, 'ambit-system/ambit-ztunnel', true],
    [
      'an untrusted account is not (it can only be a waypoint)',
      withStatus((s) => (s.user!.username = 'system:serviceaccount:shop:web')),
      'shop/web',
      false,
    ],
    [
      'the right name in another namespace is not',
      withStatus((s) => (s.user!.username = 'system:serviceaccount:shop:ambit-ztunnel')),
      'shop/ambit-ztunnel',
      false,
    ],
  ])('names the bound pod: %s', (_, status, serviceAccount, nodeAgent) => {
    expect(reviewedCaller(status, settings)).toEqual({
      serviceAccount,
      podName: 'ambit-ztunnel-x1',
      podUid: 'uid-1',
      nodeAgent,
    });
  });

  it.each<[string, V1TokenReviewStatus | undefined, RegExp]>([
    ['no status', undefined, /not authenticated/],
    [
      'not authenticated',
      { authenticated: false, error: 'invalid bearer token' },
      /not authenticated: invalid bearer token/,
    ],
    [
      'another audience',
      withStatus((s) => (s.audiences = ['https://kubernetes.default.svc'])),
      /not for audience ambit-control/,
    ],
    ['no audiences said', withStatus((s) => delete s.audiences), /not for audience/],
    [
      'a user, not a service account',
      withStatus((s) => (s.user!.username = 'alice')),
      /alice is not a service account/,
    ],
    ['a token bound to no pod', withStatus((s) => delete s.user!.extra), /not bound to a pod/],
    [
      'a pod name without uid',
      withStatus((s) => delete s.user!.extra!['authentication.kubernetes.io/pod-uid']),
      /not bound to a pod/,
    ],
  ])('refuses %s', (_, status, reason) => {
    const outcome = reviewedCaller(status, settings);
    expect(outcome).toHaveProperty('refused');
    expect((outcome as { refused: string }).refused).toMatch(reason);
  });
});

describe('waypointCallerOf', () => {
  const caller = { serviceAccount: 'shop/waypoint', podName: 'waypoint-5d9c' };
  const instance = {
    metadata: { name: 'waypoint-5d9c', labels: { 'gateway.networking.k8s.io/gateway-name': 'waypoint' } },
    spec: { serviceAccountName: 'waypoint', containers: [] },
  };
  const gateway = { spec: { gatewayClassName: 'istio-waypoint' } };

  it('an instance of an istio-waypoint Gateway, as its service account, is that waypoint', () => {
    expect(waypointCallerOf(caller, instance, gateway)).toEqual({
      namespace: 'shop',
      name: 'waypoint',
      serviceAccount: 'waypoint',
      pod: 'waypoint-5d9c',
    });
  });

  it.each<[string, Parameters<typeof waypointCallerOf>, RegExp]>([
    [
      'a pod of no Gateway',
      [caller, { ...instance, metadata: { name: 'web-1', labels: { app: 'web' } } }, gateway],
      /shop\/waypoint is not a trusted node agent, and pod shop\/waypoint-5d9c is not a waypoint's/,
    ],
    ['a Gateway that does not exist', [caller, instance, undefined], /Gateway shop\/waypoint does not exist/],
    [
      'a Gateway of another class (an ingress)',
      [caller, instance, { spec: { gatewayClassName: 'istio' } }],
      /is not of class istio-waypoint/,
    ],
    [
      "another account's pod labelled as the waypoint's",
      [
        { ...caller, serviceAccount: 'shop/web' },
        { ...instance, spec: { serviceAccountName: 'web', containers: [] } },
        gateway,
      ],
      /runs as service account shop\/waypoint/,
    ],
    [
      'a pod whose spec names another account than its token',
      [caller, { ...instance, spec: { serviceAccountName: 'web', containers: [] } }, gateway],
      /runs as service account shop\/waypoint/,
    ],
  ])('refuses %s', (_, args, reason) => {
    const outcome = waypointCallerOf(...args);
    expect((outcome as { refused: string }).refused).toMatch(reason);
  });
});

describe('what a caller may hold and subscribe as', () => {
  const pods: PodSource = {
    list: () => [
      { node: 'node-a', namespace: 'shop', serviceAccount: 'reviews', labels: {} } as unknown as PodRecord,
      {
        node: 'node-a',
        namespace: 'shop',
        serviceAccount: 'waypoint',
        labels: { 'gateway.networking.k8s.io/gateway-name': 'waypoint' },
      } as unknown as PodRecord,
    ],
    onChange: () => {},
  };
  const node: Caller = { node: 'node-a' };
  const waypoint: Caller = {
    node: 'node-a',
    waypoint: { namespace: 'shop', name: 'waypoint', serviceAccount: 'waypoint', pod: 'waypoint-1' },
  };

  it.each<[string, Caller, string, string, boolean]>([
    ['a node: a pod of its node', node, 'shop', 'reviews', true],
    ['a node: the waypoint pod on it', node, 'shop', 'waypoint', true],
    ['a node: an account with no pod on it', node, 'shop', 'ratings', false],
    ['a waypoint: its own identity', waypoint, 'shop', 'waypoint', true],
    ['a waypoint: a pod of its node that is not it', waypoint, 'shop', 'reviews', false],
    ['a waypoint: its name in another namespace', waypoint, 'bank', 'waypoint', false],
  ])('certificate: %s -> %s', (_, caller, namespace, serviceAccount, allowed) => {
    expect(
      callerMayNotHold(pods, caller, { trustDomain: 'cluster.local', namespace, serviceAccount }) ===
        undefined,
    ).toBe(allowed);
  });

  it.each<[string, Caller, string, string, boolean]>([
    ['a node: the waypoint whose pod runs on it', node, 'shop', 'waypoint', true],
    ['a node: a waypoint with no pod on it', node, 'shop', 'other', false],
    ['a waypoint: itself', waypoint, 'shop', 'waypoint', true],
    ['a waypoint: another waypoint', waypoint, 'shop', 'other', false],
    ['a waypoint: its name in another namespace', waypoint, 'bank', 'waypoint', false],
  ])('subscription: %s -> %s', (_, caller, namespace, name, allowed) => {
    expect(callerMayServeWaypoint(pods, caller, { namespace, name })).toBe(allowed);
  });
});
