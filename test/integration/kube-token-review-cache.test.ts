/**
 * The TokenReview authenticator's cache and pod deletions, against the in-test API server through
 * `@kubernetes/client-node`: an admission is reused (no second review) while its pod exists; `forgetPod`
 * (what the control plane's pod watch calls on a deletion) drops it, so the next call is reviewed again
 * and refused; a review under way when its pod is deleted does not admit, even though it read the pod
 * before the deletion. (`kube-workloads.test.ts` proves the watch wiring through the real process.)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenReviewAuthenticator } from '../../src/control/auth/token-review.ts';
import { loadKubeConfig } from '../../src/kube/client.ts';
import { KubeApiServer } from '../support/kube-api-server.ts';

const AUDIENCE = 'ambit-control';
const PODS = ['/api/v1', 'pods'] as const;

describe('TokenReview admissions end with their pod', () => {
  let api: KubeApiServer;
  let dir: string;
  let authenticator: TokenReviewAuthenticator;

  /** A ztunnel pod on `node` and a token bound to it. */
  const ztunnel = (name: string, node: string) => {
    const pod = api.put(...PODS, {
      metadata: { name, namespace: 'ambit-system' },
      spec: { nodeName: node, serviceAccountName: 'ambit-ztunnel', containers: [] },
    });
    const uid = pod.metadata.uid!;
    const token = api.issueToken({
      namespace: 'ambit-system',
      serviceAccount: 'ambit-ztunnel',
      audiences: [AUDIENCE],
      pod: { name, uid },
    });
    return { uid, token };
  };
  const metadata = (token: string) => {
    const value = new Metadata();
    value.set('authorization', `Bearer ${token}`);
    return value;
  };
  const reviews = () => api.requests.filter((r) => r.path.endsWith('/tokenreviews')).length;
  const outcome = (token: string) =>
    authenticator.authenticate(metadata(token)).then(
      (caller) => caller,
      (error: Error) => error.message,
    );

  beforeAll(async () => {
    api = await new KubeApiServer().listen();
    dir = mkdtempSync(join(tmpdir(), 'ambit-token-review-'));
    writeFileSync(join(dir, 'kubeconfig'), api.kubeconfig());
    authenticator = new TokenReviewAuthenticator(loadKubeConfig(join(dir, 'kubeconfig')), {
      audience: AUDIENCE,
      trustedAccounts: ['ambit-system/ambit-ztunnel'],
    });
  });

  afterAll(async () => {
    await api?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reuses an admission while its pod exists and drops it when the pod is deleted', async () => {
    const { uid, token } = ztunnel('ztunnel-a', 'node-a');
    expect(await outcome(token)).toEqual({ node: 'node-a' });
    const before = reviews();
    expect(await outcome(token)).toEqual({ node: 'node-a' });
    expect(reviews()).toBe(before); // from the cache

    // Another pod's deletion changes nothing for this one.
    const other = ztunnel('ztunnel-b', 'node-b');
    authenticator.forgetPod(other.uid);
    expect(await outcome(token)).toEqual({ node: 'node-a' });
    expect(reviews()).toBe(before);

    api.delete(...PODS, 'ambit-system', 'ztunnel-a');
    authenticator.forgetPod(uid);
    expect(await outcome(token)).toMatch(/pod ambit-system\/ztunnel-a no longer exists/);
    expect(reviews()).toBe(before + 1);
  });

  it('does not admit a token whose pod is deleted while its review is under way', async () => {
    const { uid, token } = ztunnel('ztunnel-c', 'node-a');
    // The review goes out (a request to the API server) and reads the pod as it still is; the deletion is
    // seen before its answer is used.
    const pending = outcome(token);
    authenticator.forgetPod(uid);
    expect(await pending).toMatch(/pod was deleted during its review/);
    // And it stays refused, though the (slow) API server still lists the pod.
    expect(api.get(...PODS, 'ambit-system', 'ztunnel-c')).toBeDefined();
    expect(await outcome(token)).toMatch(/pod was deleted during its review/);
  });
});
