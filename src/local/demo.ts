/**
 * `ambit local demo` (`sudo npm run demo`): brings up the example cluster, shows requests crossing nodes
 * by pod IP in both directions, and tears the cluster down (or, with --keep, says how to).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { AmbitError, errorMessage } from '../core/errors.ts';
import type { EchoReport } from '../echo/http.ts';
import { meshTour } from './demo-mesh.ts';
import { waypointTour } from './demo-waypoint.ts';
import { down } from './down.ts';
import { execInPod } from './exec.ts';
import { defaultExtensionUrls } from './extensions.ts';
import { createProgress } from './progress.ts';
import { buildReport, renderReport } from './report.ts';
import { statePaths } from './state.ts';
import { describeState, readSupervisorStatus } from './supervisor/status.ts';
import type { ClusterState, PodRecord } from './types.ts';
import { up } from './up.ts';

export const DEMO_FILE = fileURLToPath(new URL('../../examples/demo-cluster.yaml', import.meta.url));

export interface DemoOptions {
  name?: string | undefined;
  keep: boolean;
  root: string;
}

export async function runDemo(options: DemoOptions): Promise<number> {
  if (spawnSync('curl', ['--version'], { stdio: 'ignore' }).status !== 0) {
    throw new AmbitError(
      'PREREQUISITE',
      'the demo uses curl inside the pods: install it (apt-get install curl)',
    );
  }
  const out = process.stdout;
  const progress = () => createProgress({ out: process.stderr, tty: process.stderr.isTTY === true });
  out.write(`Ambit local cluster demo: ${DEMO_FILE}\n\n`);
  const { cluster, elapsedMs } = await up({
    files: [DEMO_FILE],
    name: options.name,
    root: options.root,
    extensions: defaultExtensionUrls(),
    progress: progress(),
  });
  const paths = statePaths(cluster.stateDir);
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
  };
  process.on('SIGINT', onSignal);
  try {
    out.write(
      `\ncluster ${cluster.name} is up (${(elapsedMs / 1000).toFixed(1)} s)\n\n${renderReport(buildReport(cluster, paths))}\n`,
    );
    const client = demoPod(cluster, 'a pod named client', (p) => p.name === 'client');
    const far = demoPod(
      cluster,
      'an echo pod on another node',
      (p) => p.labels.app === 'echo' && p.node !== client.node,
    );
    const near = demoPod(
      cluster,
      "an echo pod on the client's node",
      (p) => p.labels.app === 'echo' && p.node === client.node,
    );
    // Out and back: client -> echo on the other node, then that echo pod -> echo on the client's node.
    const ok =
      (await podsReady(cluster, [client, far, near], () => interrupted)) &&
      (await request(cluster, client, far)) &&
      !interrupted &&
      (await request(cluster, far, near)) &&
      !interrupted &&
      (await meshTour(cluster, client, 'echo')) &&
      !interrupted &&
      (await waypointTour(cluster, client, 'echo'));
    out.write(
      ok
        ? "\nEvery request crossed the fabric between the two node namespaces with no NAT (each echo server saw\nthe calling pod's own IP) from the caller's ztunnel to the callee's over HBONE: mutual TLS with the\npods' SPIFFE identities, authorized by the destination ztunnel; by Service name, once the waypoint\nwas there, through it (routing and L7 policy per request).\n"
        : '\nA request failed: see above, and the pod logs (`ambit local logs <pod> -n demo`).\n',
    );
    if (options.keep && !interrupted) {
      out.write(
        `\nThe cluster is still up. Try:\n` +
          `  sudo npx ambit local status --name ${cluster.name}\n` +
          `  sudo npx ambit local exec client -n demo --name ${cluster.name} -- curl -s http://${far.ips[0]}:8080/?status=503\n` +
          `  sudo npx ambit local logs echo-v2 -n demo --name ${cluster.name}\n` +
          `  sudo npx ambit local exec client -n demo --name ${cluster.name} -- curl -s http://echo.demo/hello\n` +
          `  sudo npx ambit ztunnel-config certificates --name ${cluster.name}   # the mesh identities\n` +
          `  sudo npx ambit local logs node-agent --name ${cluster.name}   # the ztunnels' access logs\n` +
          `  sudo npx ambit control status --name ${cluster.name}   # the cluster's control plane\n` +
          `  sudo npx ambit waypoint list -A --cluster ${cluster.name}   # the demo namespace's waypoint\n` +
          `  sudo npx ambit local exec client -n demo --name ${cluster.name} -- curl -s -H 'x-canary: yes' http://echo.demo/   # v2\n` +
          `Remove it with: sudo npx ambit local down --name ${cluster.name}\n`,
      );
      return ok ? 0 : 1;
    }
    out.write('\ntearing the cluster down (keep it next time with `npm run demo -- --keep`)\n');
    return ok ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    if (!options.keep || interrupted) {
      const started = performance.now();
      await down(options.root, cluster.name, progress()).catch((error) =>
        process.stderr.write(
          `cleanup failed: ${errorMessage(error)}; run \`sudo npx ambit local down --name ${cluster.name}\`\n`,
        ),
      );
      out.write(`cluster ${cluster.name} removed (${Math.round(performance.now() - started)} ms)\n`);
    }
  }
}

/** How long the demo waits for its pods after `up` (which gives up sooner, and at a pod's first crash). */
const POD_READY_TIMEOUT_MS = 60_000;

