/**
 * A cluster extension for the integration test of the seams: a system process per node (an echo server on
 * port 15021 of the node's namespace, ready once it listens, as a control plane or ztunnel would be), a `prepare` that leaves a mark, and a
 * start gate that logs each call, holds every pod for 300 ms and refuses pod `flaky` twice.
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterExtension } from '../../src/local/extensions.ts';
import { systemProcess } from '../../src/local/processes.ts';

export const GATE_HOLD_MS = 300;

export const extension: ClusterExtension = {
  name: 'test-extension',
  async prepare({ cluster, paths }) {
    writeFileSync(join(paths.dir, 'prepared'), `${cluster.nodes.length} nodes\n`);
  },
  systemProcesses({ cluster, paths }) {
    return cluster.nodes.map((node) =>
      systemProcess(paths, {
        id: `probe/${node.name}`,
        node,
        argv: ['ambit', 'echo', '--host', '0.0.0.0', '--port', '15021', '--version', `probe-${node.name}`],
        readyPorts: [15021],
      }),
    );
  },
  async beforePodStart(pod, { paths }) {
    const log = join(paths.dir, 'gate.log');
    appendFileSync(log, `${JSON.stringify({ pod: pod.uid, at: Date.now() })}\n`);
    const calls = existsSync(log)
      ? readFileSync(log, 'utf8')
          .split('\n')
          .filter((line) => line.includes(`"${pod.uid}"`))
      : [];
    if (pod.name === 'flaky' && calls.length <= 2) throw new Error(`not yet (call ${calls.length})`);
    await new Promise((resolve) => setTimeout(resolve, GATE_HOLD_MS));
  },
};
