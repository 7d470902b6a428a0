/**
 * Issue 8, defect 5: a pod enrolled while the control plane was frozen kept a stale `MESH error` for ever,
 * although the node agent captured it later (it had been waiting for the pod's workload and certificate,
 * past the runtime's timeout). These tests drive the enrollment extension against a real enrollment server
 * on a unix socket whose handler answers late, as the ztunnel does while the control plane is stopped.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ExtensionContext } from '../../src/local/extensions.ts';
import { extension } from '../../src/local/mesh/enrollment.ts';
import { nodeAgentSocket } from '../../src/local/mesh/node-agent.ts';
import type { StatePaths } from '../../src/local/state.ts';
import type { PodMesh } from '../../src/local/supervisor/status.ts';
import type { ClusterState, PodRecord } from '../../src/local/types.ts';
import type { EnrolledPod } from '../../src/redirect/enroll/protocol.ts';
import { type EnrollmentHandler, EnrollmentServer } from '../../src/redirect/enroll/server.ts';
import { eventually } from '../support/eventually.ts';

const MODE = 'istio.io/dataplane-mode';

/** An agent whose first add of each pod answers only when the test releases it (the frozen control plane). */
class LateAgent implements EnrollmentHandler {
  readonly captured = new Set<string>();
  readonly adds: string[] = [];
  readonly removes: string[] = [];
  readonly #held = new Map<string, { release: () => void; done: Promise<void> }>();

  add(pod: EnrolledPod): Promise<void> {
    this.adds.push(pod.uid);
    if (this.adds.filter((uid) => uid === pod.uid).length > 1) {
      this.captured.add(pod.uid);
      return Promise.resolve();
    }
    let release = () => {};
    const done = new Promise<void>((resolve) => {
      release = resolve;
    }).then(() => {
      this.captured.add(pod.uid);
    });
    this.#held.set(pod.uid, { release, done });
    return done;
  }

  async remove(uid: string): Promise<void> {
    this.removes.push(uid);
    await this.#held.get(uid)?.done; // one operation per pod at a time, as the capture agent does
    this.captured.delete(uid);
  }

  async retainOnly(): Promise<void> {}

  /** The control plane thaws: the held add completes and the pod is captured. */
  thaw(uid: string): void {
    this.#held.get(uid)?.release();
  }
}

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

async function setUp() {
  const root = mkdtempSync(join(tmpdir(), 'ambit-enroll-'));
  directories.push(root);
  const pod = {
    uid: 'apps/web',
    name: 'web',
    namespace: 'apps',
    node: 'n1',
    ips: ['10.244.0.2'],
    serviceAccount: 'web',
    labels: { [MODE]: 'ambient' },
    netns: 'ambit.c1.pod.apps.web',
    netnsPath: '/run/netns/ambit.c1.pod.apps.web',
  } as unknown as PodRecord;
  const cluster = {
    name: 'c1',
    stateDir: join(root, 'c1'),
    nodes: [{ name: 'n1' }],
    namespaces: [{ name: 'apps', labels: {} }],
    pods: [pod],
  } as unknown as ClusterState;
  const reports: PodMesh[] = [];
  const context: ExtensionContext = {
    cluster,
    paths: { dir: cluster.stateDir } as StatePaths,
    reportMesh: (_uid, mesh) => reports.push(mesh),
  };
  const agent = new LateAgent();
  const server = await EnrollmentServer.listen(nodeAgentSocket(cluster, 'n1'), agent);
  const stop = async () => {
    await extension.stop?.(context);
    await server.close();
  };
  return { pod, context, reports, agent, stop };
}

describe('defect 5: enrollment while the control plane is frozen converges', () => {
  it('retries an add the agent answered too late, and the pod status clears to ambient', async () => {
    const { pod, context, reports, agent, stop } = await setUp();
    try {
      // The pod is labelled into the mesh while running; the agent holds the add past the client's timeout.
      await expect(extension.podRelabeled!(pod, context)).rejects.toThrow(/no answer to add/);
      expect(reports.at(-1)).toMatchObject({ state: 'error' });
      agent.thaw(pod.uid);
      // Nobody calls the extension again: its own retry confirms the capture and clears the error.
      await eventually(() => reports.at(-1)?.state === 'ambient', {
        what: 'the pod reported ambient',
        timeout: 20_000,
      });
      expect(agent.captured.has(pod.uid)).toBe(true);
      expect(agent.adds.length).toBeGreaterThanOrEqual(2);
    } finally {
      await stop();
    }
  }, 60_000);

  it('removes a pod whose add went unanswered once its labels leave the mesh (no capture is left behind)', async () => {
    const { pod, context, reports, agent, stop } = await setUp();
    try {
      await expect(extension.podRelabeled!(pod, context)).rejects.toThrow(/no answer to add/);
      pod.labels = {};
      const removal = extension.podRelabeled!(pod, context);
      agent.thaw(pod.uid); // the late add lands after all, before the removal is served
      await removal;
      expect(agent.removes).toEqual([pod.uid]);
      expect(agent.captured.has(pod.uid)).toBe(false);
      expect(reports.at(-1)).toEqual({ state: 'none' });
    } finally {
      await stop();
    }
  }, 60_000);
});
