/**
 * Enrollment in a real local cluster, driven through the `ambit` CLI: `up` enrolls the pods whose namespace
 * or own labels say ambient (rules and listeners in place before the pod starts), the plain capture
 * listeners of the node agent prove outbound, inbound and DNS capture with original destinations, labels
 * changed on the running cluster enroll and unenroll pods without restarting them, a restarted agent gets
 * its pods back, and a pod that cannot be captured is never started (fail closed). Both rule backends.
 * The clusters run the plain node agent (`AMBIT_NODE_AGENT=plain`, recorded at `up`) rather than the
 * ztunnel, because only it reports the original destinations it caught; the ztunnel's own capture is tested
 * end to end by `ztunnel-cluster.test.ts`.
 */

import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultExtensionUrls, extensionUrl } from '../../src/local/extensions.ts';
import { NODE_AGENT_ENV } from '../../src/local/mesh/node-agent.ts';
import { logFileFor } from '../../src/local/processes.ts';
import { silentProgress } from '../../src/local/progress.ts';
import type { ClusterReport } from '../../src/local/report.ts';
import { statePaths } from '../../src/local/state.ts';
import { up } from '../../src/local/up.ts';
import type { CaptureReport } from '../../src/redirect/plain-capture.ts';
import { ambit } from '../support/cli.ts';
import { eventually } from '../support/eventually.ts';
import { IPV6_ANNOTATION, setPodIpv6 } from '../support/ipv6-off-extension.ts';
import {
  isAlive,
  leftovers,
  makeStateRoot,
  NOTHING_LEFT,
  uniqueName,
  writeClusterFile,
} from '../support/local-cluster.ts';
import { clusterDoc, DATAPLANE_MODE, echoPod, manifests, namespaceDoc } from '../support/manifests.ts';
import { canRunNetnsTests } from '../support/privileges.ts';

// Read by `up` (in this process, and in the CLI processes, which inherit it).
process.env[NODE_AGENT_ENV] = 'plain';

/** How each backend's own tool shows the rules, and a line only our outbound capture rule contains. */
const BACKENDS = [
  { backend: 'nft', listRules: ['nft', 'list', 'ruleset'], outboundRule: 'redirect to :15001' },
  {
    backend: 'iptables-legacy',
    listRules: ['iptables-legacy-save'],
    outboundRule: '-j REDIRECT --to-ports 15001',
  },
] as const;

const clusterYaml = (name: string) =>
  manifests(
    clusterDoc(name),
    namespaceDoc('mesh', { ambient: true }),
    namespaceDoc('plain'),
    // Root, so that `exec` may list the rules with the backend's own tool.
    echoPod('a', { namespace: 'mesh', node: 'n1', tcp: true, runAsUser: 0 }),
    echoPod('b', { namespace: 'mesh', node: 'n2', tcp: true }),
    echoPod('out', { namespace: 'mesh', node: 'n1', tcp: true, labels: { [DATAPLANE_MODE]: 'none' } }),
    echoPod('c', { namespace: 'plain', node: 'n2', tcp: true, runAsUser: 0 }),
  );

/** Sends a line to ip:port from inside a pod and returns what came back. */
const TCP_EXCHANGE = ['sh', '-c', 'echo ping | socat -T5 - "TCP:$0:$1,connect-timeout=5"'];

