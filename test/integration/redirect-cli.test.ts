/**
 * The operator surfaces: `scripts/iptables/ambit-iptables` (a wrapper around `ambit redirect`) and the
 * standalone agent `ambit redirect agent`, run as the separate processes operators and the lead will run.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnrollmentClient } from '../../src/redirect/enroll/client.ts';
import { createNetnsPair, type NetnsPair, nsExec, uniqueSuffix } from '../support/netns-fixture.ts';
import { canRunNetnsTests } from '../support/privileges.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const wrapper = join(root, 'scripts/iptables/ambit-iptables');

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

function run(program: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(program, args, { encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ status: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe.runIf(canRunNetnsTests())('ambit-iptables wrapper', () => {
  let pair: NetnsPair;

  beforeAll(() => {
    pair = createNetnsPair('rw');
  });

  afterAll(() => pair?.destroy());

  it.each(['nft', 'iptables'])(
    'applies, lists, and removes with --backend %s, printing what it runs',
    async (backend) => {
      const ns = ['--netns', pair.pod, '--backend', backend];
      const dry = await run(wrapper, ['apply', ...ns, '--dry-run']);
      expect(dry.status).toBe(0);
      expect(dry.stderr).toContain(`redirect apply --netns ${pair.pod}`);
      expect(dry.stdout).toMatch(
        /# dry-run, not run:\nnsenter --net=\/run\/netns\/\S+ -- (nft -f -|ip(6)?tables-\w+-restore)/,
      );
      expect((await run(wrapper, ['list', ...ns, '--check'])).status).toBe(3); // the dry run changed nothing

      const applied = await run(wrapper, ['apply', ...ns]);
      expect(applied.status).toBe(0);
      expect(applied.stdout).toMatch(
        /ip -6 -force -batch - <<'AMBIT_EOF'\nrule add fwmark 0x111\/0xfff pref 32764 table 100/,
      );
      const listed = await run(wrapper, ['list', ...ns, '--check']);
      expect([listed.status, listed.stdout.trim().split('\n').at(-1)]).toEqual([0, '# in sync']);

      expect((await run(wrapper, ['remove', ...ns])).status).toBe(0);
      expect((await run(wrapper, ['list', ...ns, '--check'])).stdout).toMatch(/# not installed\n$/);
    },
  );

  it('refuses bad input before touching anything', async () => {
    const both = await run(wrapper, ['apply', '--netns', pair.pod, '--pid', '1']);
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/name exactly one namespace/);
    const backend = await run(wrapper, ['apply', '--netns', pair.pod, '--backend', 'pf']);
    expect([backend.status, backend.stderr]).toEqual([
      2,
      expect.stringMatching(/--backend "pf": expected one of/),
    ]);
    const missing = await run(wrapper, ['apply', '--netns', `ambit-none-${uniqueSuffix()}`]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/cannot open network namespace \/run\/netns\/ambit-none-\w+: ENOENT/);
  });
});

describe.runIf(canRunNetnsTests())('ambit redirect agent', () => {
  let pair: NetnsPair;
  let dir: string;
  let agent: ChildProcess;
  let socketPath: string;

  beforeAll(async () => {
    pair = createNetnsPair('ra');
    dir = mkdtempSync(join(tmpdir(), 'ambit-agent-cli-'));
    socketPath = join(dir, 'enroll.sock');
    agent = spawn(
      process.execPath,
      [join(root, 'bin/ambit.mjs'), 'redirect', 'agent', '--socket', socketPath],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, AMBIT_LOG_FORMAT: 'json' },
      },
    );
  });

  afterAll(() => {
    if (agent.exitCode === null) agent.kill('SIGKILL');
    pair?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves enrollment, captures with the plain listeners, and stops on SIGTERM', async () => {
    const client = new EnrollmentClient(socketPath, { requestTimeoutMs: 15_000 });
    try {
      await client.enroll({
        uid: 'default/cli',
        name: 'cli',
        namespace: 'default',
        serviceAccount: 'default',
        ips: [pair.podIp],
        netns: pair.podPath,
      });
      const answer = await nsExec(pair.pod, ['socat', '-T3', '-', 'TCP4:198.51.100.9:8443'], '');
      expect(JSON.parse(answer)).toMatchObject({
        listener: 'outbound',
        pod: 'default/cli',
        original: '198.51.100.9:8443',
      });
    } finally {
      client.close();
    }
    let logs = '';
    agent.stderr?.on('data', (chunk: Buffer) => {
      logs += chunk.toString();
    });
    agent.kill('SIGTERM');
    const [code] = await once(agent, 'exit');
    expect(code).toBe(0);
    expect(logs).toMatch(/"msg":"stopping/);
  });
});
