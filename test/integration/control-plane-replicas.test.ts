/**
 * Control-plane replicas in one local cluster: two replicas (n1 and n2) on one shared state directory, each
 * node's ztunnel given its own node's replica first. While a client loops over a Service, each replica in turn is
 * killed with -9 (the one the ztunnels are connected to): no request fails, the ztunnels move to the other
 * replica (the time is measured and printed, not asserted), a policy applied after the failover is
 * enforced by every ztunnel, a new pod gets its certificate from the surviving replica, and the killed
 * replica, restarted by the supervisor, catches up with the shared config and serves again.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlApiClient } from '../../src/core/control-api/client.ts';
import type { ControlStatus } from '../../src/core/control-api/types.ts';
import { type ControlPlaneReplica, controlPlaneReplicas } from '../../src/local/mesh/control-plane.ts';
import type { ClusterReport } from '../../src/local/report.ts';
import { clusterDir, readClusterState, statePaths } from '../../src/local/state.ts';
import { readSupervisorStatus } from '../../src/local/supervisor/status.ts';
import { ambit, killAll, startAmbit } from '../support/cli.ts';
import { eventually } from '../support/eventually.ts';
import {
  leftovers,
  makeStateRoot,
  NOTHING_LEFT,
  uniqueName,
  writeClusterFile,
} from '../support/local-cluster.ts';
import {
  authorizationPolicyDoc,
  clusterDoc,
  echoPod,
  manifests,
  namespaceDoc,
  podDoc,
  serviceDoc,
} from '../support/manifests.ts';
import { canRunNetnsTests } from '../support/privileges.ts';

const clusterYaml = (name: string) =>
  manifests(
    clusterDoc(name, { spec: { controlPlane: { replicas: 2 } } }),
    namespaceDoc('mesh', { ambient: true }),
    echoPod('echo-a', { namespace: 'mesh', node: 'n2', serviceAccount: 'echo', labels: { app: 'echo' } }),
    echoPod('echo-b', { namespace: 'mesh', node: 'n1', serviceAccount: 'echo', labels: { app: 'echo' } }),
    podDoc('client', { namespace: 'mesh', node: 'n1', serviceAccount: 'client' }),
    podDoc('prober', { namespace: 'mesh', node: 'n1', serviceAccount: 'prober' }),
    serviceDoc('echo', { namespace: 'mesh' }),
  );

/** At most this many requests in the loop: it is bounded even if the stop file never appears. */
const MAX_LOOP_REQUESTS = 20_000;