describe.runIf(canRunNetnsTests())('local cluster enrollment', () => {
  for (const { backend, listRules, outboundRule } of BACKENDS) {
    describe(`with the ${backend} backend`, () => {
      const root = makeStateRoot();
      const name = uniqueName('it-enr');
      const run = (...args: string[]) => ambit(args, { stateRoot: root });
      const local = (...args: string[]) => ambit(['local', ...args, '--name', name], { stateRoot: root });
      const inPod = (pod: string, namespace: string, ...command: string[]) =>
        ambit(['local', 'exec', pod, '-n', namespace, '--name', name, '--', ...command], { stateRoot: root });
      const status = async () => JSON.parse((await local('status', '-o', 'json')).stdout) as ClusterReport;
      const pod = (report: ClusterReport, uid: string) => report.pods.find((p) => p.uid === uid)!;
      let report: ClusterReport;

      const exchange = async (from: string, namespace: string, ip: string, port: number) => {
        const result = await inPod(from, namespace, ...TCP_EXCHANGE, ip, String(port));
        expect(result.code, result.stderr).toBe(0);
        return result.stdout;
      };
      const captured = async (from: string, namespace: string, ip: string, port: number) =>
        JSON.parse(await exchange(from, namespace, ip, port)) as CaptureReport;
      const rulesIn = async (podName: string, namespace: string) => {
        const result = await inPod(podName, namespace, ...listRules);
        expect(result.code, result.stderr).toBe(0);
        return result.stdout;
      };
      /** Our rules as `ambit redirect list` sees them (works for any pod, whatever its user). */
      const listing = async (uid: string) => {
        const target = pod(report, uid);
        return run('redirect', 'list', '--netns', target.netns, '--backend', backend);
      };
      const dig = async (from: string, namespace: string, ...args: string[]) =>
        inPod(from, namespace, 'dig', '+short', '+time=2', '+tries=1', ...args, 'foo.bar', 'TXT');
      const digReport = (stdout: string) => JSON.parse(JSON.parse(stdout.trim()) as string) as CaptureReport;

      beforeAll(async () => {
        const file = writeClusterFile(root, name, clusterYaml(name));
        const result = await ambit(['local', 'up', '-f', file], {
          stateRoot: root,
          env: { AMBIT_REDIRECT_BACKEND: backend },
        });
        expect(result.code, result.stderr).toBe(0);
        report = await status();
      });

      afterAll(async () => {
        await ambit(['local', 'down', '--name', name], { stateRoot: root });
        rmSync(root, { recursive: true, force: true });
      });

      it('runs a node agent per node, with the backend chosen at up', () => {
        expect(report.system.map((p) => [p.id, p.node, p.status, p.ready])).toEqual([
          ['cluster-dns/n1', 'n1', 'Running', true],
          ['kube-proxy/n1', 'n1', 'Running', true],
          ['cluster-dns/n2', 'n2', 'Running', true],
          ['kube-proxy/n2', 'n2', 'Running', true],
          ['control-plane', 'n1', 'Running', true],
          ['node-agent/n1', 'n1', 'Running', true],
          ['node-agent/n2', 'n2', 'Running', true],
        ]);
        for (const agent of report.system.filter((p) => p.id.startsWith('node-agent/'))) {
          const cmdline = readFileSync(`/proc/${agent.pid}/cmdline`, 'utf8').split('\0');
          expect(cmdline).toEqual(
            expect.arrayContaining([
              'redirect',
              'agent',
              '--socket',
              join(root, name, agent.node!, 'enroll.sock'),
              '--backend',
              backend,
            ]),
          );
        }
      });

      it('enrolls exactly the pods whose labels say so, each before its process started', () => {
        expect(report.pods.map((p) => [p.uid, p.status, p.restarts, p.mesh?.state])).toEqual([
          ['mesh/a', 'Running', 0, 'ambient'],
          ['mesh/b', 'Running', 0, 'ambient'],
          ['mesh/out', 'Running', 0, 'none'],
          ['plain/c', 'Running', 0, 'none'],
        ]);
        const paths = statePaths(join(root, name));
        const events = (file: string) =>
          readFileSync(file, 'utf8')
            .trim()
            .split('\n')
            .map((line) => JSON.parse(line) as { time: string; msg: string; pod?: string; id?: string });
        for (const [uid, node] of [
          ['mesh/a', 'n1'],
          ['mesh/b', 'n2'],
        ] as const) {
          const capturedAt = events(logFileFor(paths, `node-agent/${node}`)).find(
            (e) => e.msg === 'pod captured' && e.pod === uid,
          )?.time;
          const startedAt = events(paths.supervisorLog).find(
            (e) => e.msg === 'started' && e.id === `pod/${uid}`,
          )?.time;
          expect(capturedAt).toBeDefined();
          expect(startedAt).toBeDefined();
          expect(Date.parse(startedAt!)).toBeGreaterThanOrEqual(Date.parse(capturedAt!));
        }
      });

      it('shows the capture rules in an enrolled pod and none in the others', async () => {
        expect(await rulesIn('a', 'mesh')).toContain(outboundRule);
        const plain = await rulesIn('c', 'plain');
        expect(plain).not.toContain('15001');
        expect(plain.toLowerCase()).not.toContain('ambit');
        // The non-root pods, through the redirect CLI: b is captured and in sync, the opted-out pod is not.
        const b = await listing('mesh/b');
        expect(b.stdout).toContain(outboundRule);
        expect(b.stdout).toContain('# in sync');
        expect((await listing('mesh/out')).stdout).toContain('# not installed');
        const table = (await local('status')).stdout;
        expect(table).toMatch(/^mesh\s+a\s.*\sambient\s/m);
        expect(table).toMatch(/^plain\s+c\s.*\snone\s/m);
      });

      it('captures outbound TCP on 15001 and recovers the original destination', async () => {
        const [a, c] = [pod(report, 'mesh/a'), pod(report, 'plain/c')];
        expect(await captured('a', 'mesh', c.ip, 9000)).toMatchObject({
          listener: 'outbound',
          pod: 'mesh/a',
          protocol: 'tcp',
          peer: expect.stringMatching(`^${a.ip}:`),
          local: expect.stringMatching(/:15001$/),
          original: `${c.ip}:9000`,
        });
        // Across nodes, from a pod running as nobody, to an enrolled pod: the source's outbound catches it.
        expect(await captured('b', 'mesh', a.ip, 8080)).toMatchObject({
          listener: 'outbound',
          pod: 'mesh/b',
          original: `${a.ip}:8080`,
        });
      });

      it('captures inbound TCP on 15006 with the original destination and the real peer', async () => {
        const [a, c] = [pod(report, 'mesh/a'), pod(report, 'plain/c')];
        expect(await captured('c', 'plain', a.ip, 8080)).toMatchObject({
          listener: 'inbound',
          pod: 'mesh/a',
          peer: expect.stringMatching(`^${c.ip}:`),
          local: `${a.ip}:15006`,
          original: `${a.ip}:8080`,
        });
      });

      it('leaves traffic between pods that are not enrolled alone', async () => {
        const out = pod(report, 'mesh/out');
        expect(await exchange('c', 'plain', out.ip, 9000)).toBe('ping\n');
      });

      it('captures DNS on 15053, over UDP and over TCP (with its original destination)', async () => {
        // The pod's resolv.conf names the cluster DNS VIP; for enrolled pods the capture answers first.
        const udp = await dig('b', 'mesh');
        expect(udp.code, udp.stderr).toBe(0);
        expect(digReport(udp.stdout)).toMatchObject({
          listener: 'dns',
          pod: 'mesh/b',
          protocol: 'udp',
          local: '127.0.0.1:15053',
        });
        const tcp = await dig('a', 'mesh', '+tcp', `@${report.addresses.dnsVIP}`);
        expect(tcp.code, tcp.stderr).toBe(0);
        expect(digReport(tcp.stdout)).toMatchObject({
          listener: 'dns',
          pod: 'mesh/a',
          protocol: 'tcp',
          original: `${report.addresses.dnsVIP}:53`,
        });
        // A pod that is not enrolled gets the cluster DNS itself: NXDOMAIN (no records), no capture report.
        const uncaptured = await dig('c', 'plain');
        expect(uncaptured.code, uncaptured.stderr).toBe(0);
        expect(uncaptured.stdout.trim()).toBe('');
      });

      it('enrolls and unenrolls a running pod when labels change, without restarting it', async () => {
        const a = pod(report, 'mesh/a');
        const before = pod(await status(), 'plain/c');
        expect(before.pid).toBeDefined();

        const enroll = await local('label', 'namespace', 'plain', `${DATAPLANE_MODE}=ambient`);
        expect(enroll.code, enroll.stderr).toBe(0);
        expect(enroll.stdout).toBe('namespace/plain labeled\npod plain/c: mesh ambient\n');
        expect(await rulesIn('c', 'plain')).toContain(outboundRule);
        expect(await captured('c', 'plain', a.ip, 9000)).toMatchObject({
          listener: 'outbound',
          pod: 'plain/c',
          original: `${a.ip}:9000`,
        });

        // kubectl's rule: changing a value needs --overwrite; refused, nothing changes.
        const refused = await local('label', 'ns', 'plain', `${DATAPLANE_MODE}=none`);
        expect(refused.code).toBe(1);
        expect(refused.stderr).toContain(
          `'${DATAPLANE_MODE}' already has a value (ambient), and --overwrite is false`,
        );
        expect(pod(await status(), 'plain/c').mesh?.state).toBe('ambient');

        // The pod's own label wins over its namespace's.
        const optOut = await local('label', 'pod', 'c', '-n', 'plain', `${DATAPLANE_MODE}=none`);
        expect(optOut.stdout).toBe('pod/c labeled\npod plain/c: mesh none\n');
        expect(await rulesIn('c', 'plain')).not.toContain('15001');
        const back = await local('label', 'pod/c', '-n', 'plain', `${DATAPLANE_MODE}-`);
        expect(back.stdout).toBe('pod/c unlabeled\npod plain/c: mesh ambient\n');
        expect(await rulesIn('c', 'plain')).toContain(outboundRule);

        const unenroll = await local('label', 'namespace', 'plain', `${DATAPLANE_MODE}-`);
        expect(unenroll.code, unenroll.stderr).toBe(0);
        expect(unenroll.stdout).toBe('namespace/plain unlabeled\npod plain/c: mesh none\n');
        expect(await rulesIn('c', 'plain')).not.toContain('15001');
        expect(await exchange('c', 'plain', pod(report, 'mesh/out').ip, 9000)).toBe('ping\n');

        const after = pod(await status(), 'plain/c');
        expect([after.pid, after.restarts, after.status, after.mesh?.state]).toEqual([
          before.pid,
          0,
          'Running',
          'none',
        ]);
        // The record keeps the labels (status and a restarted supervisor read it).
        const record = JSON.parse(readFileSync(statePaths(join(root, name)).cluster, 'utf8')) as {
          namespaces: { name: string; labels: Record<string, string> }[];
        };
        expect(record.namespaces.find((n) => n.name === 'plain')?.labels).toEqual({});
      });

      it('refuses bad label commands without changing anything', async () => {
        const badKey = await local('label', 'ns', 'plain', 'bad key=x');
        expect(badKey.code).toBe(2);
        expect(badKey.stderr).toContain('invalid label key');
        const noTarget = await local('label', 'namespace', 'nowhere', 'a=b');
        expect(noTarget.code).toBe(1);
        expect(noTarget.stderr).toContain('no namespace nowhere');
        const kind = await local('label', 'service', 'x', 'a=b');
        expect(kind.code).toBe(2);
        expect(kind.stderr).toContain('labels pods and namespaces');
      });

      it('gives a restarted node agent its pods back', async () => {
        const [a, b] = [pod(report, 'mesh/a'), pod(report, 'mesh/b')];
        const agent = (await status()).system.find((p) => p.id === 'node-agent/n2')!;
        process.kill(agent.pid!, 'SIGKILL');
        await eventually(
          () => {
            const now = JSON.parse(readFileSync(statePaths(join(root, name)).status, 'utf8')) as {
              processes: { id: string; restarts: number; ready: boolean }[];
            };
            const entry = now.processes.find((p) => p.id === 'node-agent/n2')!;
            return entry.restarts === 1 && entry.ready;
          },
          { timeout: 15_000, what: 'the node agent to be restarted' },
        );
        // The runtime resynced it: b is captured again, by the new agent, with its rules untouched. (Until
        // the resync, b's connections are refused: the rules stay while nobody listens.)
        const again = await eventually(
          async () => {
            const exchanged = await inPod('b', 'mesh', ...TCP_EXCHANGE, a.ip, '8080');
            return exchanged.code === 0 && exchanged;
          },
          { timeout: 5_000, interval: 250, what: 'b captured again after the resync' },
        );
        expect(JSON.parse(again.stdout)).toMatchObject({
          listener: 'outbound',
          pod: 'mesh/b',
          original: `${a.ip}:8080`,
        });
        // The listeners open before the (already present) rules are re-applied and the capture is logged.
        const runs = await eventually(
          () => {
            const agentLog = readFileSync(logFileFor(statePaths(join(root, name)), 'node-agent/n2'), 'utf8');
            const split = agentLog.split('"msg":"serving enrollment"');
            return /"msg":"pod captured","pod":"mesh\/b"/.test(split[2] ?? '') ? split : undefined;
          },
          { timeout: 5_000, what: 'the new agent to log the capture of mesh/b' },
        );
        expect(runs).toHaveLength(3);
        expect((await listing('mesh/b')).stdout).toContain('# in sync');
        expect(pod(await status(), 'mesh/b')).toMatchObject({ restarts: 0, mesh: { state: 'ambient' } });
        expect(b.pid).toBe(pod(await status(), 'mesh/b').pid);
      });

      it('leaves nothing behind at down', async () => {
        const latest = await status();
        const pids = [latest.supervisor.pid!, ...latest.system.map((p) => p.pid!)];
        const result = await ambit(['local', 'down', '--name', name], { stateRoot: root });
        expect(result.code, result.stderr).toBe(0);
        expect(leftovers(name, root)).toEqual(NOTHING_LEFT);
        expect(pids.filter(isAlive)).toEqual([]);
      });
    });
  }

  describe('when a pod cannot be captured', () => {
    const root = makeStateRoot();
    const name = uniqueName('it-enrf');
    const local = (...args: string[]) => ambit(['local', ...args, '--name', name], { stateRoot: root });
    const status = async () => JSON.parse((await local('status', '-o', 'json')).stdout) as ClusterReport;
    const blockedOf = (report: ClusterReport) => report.pods.find((p) => p.uid === 'mesh/blocked')!;
    let netns = '';

    beforeAll(async () => {
      const yaml = manifests(
        clusterDoc(name, { nodes: ['n1'] }),
        namespaceDoc('mesh', { ambient: true }),
        echoPod('blocked', {
          namespace: 'mesh',
          node: 'n1',
          tcp: true,
          annotations: { [IPV6_ANNOTATION]: 'off' },
        }),
        echoPod('fine', { namespace: 'mesh', node: 'n1', tcp: true }),
      );
      const { cluster } = await up({
        files: [writeClusterFile(root, name, yaml)],
        root,
        extensions: [
          ...defaultExtensionUrls(),
          extensionUrl(new URL('../support/ipv6-off-extension.ts', import.meta.url).pathname),
        ],
        progress: silentProgress,
        // `blocked` never settles; no need to wait long for it.
        startTimeoutMs: 3000,
      });
      netns = cluster.pods.find((p) => p.name === 'blocked')!.netns;
    });

    afterAll(async () => {
      await ambit(['local', 'down', '--name', name], { stateRoot: root });
      rmSync(root, { recursive: true, force: true });
    });

    it('does not start the pod, and says why in status', async () => {
      // `up` stopped waiting after 3 s: wait for the outcome itself (the other pod up, this one refused).
      const report = await eventually(
        async () => {
          const now = await status();
          const fine = now.pods.find((p) => p.uid === 'mesh/fine');
          return fine?.status === 'Running' && blockedOf(now).mesh?.state === 'error' && now;
        },
        { what: 'fine running and blocked refused', timeout: 30_000 },
      );
      const blocked = blockedOf(report);
      expect(blocked).toMatchObject({ state: 'waiting', status: 'Pending' });
      expect(blocked.pid).toBeUndefined();
      expect(blocked.mesh?.state).toBe('error');
      expect(blocked.mesh?.message).toContain('IPv6 is disabled');
      expect(blocked.message).toMatch(/^start gate failed .*IPv6 is disabled/);
      // Nothing runs in its namespace, and no half-installed rule is left there. The gate is retried with
      // backoff, and each attempt briefly runs the rule tools in that namespace: so this holds between
      // attempts (the pod's own process, were it started, would never leave).
      await eventually(
        async () =>
          execFileSync('ip', ['netns', 'pids', netns], { encoding: 'utf8' }).trim() === '' &&
          (await ambit(['redirect', 'list', '--netns', netns], { stateRoot: root })).stdout.includes(
            '# not installed',
          ),
        { what: 'an empty pod namespace without rules between two gate attempts' },
      );
      // Other pods are not held back by it.
      expect(report.pods.find((p) => p.uid === 'mesh/fine')).toMatchObject({
        status: 'Running',
        mesh: { state: 'ambient' },
      });
      const table = (await local('status')).stdout;
      expect(table).toMatch(/^mesh\s+blocked\s.*\sPending\s+0\s+error\s/m);
      expect(table).toMatch(/^mesh\/blocked: start gate failed .*IPv6 is disabled/m);
    });

    it('starts it once it can be captured (the gate is retried)', async () => {
      setPodIpv6(netns, true);
      const started = await eventually(
        () => {
          const file = statePaths(join(root, name)).status;
          const now = JSON.parse(readFileSync(file, 'utf8')) as {
            processes: { podUid?: string; state: string; mesh?: { state: string } }[];
          };
          const entry = now.processes.find((p) => p.podUid === 'mesh/blocked')!;
          return entry.state === 'running' ? entry : undefined;
        },
        { timeout: 20_000, what: 'the blocked pod to start' },
      );
      expect(started.mesh?.state).toBe('ambient');
      expect((await ambit(['redirect', 'list', '--netns', netns], { stateRoot: root })).stdout).toContain(
        '# in sync',
      );
    });

    it('leaves nothing behind at down', async () => {
      expect((await ambit(['local', 'down', '--name', name], { stateRoot: root })).code).toBe(0);
      expect(leftovers(name, root)).toEqual(NOTHING_LEFT);
    });
  });
});
