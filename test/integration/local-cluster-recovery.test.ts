/**
 * `down` cleans up whatever state a cluster was left in: an `up` killed half-way (at several points), a
 * supervisor killed under its pods, an `up` interrupted with Ctrl-C (which cleans up by itself).
 */

import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ClusterReport } from '../../src/local/report.ts';
import { ambit, startAmbit } from '../support/cli.ts';
import { eventually } from '../support/eventually.ts';
import {
  isAlive,
  leftovers,
  makeStateRoot,
  NOTHING_LEFT,
  uniqueName,
  writeClusterFile,
} from '../support/local-cluster.ts';
import { clusterDoc, deploymentDoc, manifests } from '../support/manifests.ts';
import { canRunNetnsTests } from '../support/privileges.ts';

/** Enough pods that `up` takes a while, so it can be killed in the middle. */
const clusterYaml = (name: string, pods = 12) => manifests(clusterDoc(name), deploymentDoc('idle', pods));

const journalHas = (root: string, name: string, text: string) => {
  const journal = join(root, name, 'journal.jsonl');
  return existsSync(journal) && readFileSync(journal, 'utf8').includes(text);
};

describe.runIf(canRunNetnsTests())('ambit local: cleaning up after interruptions', () => {
  const root = makeStateRoot();
  const names: string[] = [];
  const newCluster = (prefix: string) => {
    const name = uniqueName(prefix);
    names.push(name);
    return { name, file: writeClusterFile(root, name, clusterYaml(name)) };
  };

  afterAll(async () => {
    for (const name of names) await ambit(['local', 'down', '--name', name], { stateRoot: root });
    rmSync(root, { recursive: true, force: true });
  });

  it.each([
    [
      'once namespaces are being created',
      (root: string, name: string) => journalHas(root, name, '"type":"netns"'),
    ],
    ['once the pods are wired', (root: string, name: string) => journalHas(root, name, '"type":"netns-etc"')],
    ['once the supervisor runs', (root: string, name: string) => existsSync(join(root, name, 'status.json'))],
  ])('removes everything of an up killed %s', async (_when, reached) => {
    const { name, file } = newCluster('it-kill');
    const up = startAmbit(['local', 'up', '-f', file], { stateRoot: root });
    await eventually(() => reached(root, name), { timeout: 20_000, what: 'up to reach the point' });
    up.child.kill('SIGKILL');
    await up.done;
    expect(leftovers(name, root).stateDir).toBe(true);
    const down = await ambit(['local', 'down', '--name', name], { stateRoot: root });
    expect(down.code, down.stderr).toBe(0);
    expect(leftovers(name, root)).toEqual(NOTHING_LEFT);
  });

  it('stops an up still running, then removes everything it created', async () => {
    const { name, file } = newCluster('it-race');
    const up = startAmbit(['local', 'up', '-f', file], { stateRoot: root });
    await eventually(() => journalHas(root, name, '"type":"netns"'), {
      timeout: 20_000,
      what: 'namespaces to be created',
    });
    const down = await ambit(['local', 'down', '--name', name], { stateRoot: root });
    expect(down.code, down.stderr).toBe(0);
    expect(down.stderr).toContain('stopping `ambit local up`');
    expect((await up.done).code).not.toBe(0);
    expect(leftovers(name, root)).toEqual(NOTHING_LEFT);
  });

  it('removes the pods of a cluster whose supervisor was killed', async () => {
    const { name, file } = newCluster('it-orphan');
    expect((await ambit(['local', 'up', '-f', file], { stateRoot: root })).code).toBe(0);
    const report = JSON.parse(
      (await ambit(['local', 'status', '--name', name, '-o', 'json'], { stateRoot: root })).stdout,
    ) as ClusterReport;
    const podPids = report.pods.map((pod) => pod.pid!);
    expect(podPids.every(isAlive)).toBe(true);
    process.kill(report.supervisor.pid!, 'SIGKILL');
    await eventually(() => !isAlive(report.supervisor.pid!), {
      timeout: 5000,
      what: 'the supervisor to die',
    });
    expect(podPids.every(isAlive)).toBe(true);
    const status = await ambit(['local', 'status', '--name', name], { stateRoot: root });
    expect(status.stdout).toContain('supervisor NOT RUNNING');
    expect((await ambit(['local', 'down', '--name', name], { stateRoot: root })).code).toBe(0);
    expect(leftovers(name, root)).toEqual(NOTHING_LEFT);
    expect(podPids.filter(isAlive)).toEqual([]);
  });

  it('rolls back by itself when up is interrupted with Ctrl-C', async () => {
    const { name, file } = newCluster('it-sigint');
    const up = startAmbit(['local', 'up', '-f', file], { stateRoot: root });
    await eventually(() => journalHas(root, name, '"type":"netns"'), {
      timeout: 20_000,
      what: 'namespaces to be created',
    });
    up.child.kill('SIGINT');
    const result = await up.done;
    expect(result.code).toBe(1);
    expect(result.stdout + result.stderr).toContain('interrupted');
    expect(leftovers(name, root)).toEqual(NOTHING_LEFT);
  });
});
