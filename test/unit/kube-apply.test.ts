/** What a replacement keeps of the live object: the fields the API server or the operator own once it exists. */
import { describe, expect, it } from 'vitest';
import { type LiveObject, replacementFor } from '../../src/kube/apply.ts';
import type { ManifestObject } from '../../src/kube/manifests/render.ts';

const deployment: ManifestObject = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'waypoint', namespace: 'shop' },
  spec: { replicas: 1, selector: { matchLabels: { app: 'w' } } },
};
const service: ManifestObject = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'waypoint', namespace: 'shop' },
  spec: { ports: [{ port: 15008 }] },
};
const account: ManifestObject = {
  apiVersion: 'v1',
  kind: 'ServiceAccount',
  metadata: { name: 'waypoint', namespace: 'shop' },
};

describe('replacementFor', () => {
  it.each<[string, ManifestObject, LiveObject, ManifestObject]>([
    [
      'a Deployment scaled by hand or by an HPA keeps its count',
      deployment,
      { metadata: { resourceVersion: '7' }, spec: { replicas: 4 } },
      {
        ...deployment,
        metadata: { ...deployment.metadata, resourceVersion: '7' },
        spec: { replicas: 4, selector: { matchLabels: { app: 'w' } } },
      },
    ],
    [
      'a Deployment scaled to zero stays at zero',
      deployment,
      { metadata: { resourceVersion: '8' }, spec: { replicas: 0 } },
      {
        ...deployment,
        metadata: { ...deployment.metadata, resourceVersion: '8' },
        spec: { replicas: 0, selector: { matchLabels: { app: 'w' } } },
      },
    ],
    [
      'a live Deployment without a count takes the rendered one',
      deployment,
      { metadata: { resourceVersion: '9' }, spec: {} },
      { ...deployment, metadata: { ...deployment.metadata, resourceVersion: '9' } },
    ],
    [
      'a Service keeps its immutable cluster IPs',
      service,
      { metadata: { resourceVersion: '3' }, spec: { clusterIP: '10.96.0.9', clusterIPs: ['10.96.0.9'] } },
      {
        ...service,
        metadata: { ...service.metadata, resourceVersion: '3' },
        spec: { ports: [{ port: 15008 }], clusterIP: '10.96.0.9', clusterIPs: ['10.96.0.9'] },
      },
    ],
    [
      'another kind takes only the live resourceVersion',
      account,
      { metadata: { resourceVersion: '5' }, spec: { replicas: 3 } },
      { ...account, metadata: { ...account.metadata, resourceVersion: '5' } },
    ],
  ])('%s', (_, object, live, expected) => {
    expect(replacementFor(object, live)).toEqual(expected);
  });
});