describe.runIf(canRunNetnsTests())('control-plane replicas', () => {
  const root = makeStateRoot();
  const name = uniqueName('it-cpr');
  const run = (...args: string[]) => ambit(args, { stateRoot: root });
  const local = (...args: string[]) => run('local', ...args, '--name', name);
  const report = async () => JSON.parse((await local('status', '-o', 'json')).stdout) as ClusterReport;
  const inPod = (pod: string, ...command: string[]) =>
    run('local', 'exec', pod, '-n', 'mesh', '--name', name, '--', ...command);
  /** The HTTP status of a GET from `pod` (0 when the connection failed or was refused). */
  const code = async (pod: string, url: string) =>
    Number((await inPod(pod, 'curl', '-s', '-o', '/dev/null', '-m', '5', '-w', '%{http_code}', url)).stdout);
  let replicas: ControlPlaneReplica[] = [];
  const replica = (id: string) => replicas.find((candidate) => candidate.id === id)!;
  const statusOf = (target: ControlPlaneReplica): Promise<ControlStatus> =>
    new ControlApiClient(target.socket, { timeoutMs: 2000 }).status();
  /** The replica whose discovery stream the ztunnel of `node` holds now, if any live one does. */
  const servingZtunnel = async (node: string): Promise<string | undefined> => {
    for (const candidate of replicas) {
      const status = await statusOf(candidate).catch(() => undefined);
      if (
        status?.clients.some((client) => client.kind === 'ztunnel' && client.node === node && client.inSync)
      )
        return candidate.id;
    }
    return undefined;
  };
  /** Certificates replica `target` has issued (its istiod-named counter, on its metrics port). */
  const issued = (target: ControlPlaneReplica): number => {
    const text = execFileSync(
      'ip',
      [
        'netns',
        'exec',
        target.node.netns,
        'curl',
        '-s',
        `http://${target.address.split(':')[0]}:15014/metrics`,
      ],
      { encoding: 'utf8' },
    );
    const line = text.split('\n').find((l) => l.startsWith('citadel_server_success_cert_issuance_count'));
    return Number(line?.split(' ').pop() ?? 0);
  };
  const pidOf = async (id: string) => (await report()).system.find((p) => p.id === id)?.pid;
  const applyYaml = async (file: string, yaml: string) => {
    const result = await run('apply', '-f', writeClusterFile(root, file, yaml), '--name', name);
    expect(result.code, result.stderr).toBe(0);
    return result.stdout;
  };

  const stopFile = join(root, `${name}.stop-loop`);
  let loop: ReturnType<typeof startAmbit> | undefined;

  beforeAll(async () => {
    const result = await run('local', 'up', '-f', writeClusterFile(root, name, clusterYaml(name)));
    expect(result.code, result.stderr).toBe(0);
    replicas = controlPlaneReplicas(readClusterState(statePaths(clusterDir(root, name)))!);
    expect(replicas.map((r) => [r.id, r.node.name])).toEqual([
      ['control-plane', 'n1'],
      ['control-plane/n2', 'n2'],
    ]);
  });

  afterAll(async () => {
    writeFileSync(stopFile, '');
    killAll();
    try {
      const result = await local('down');
      expect(result.code, result.stderr).toBe(0);
      expect(leftovers(name, root)).toEqual(NOTHING_LEFT);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('shows both replicas, and every ztunnel in sync with one of them', async () => {
    const system = (await report()).system.filter((p) => p.id.startsWith('control-plane'));
    expect(system.map((p) => [p.id, p.node, p.state, p.ready])).toEqual([
      ['control-plane', 'n1', 'running', true],
      ['control-plane/n2', 'n2', 'running', true],
    ]);
    // Which one: the first of its list that answered at its start (its own node's, unless that was late).
    for (const node of ['n1', 'n2'])
      await eventually(() => servingZtunnel(node), {
        timeout: 20_000,
        what: `the ztunnel of ${node} in sync`,
      });
    const text = await local('status');
    expect(text.stdout).toContain('control-plane/n2');
  });

  it('loses no request while each replica in turn is killed, and keeps config and identity working', async () => {
    expect(await code('prober', 'http://echo.mesh:80/')).toBe(200);
    loop = startAmbit(
      [
        'local',
        'exec',
        'client',
        '-n',
        'mesh',
        '--name',
        name,
        '--',
        'sh',
        '-c',
        `i=0; while [ ! -e '${stopFile}' ] && [ $i -lt ${MAX_LOOP_REQUESTS} ]; do curl -s -o /dev/null -m 5 -w '%{http_code}\\n' http://echo.mesh:80/; i=$((i+1)); done`,
      ],
      { stateRoot: root },
    );
    const failovers: string[] = [];
    const supervised = (id: string) =>
      readSupervisorStatus(statePaths(clusterDir(root, name)))?.processes.find((p) => p.id === id);
    /**
     * Kills `victim` with -9; resolves once every ztunnel is on another replica, and records how long that
     * took. `back` resolves with the time until the supervisor has it running and ready again, watched from
     * the kill on (read from the supervisor's status file: cheap enough to poll alongside the other steps):
     * the baseline, what the kill would cost a cluster with one control plane.
     */
    const killAndFailOver = async (victim: string) => {
      const pid = (await pidOf(victim))!;
      const killedAt = performance.now();
      process.kill(pid, 'SIGKILL');
      const back = eventually(
        () => {
          const latest = supervised(victim);
          return latest?.pid !== undefined && latest.pid !== pid && latest.ready
            ? Math.round(performance.now() - killedAt)
            : undefined;
        },
        { timeout: 60_000, interval: 50, what: `the supervisor to restart ${victim}` },
      );
      back.catch(() => {}); // awaited in `rejoins`; a failure before then is the test's own
      for (const node of ['n1', 'n2']) {
        const serving = await eventually(
          async () => {
            const id = await servingZtunnel(node);
            return id !== undefined && id !== victim ? id : undefined;
          },
          { timeout: 30_000, interval: 50, what: `the ztunnel of ${node} on a replica other than ${victim}` },
        );
        failovers.push(
          `${victim} killed: ztunnel ${node} on ${serving} after ${Math.round(performance.now() - killedAt)} ms`,
        );
      }
      return { back };
    };
    /** The supervisor restarts `id`; it comes back ready and holds the config revision of `survivor`. */
    const rejoins = async (id: string, killed: { back: Promise<number> }, survivor: string) => {
      failovers.push(
        `${id} restarted and ready ${await killed.back} ms after its kill (one control plane alone would be gone that long)`,
      );
      const revision = (await statusOf(replica(survivor))).revision;
      await eventually(async () => (await statusOf(replica(id))).revision === revision, {
        timeout: 15_000,
        what: `${id} to hold config revision ${revision}, as the survivor does`,
      });
    };

    // First the replica n1's ztunnel is on; every ztunnel ends up on the other, the survivor.
    const victim = (await servingZtunnel('n1'))!;
    const survivor = replicas.find((candidate) => candidate.id !== victim)!.id;
    const first = await killAndFailOver(victim);
    // A policy applied now (through whichever replica answers) is enforced by both ztunnels once apply has
    // waited for every replica's clients.
    const applied = await applyYaml(
      'deny-prober.yaml',
      manifests(
        authorizationPolicyDoc('deny-prober', {
          namespace: 'mesh',
          app: 'echo',
          action: 'DENY',
          principals: ['cluster.local/ns/mesh/sa/prober'],
        }),
      ),
    );
    expect(applied).toContain('data plane: 2 of 2 client(s) took version');
    const podIp = async (pod: string) => (await report()).pods.find((p) => p.name === pod)!.ip;
    for (const [pod, node] of [
      ['echo-a', 'n2'],
      ['echo-b', 'n1'],
    ] as const) {
      const url = `http://${await podIp(pod)}:8080/`;
      expect(await code('prober', url), `the ztunnel of ${node} denies the prober`).toBe(0);
      expect(await code('client', url)).toBe(200);
    }
    // A new pod on n1: its identity is signed by the replica its ztunnel's config comes from, the survivor.
    const issuedBefore = issued(replica(survivor));
    await applyYaml(
      'newcomer.yaml',
      manifests(podDoc('newcomer', { namespace: 'mesh', node: 'n1', serviceAccount: 'newcomer' })),
    );
    // A 200 alone is no proof: until its enrollment lands, a new pod's first connections are not captured yet
    // and reach the PERMISSIVE Service in plaintext. The survivor signing its identity is the proof.
    await eventually(
      async () =>
        (await code('newcomer', 'http://echo.mesh:80/')) === 200 && issued(replica(survivor)) > issuedBefore,
      { timeout: 30_000, what: 'the new pod to reach the Service with an identity the survivor signed' },
    );
    await rejoins(victim, first, survivor);

    // Then the survivor, which now serves both ztunnels: both move to the restarted replica.
    const second = await killAndFailOver(survivor);
    await rejoins(survivor, second, victim);

    writeFileSync(stopFile, '');
    const result = await loop.done;
    const codes = result.stdout.trim().split('\n');
    console.info(
      `control-plane failover (${codes.length} requests in the loop):\n  ${failovers.join('\n  ')}`,
    );
    expect(existsSync(stopFile)).toBe(true);
    expect(codes.length).toBeGreaterThan(10);
    expect(codes.filter((c) => c !== '200')).toEqual([]);
  });
});