/**
 * Waits until the pods the demo talks to run and listen: `up` returns once every process has settled, which
 * includes a pod that crashed once and is being restarted, or one still starting after its timeout.
 */
async function podsReady(
  cluster: ClusterState,
  pods: readonly PodRecord[],
  interrupted: () => boolean,
): Promise<boolean> {
  const paths = statePaths(cluster.stateDir);
  const deadline = Date.now() + POD_READY_TIMEOUT_MS;
  let reported = false;
  for (;;) {
    const processes = readSupervisorStatus(paths)?.processes ?? [];
    const late = pods.filter(
      (pod) => !processes.some((p) => p.podUid === pod.uid && p.state === 'running' && p.ready),
    );
    if (late.length === 0) return true;
    if (interrupted()) return false;
    const states = late.map((pod) => {
      const status = processes.find((p) => p.podUid === pod.uid);
      return `${pod.name} ${describeState(status)}${status?.message ? ` (${status.message})` : ''}`;
    });
    if (Date.now() > deadline) {
      process.stdout.write(`
the demo's pods are not ready after ${POD_READY_TIMEOUT_MS / 1000} s: ${states.join(', ')}
`);
      return false;
    }
    if (!reported)
      process.stdout.write(`
waiting for ${states.join(', ')}
`);
    reported = true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function demoPod(cluster: ClusterState, what: string, matches: (pod: PodRecord) => boolean): PodRecord {
  const found = cluster.pods.find(matches);
  if (!found) throw new AmbitError('CONFIG_INVALID', `the demo cluster file must have ${what}`);
  return found;
}

/** One HTTP request from `from` to `to` by pod IP, shown as the user would type it, with what came back. */
async function request(cluster: ClusterState, from: PodRecord, to: PodRecord): Promise<boolean> {
  const url = `http://${to.ips[0]}:8080/hello`;
  process.stdout.write(
    `\n${from.name} (${from.node}, ${from.ips[0]}) -> ${to.name} (${to.node}, ${to.ips[0]})\n` +
      `$ ambit local exec ${from.name} -n ${from.namespace} -- curl -s ${url}\n`,
  );
  const result = await execInPod(
    statePaths(cluster.stateDir),
    from,
    ['curl', '-sS', '--max-time', '5', url],
    {
      capture: true,
    },
  );
  if (result.code !== 0) {
    process.stdout.write(`request failed (curl exit status ${result.code})\n`);
    return false;
  }
  const report = JSON.parse(result.stdout) as EchoReport;
  process.stdout.write(
    `answered by pod ${report.pod} (namespace ${report.namespace}, node ${report.node}, version ${report.version});\n` +
      `it saw ${report.request.method} ${report.request.path} from ${report.request.source} on ${report.request.destination}\n`,
  );
  return report.pod === to.name && report.request.source.startsWith(`${from.ips[0]}:`);
}
