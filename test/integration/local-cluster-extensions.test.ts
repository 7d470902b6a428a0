/**
 * The seams the mesh plugs into: system processes supervised in node namespaces before any pod, and the
 * per-pod start gate that must pass (retried with backoff when it fails) before a pod's process starts.
 */

import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extensionUrl } from '../../src/local/extensions.ts';
import { silentProgress } from '../../src/local/progress.ts';
import { buildReport, type ClusterReport } from '../../src/local/report.ts';
import { statePaths } from '../../src/local/state.ts';
import type { ClusterState } from '../../src/local/types.ts';
import { up } from '../../src/local/up.ts';
import { ambit } from '../support/cli.ts';
import {
  leftovers,
  makeStateRoot,
  NOTHING_LEFT,
  uniqueName,
  writeClusterFile,
} from '../support/local-cluster.ts';
import { clusterDoc, manifests, podDoc } from '../support/manifests.ts';
import { canRunNetnsTests } from '../support/privileges.ts';
import { GATE_HOLD_MS } from '../support/test-extension.ts';

const clusterYaml = (name: string) => manifests(clusterDoc(name), podDoc('steady'), podDoc('flaky'));

describe.runIf(canRunNetnsTests())('ambit local: extension seams', () => {
  const root = makeStateRoot();
  const name = uniqueName('it-ext');
  let cluster: ClusterState;
  let report: ClusterReport;

  beforeAll(async () => {
    const file = writeClusterFile(root, name, clusterYaml(name));
    const result = await up({
      files: [file],
      root,
      extensions: [extensionUrl(new URL('../support/test-extension.ts', import.meta.url).pathname)],
      progress: silentProgress,
    });
    cluster = result.cluster;
    report = buildReport(cluster, statePaths(cluster.stateDir));
  });

  afterAll(async () => {
    await ambit(['local', 'down', '--name', name], { stateRoot: root });
    rmSync(root, { recursive: true, force: true });
  });

  it('runs prepare and supervises the system processes in their node namespaces, ready', () => {
    expect(readFileSync(join(cluster.stateDir, 'prepared'), 'utf8')).toBe('2 nodes\n');
    expect(report.system.map((p) => [p.id, p.node, p.status, p.ready])).toEqual([
      ['probe/n1', 'n1', 'Running', true],
      ['probe/n2', 'n2', 'Running', true],
    ]);
    for (const process of report.system) {
      const node = cluster.nodes.find((n) => n.name === process.node)!;
      expect(execFileSync('readlink', [`/proc/${process.pid}/ns/net`], { encoding: 'utf8' }).trim()).toBe(
        `net:[${statSync(node.netnsPath).ino}]`,
      );
    }
  });

  it('lets node namespaces reach each other on their underlay addresses (ztunnel to control plane)', () => {
    const [n1, n2] = cluster.nodes;
    const answer = execFileSync(
      'ip',
      ['netns', 'exec', n2!.netns, 'curl', '-sS', '--max-time', '5', `http://${n1!.underlayIP}:15021/`],
      { encoding: 'utf8' },
    );
    expect(JSON.parse(answer)).toMatchObject({
      version: 'probe-n1',
      request: { source: expect.stringMatching(`^${n2!.underlayIP}:`) },
    });
  });

  it('starts pods only once every system process is ready', () => {
    const events = readFileSync(statePaths(cluster.stateDir).supervisorLog, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { msg: string; id?: string });
    const lastSystemReady = events.findLastIndex((e) => e.msg === 'ready' && e.id?.startsWith('probe/'));
    const firstPodStart = events.findIndex((e) => e.msg === 'started' && e.id?.startsWith('pod/'));
    expect(lastSystemReady).toBeGreaterThanOrEqual(0);
    expect(firstPodStart).toBeGreaterThan(lastSystemReady);
  });

  it('starts a pod only after its gate passed, retrying a failing gate with backoff', () => {
    const calls = readFileSync(join(cluster.stateDir, 'gate.log'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { pod: string; at: number });
    expect(calls.filter((call) => call.pod === 'default/steady')).toHaveLength(1);
    const flaky = calls.filter((call) => call.pod === 'default/flaky');
    expect(flaky).toHaveLength(3);
    // The retries wait 250 ms, then 500 ms (restart backoff).
    expect(flaky[1]!.at - flaky[0]!.at).toBeGreaterThanOrEqual(240);
    expect(flaky[2]!.at - flaky[1]!.at).toBeGreaterThanOrEqual(490);
    for (const pod of report.pods) {
      const lastCall = calls.filter((call) => call.pod === pod.uid).at(-1)!;
      expect(pod.status).toBe('Running');
      expect(pod.message).toBeUndefined();
      expect(Date.parse(statusOf(pod.uid).startedAt!)).toBeGreaterThanOrEqual(lastCall.at + GATE_HOLD_MS - 5);
    }
  });

  it('shows a node’s system processes as the node’s logs', async () => {
    const logs = await ambit(['local', 'logs', 'n2', '--name', name], { stateRoot: root });
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toContain('"version":"probe-n2"');
    expect(logs.stdout).not.toContain('probe-n1');
    // Several sources at once are told apart by a prefix.
    const component = (await ambit(['local', 'logs', 'probe', '--name', name], { stateRoot: root })).stdout;
    expect(component).toMatch(/^\[probe\/n1\] \{.*"version":"probe-n1"/m);
    expect(component).toMatch(/^\[probe\/n2\] \{.*"version":"probe-n2"/m);
  });

  it('stops system processes at down too', async () => {
    expect((await ambit(['local', 'down', '--name', name], { stateRoot: root })).code).toBe(0);
    expect(leftovers(name, root)).toEqual(NOTHING_LEFT);
  });

  function statusOf(uid: string) {
    const status = JSON.parse(readFileSync(statePaths(cluster.stateDir).status, 'utf8')) as {
      processes: { podUid?: string; startedAt?: string }[];
    };
    return status.processes.find((process) => process.podUid === uid)!;
  }
});
