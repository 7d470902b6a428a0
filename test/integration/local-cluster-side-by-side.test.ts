/**
 * Two clusters from the same file (same address ranges, same pod names) run side by side: each is reachable
 * only inside itself, removing one leaves the other working and its ranges still guarded.
 */

import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EchoReport } from '../../src/echo/http.ts';
import { routeMetric } from '../../src/local/names.ts';
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

const clusterYaml = manifests(
  clusterDoc('twin'),
  podDoc('server', {
    node: 'n2',
    command: ['ambit', 'echo', '--port', '8080', '--version', '$(CLUSTER)'],
    env: { CLUSTER: 'unknown' },
    ports: { http: 8080 },
  }),
  podDoc('client', { node: 'n1' }),
);

describe.runIf(canRunNetnsTests())('ambit local: two clusters side by side', () => {
  const root = makeStateRoot();
  const first = uniqueName('it-twin');
  const second = uniqueName('it-twin');

  beforeAll(async () => {
    // Each cluster's server reports its cluster's name as its version, to tell the answers apart.
    const files = [first, second].map((name) =>
      writeClusterFile(root, name, clusterYaml.replace('value: unknown', `value: ${name}`)),
    );
    const results = await Promise.all([
      ambit(['local', 'up', '-f', files[0]!, '--name', first], { stateRoot: root }),
      ambit(['local', 'up', '-f', files[1]!, '--name', second], { stateRoot: root }),
    ]);
    for (const result of results) expect(result.code, result.stderr).toBe(0);
  });

  afterAll(async () => {
    await ambit(['local', 'down', '--all'], { stateRoot: root });
    rmSync(root, { recursive: true, force: true });
  });

  const ask = async (cluster: string) => {
    const result = await ambit(
      [
        'local',
        'exec',
        'client',
        '--name',
        cluster,
        '--',
        'curl',
        '-sS',
        '--max-time',
        '5',
        'http://10.244.1.2:8080/',
      ],
      { stateRoot: root },
    );
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as EchoReport;
  };

  it('gives each cluster the same addresses, each reaching only its own pods', async () => {
    expect((await ask(first)).version).toBe(first);
    expect((await ask(second)).version).toBe(second);
  });

  it('asks which cluster is meant when several exist', async () => {
    const status = await ambit(['local', 'status'], { stateRoot: root });
    expect(status.code).toBe(2);
    expect(status.stderr).toContain(
      `2 local clusters exist (${[first, second].sort().join(', ')}): pick one with --name`,
    );
  });

  it('keeps the other cluster working and guarded when one goes down', async () => {
    expect((await ambit(['local', 'down', '--name', first], { stateRoot: root })).code).toBe(0);
    expect(leftovers(first, root)).toEqual(NOTHING_LEFT);
    expect((await ask(second)).version).toBe(second);
    const routes = execFileSync('ip', ['route', 'show', 'proto', '147'], { encoding: 'utf8' });
    for (const range of ['10.250.0.0/24', '10.244.0.0/16', '10.96.0.0/16']) {
      expect(routes).toContain(`unreachable ${range} metric ${routeMetric(second)}`);
    }
    expect((await ambit(['local', 'down'], { stateRoot: root })).code).toBe(0);
    expect(leftovers(second, root)).toEqual(NOTHING_LEFT);
  });
});
