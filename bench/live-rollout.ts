/**
 * Rollout time of a 10-pod Deployment on a real 2-node local cluster, in one run: the baseline is the same
 * Deployment created from nothing (`ambit apply`, then `ambit local rollout status` until all 10 pods are
 * ready); then rolling updates of its template with the Kubernetes default strategy (maxSurge 25%,
 * maxUnavailable 25%) and with maxSurge 100% (all new pods at once), each timed from `apply` to a complete
 * rollout. Reports wall seconds, the ratio to the baseline, and the supervisor's CPU seconds per pod replaced
 * (steadier than wall time on a shared machine). Pods live in the cluster's namespaces only; the cluster is
 * always taken down (also on error and Ctrl-C).
 *
 * Run as root: npm run bench:rollout -- [--replicas 10] [--rounds 2]
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import type { ClusterReport } from '../src/local/report.ts';
import { ambit } from '../test/support/cli.ts';
import { makeStateRoot, uniqueName, writeClusterFile } from '../test/support/local-cluster.ts';
import { cpuMs } from './support/load.ts';
import { fmt } from './support/report.ts';

const { values } = parseArgs({
  options: { replicas: { type: 'string', default: '10' }, rounds: { type: 'string', default: '2' } },
});
const REPLICAS = Number(values.replicas);
const ROUNDS = Number(values.rounds);

const root = makeStateRoot();
const name = uniqueName('bench-rollout');
const run = async (...args: string[]) => {
  const result = await ambit(args, { stateRoot: root });
  if (result.code !== 0) throw new Error(`ambit ${args.join(' ')}: ${result.stderr || result.stdout}`);
  return result.stdout;
};

const deployment = (version: string, maxSurge: string) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'apps' },
  spec: {
    replicas: REPLICAS,
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge, maxUnavailable: '25%' } },
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: {
        containers: [
          {
            name: 'main',
            command: ['ambit', 'echo', '--port', '8080', '--version', version],
            ports: [{ name: 'http', containerPort: 8080 }],
          },
        ],
      },
    },
  },
});

async function supervisorPid(): Promise<number> {
  const report = JSON.parse(await run('local', 'status', '-o', 'json', '--name', name)) as ClusterReport;
  if (!report.supervisor.pid) throw new Error('the supervisor is not running');
  return report.supervisor.pid;
}

/** Applies the Deployment and waits for its rollout: wall seconds and supervisor CPU seconds. */
async function rollout(document: object): Promise<{ seconds: number; cpuSeconds: number }> {
  const file = join(root, 'web.yaml');
  writeFileSync(file, stringify(document));
  const pid = await supervisorPid();
  const cpuBefore = cpuMs(pid);
  const started = performance.now();
  await run('apply', '-f', file, '--name', name);
  await run('local', 'rollout', 'status', 'deployment/web', '-n', 'apps', '--timeout', '600', '--name', name);
  return { seconds: (performance.now() - started) / 1000, cpuSeconds: (cpuMs(pid) - cpuBefore) / 1000 };
}

async function main(): Promise<void> {
  const cluster = [
    {
      apiVersion: 'ambit.dev/v1alpha1',
      kind: 'Cluster',
      metadata: { name },
      spec: { nodes: [{ name: 'n1' }, { name: 'n2' }] },
    },
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'apps', labels: { 'istio.io/dataplane-mode': 'ambient' } },
    },
  ];
  await run(
    'local',
    'up',
    '-f',
    writeClusterFile(root, name, cluster.map((d) => stringify(d)).join('---\n')),
  );
  const rows: [string, { seconds: number; cpuSeconds: number }][] = [];
  const baseline = await rollout(deployment('v0', '25%'));
  rows.push([`create ${REPLICAS} pods (baseline)`, baseline]);
  let version = 0;
  for (let round = 0; round < ROUNDS; round++) {
    rows.push([`rolling update, maxSurge 25%`, await rollout(deployment(`v${++version}`, '25%'))]);
    rows.push([`rolling update, maxSurge 100%`, await rollout(deployment(`v${++version}`, '100%'))]);
  }
  process.stdout.write(
    `\nrollout of a ${REPLICAS}-pod Deployment (2 nodes, mesh enrolled), ${ROUNDS} round(s)\n\n`,
  );
  process.stdout.write(
    `${'what'.padEnd(34)}${'seconds'.padStart(9)}${'x baseline'.padStart(12)}${'CPU s/pod'.padStart(11)}\n`,
  );
  for (const [what, result] of rows) {
    process.stdout.write(
      `${what.padEnd(34)}${fmt(result.seconds, 1).padStart(9)}${fmt(result.seconds / baseline.seconds, 2).padStart(12)}${fmt(result.cpuSeconds / REPLICAS, 2).padStart(11)}\n`,
    );
  }
}

let downDone = false;
async function down(): Promise<void> {
  if (downDone) return;
  downDone = true;
  await ambit(['local', 'down', '--name', name], { stateRoot: root });
}
process.once('SIGINT', () => void down().finally(() => process.exit(130)));
main()
  .catch((error: unknown) => {
    process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(down);
