/**
 * A benchmark's local cluster: brought up from a cluster file, its status read, and always taken down
 * afterwards, also on error and on Ctrl-C (with the benchmark's own cleanup first).
 */
import { rmSync } from 'node:fs';
import type { ClusterReport } from '../../src/local/report.ts';
import { ambit } from '../../test/support/cli.ts';
import { makeStateRoot, uniqueName, writeClusterFile } from '../../test/support/local-cluster.ts';

export interface BenchCluster {
  name: string;
  report: ClusterReport;
}

export async function withBenchCluster(
  prefix: string,
  clusterYaml: (name: string) => string,
  body: (cluster: BenchCluster) => Promise<void>,
  beforeDown: () => void = () => {},
  /** Added to the environment of `ambit local up` (e.g. AMBIT_HBONE_IMPL, recorded for the node agents). */
  env: NodeJS.ProcessEnv = {},
): Promise<void> {
  const root = makeStateRoot();
  const name = uniqueName(prefix);
  let cleaning: Promise<void> | undefined;
  const cleanup = () => {
    cleaning ??= (async () => {
      beforeDown();
      const down = await ambit(['local', 'down', '--name', name], { stateRoot: root });
      if (down.code !== 0) process.stderr.write(`ambit local down failed: ${down.stderr}\n`);
      rmSync(root, { recursive: true, force: true });
    })();
    return cleaning;
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`${signal}: taking the cluster down\n`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  try {
    process.stdout.write(`bringing up local cluster ${name}...\n`);
    const up = await ambit(['local', 'up', '-f', writeClusterFile(root, name, clusterYaml(name))], {
      stateRoot: root,
      env,
    });
    if (up.code !== 0) throw new Error(`ambit local up failed: ${up.stderr}`);
    const report = JSON.parse(
      (await ambit(['local', 'status', '--name', name, '-o', 'json'], { stateRoot: root })).stdout,
    ) as ClusterReport;
    await body({ name, report });
  } finally {
    await cleanup();
  }
}
