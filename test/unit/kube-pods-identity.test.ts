/**
 * The pure decisions of the Kubernetes pod source and the TokenReview authenticator: which API pods are
 * workloads (and with what), and which review outcomes name a node agent's pod.
 */
import type { V1Pod, V1TokenReviewStatus } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { reviewedCaller } from '../../src/control/auth/token-review.ts';
import { podRecordOf } from '../../src/control/pods/kube-pods.ts';

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

  it('names the bound pod of a trusted account', () => {
    expect(reviewedCaller(bound, settings)).toEqual({
      serviceAccount: 'ambit-system/ambit-ztunnel',
      podName: 'ambit-ztunnel-x1',
      podUid: 'uid-1',
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
    [
      'an untrusted account',
      withStatus((s) => (s.user!.username = 'system:serviceaccount:shop:web')),
      /shop\/web is not a trusted node agent/,
    ],
    [
      'the right name in another namespace',
      withStatus((s) => (s.user!.username = 'system:serviceaccount:shop:ambit-ztunnel')),
      /not a trusted node agent/,
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
