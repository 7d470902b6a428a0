/**
 * The mesh benchmark on a real 2-node local cluster, in one run: bulk throughput (1 and 8 streams) and
 * request/response with 1 KiB answers (1 and 32 connections: req/s, p50/p99) from a client pod on node-1 to
 * an app pod on node-2, over three paths across the same fabric:
 *   - direct: non-enrolled client -> non-enrolled app (plaintext, by pod IP);
 *   - Ambit: enrolled client -> its ztunnel (captured) -> HBONE mTLS -> the app node's ztunnel -> app
 *     (by ClusterIP);
 *   - stunnel: non-enrolled client -> stunnel4 in its netns -> TLS 1.3 mTLS -> stunnel4 in the app's netns
 *     -> app.
 * The load runs inside the client pod's namespace (`ip netns exec`, so that the pod's capture applies), the
 * app is a pod (`support/load-server.ts`). Reports ratios, proxy CPU per 1000 requests and per GiB (both
 * ztunnels, both stunnels) and the ztunnels' RSS. One cluster per HBONE implementation (our framer, then
 * `node:http2`), brought up one after the other in the same run; in each, the three paths take turns for
 * `--repetitions` rounds (default 3) and the medians are reported, with issue 9's targets. Traffic stays
 * inside the clusters' namespaces; each cluster is always taken down (also on error and Ctrl-C).
 *
 * Run as root: npm run bench:mesh -- [--seconds 5] [--repetitions 3]
 */

import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { HBONE_IMPLEMENTATIONS, type HboneImplementation } from '../src/core/hbone/implementation.ts';
import { TestCa } from '../test/support/test-ca.ts';
import { withBenchCluster } from './support/cluster.ts';
import { APP_PORTS, cpuMs, type LatencyResult, rssMiB, sleep } from './support/load.ts';
import type { LoadRun } from './support/load-client.ts';
import { fmt, medianResult, type PathResult, pathReport, targetReport } from './support/report.ts';
import { writeStunnelConfigs } from './support/stunnel.ts';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '5' }, repetitions: { type: 'string', default: '3' } },
});
const SECONDS = Number(values.seconds);
const REPETITIONS = Number(values.repetitions);
const LOAD_SERVER = new URL('./support/load-server.ts', import.meta.url).pathname;
const LOAD_CLIENT = new URL('./support/load-client.ts', import.meta.url).pathname;
/** stunnel listens on these in the app pod (TLS) and on loopback in the client pod (plaintext). */
const STUNNEL_PORTS = { sink: 16000, requestResponse: 16001 } as const;
const execFileAsync = promisify(execFile);

const appPod = (namespace: string) => `apiVersion: v1
kind: Pod
metadata: {name: app, namespace: ${namespace}, labels: {app: app}}
spec:
  nodeName: node-2
  serviceAccountName: app
  containers:
    - name: main
      command: [node, ${LOAD_SERVER}]
      ports: [{containerPort: ${APP_PORTS.sink}}, {containerPort: ${APP_PORTS.requestResponse}}, {containerPort: ${APP_PORTS.sinkCount}}]`;

const clientPod = (namespace: string) => `apiVersion: v1
kind: Pod
metadata: {name: client, namespace: ${namespace}}
spec:
  nodeName: node-1
  serviceAccountName: client
  containers: [{name: main, command: [sleep, infinity]}]`;

const clusterYaml = (name: string) =>
  [
    `apiVersion: ambit.dev/v1alpha1\nkind: Cluster\nmetadata: {name: ${name}}\nspec:\n  nodes: [{name: node-1}, {name: node-2}]`,
    'apiVersion: v1\nkind: Namespace\nmetadata: {name: mesh, labels: {istio.io/dataplane-mode: ambient}}',
    'apiVersion: v1\nkind: Namespace\nmetadata: {name: plain}',
    appPod('mesh'),
    clientPod('mesh'),
    appPod('plain'),
    clientPod('plain'),
    `apiVersion: v1
kind: Service
metadata: {name: app, namespace: mesh}
spec:
  selector: {app: app}
  ports:
${Object.entries(APP_PORTS)
  .map(([portName, port]) => `    - {name: ${portName.toLowerCase()}, port: ${port}, targetPort: ${port}}`)
  .join('\n')}`,
  ].join('\n---\n');

/** Where one path's load goes: from the client pod `netns` to host:ports; the sink count is read at countHost. */
interface LoadPath {
  name: 'direct' | 'Ambit' | 'stunnel';
  netns: string;
  host: string;
  ports: { sink: number; requestResponse: number };
  countHost: string;
  /** The proxies whose CPU this path costs (none for direct). */
  proxyPids: number[];
}

/** Runs one load in the path's client pod namespace (root, pod netns: the pod's capture applies). */
async function load(path: LoadPath, run: LoadRun): Promise<unknown> {
  const { stdout } = await execFileAsync(
    'ip',
    ['netns', 'exec', path.netns, process.execPath, LOAD_CLIENT, JSON.stringify(run)],
    { maxBuffer: 1 << 20 },
  );
  return JSON.parse(stdout);
}

const bulkRun = async (path: LoadPath, streams: number) =>
  (
    (await load(path, {
      mode: 'bulk',
      host: path.host,
      port: path.ports.sink,
      countHost: path.countHost,
      streams,
      seconds: SECONDS,
    })) as { mibPerSecond: number }
  ).mibPerSecond;

const rrRun = async (path: LoadPath, connections: number) =>
  (await load(path, {
    mode: 'rr',
    host: path.host,
    port: path.ports.requestResponse,
    connections,
    seconds: SECONDS,
  })) as LatencyResult;

/** Waits until something listens on TCP `port` in `netns` (we never dial into a namespace from here). */
async function waitForListener(netns: string, port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const out = execFileSync('ip', ['netns', 'exec', netns, 'ss', '-Hltn', `sport = :${port}`], {
      encoding: 'utf8',
    });
    if (out.trim() !== '') return;
    await sleep(50);
  }
  throw new Error(`nothing listens on port ${port} in ${netns}`);
}

/** An stunnel4 mTLS pair: client in `clientNetns` on loopback, server in `appNetns` on appIp, to the app. */
async function startStunnel(
  dir: string,
  clientNetns: string,
  appNetns: string,
  appIp: string,
): Promise<ChildProcess[]> {
  const configs = writeStunnelConfigs(
    dir,
    new TestCa('ambit mesh bench root'),
    (['sink', 'requestResponse'] as const).map((app) => ({
      name: app,
      clientAccept: `127.0.0.1:${STUNNEL_PORTS[app]}`,
      serverAccept: `${appIp}:${STUNNEL_PORTS[app]}`,
      appConnect: `127.0.0.1:${APP_PORTS[app]}`,
    })),
    'plain',
  );
  const start = (netns: string, side: 'client' | 'server') =>
    spawn('ip', ['netns', 'exec', netns, 'stunnel4', configs[side]], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  // `ip netns exec` execs stunnel4 in place: the child's pid is stunnel's.
  const procs = [start(appNetns, 'server'), start(clientNetns, 'client')];
  for (const port of Object.values(STUNNEL_PORTS)) {
    await waitForListener(appNetns, port);
    await waitForListener(clientNetns, port);
  }
  return procs;
}

interface ClusterResults {
  impl: HboneImplementation;
  direct: PathResult;
  mesh: PathResult;
  stunnel: PathResult;
  idleRss: number[];
  peakRss: number[];
}

/** One cluster whose ztunnels run `impl`: up, `REPETITIONS` rounds of the three paths taking turns, down. */
async function measureCluster(impl: HboneImplementation): Promise<ClusterResults> {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-mesh-bench-'));
  const stunnels: ChildProcess[] = [];
  const stopStunnels = () => {
    for (const p of stunnels) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  };
  let results: ClusterResults | undefined;
  await withBenchCluster(
    `bench-${impl}`,
    clusterYaml,
    async ({ report }) => {
      const pod = (namespace: string, podName: string) => {
        const found = report.pods.find((p) => p.namespace === namespace && p.name === podName);
        if (found?.status !== 'Running') throw new Error(`pod ${namespace}/${podName} is not running`);
        return found;
      };
      const meshMode = pod('mesh', 'client').mesh?.state;
      if (meshMode !== 'ambient') throw new Error(`mesh/client is not enrolled (${meshMode})`);
      const ztunnelPids = ['node-1', 'node-2'].map((node) => {
        const pid = report.system.find((p) => p.id === `node-agent/${node}`)?.pid;
        if (pid === undefined) throw new Error(`no ztunnel running on ${node}`);
        return pid;
      });
      const clusterIP = report.services.find((s) => s.namespace === 'mesh' && s.name === 'app')?.clusterIP;
      if (!clusterIP) throw new Error('service mesh/app has no ClusterIP');
      const plainApp = pod('plain', 'app');
      stunnels.push(...(await startStunnel(dir, pod('plain', 'client').netns, plainApp.netns, plainApp.ip)));

      const paths: LoadPath[] = [
        {
          name: 'direct',
          netns: pod('plain', 'client').netns,
          host: plainApp.ip,
          ports: APP_PORTS,
          countHost: plainApp.ip,
          proxyPids: [],
        },
        {
          name: 'Ambit',
          netns: pod('mesh', 'client').netns,
          host: clusterIP,
          ports: APP_PORTS,
          countHost: clusterIP,
          proxyPids: ztunnelPids,
        },
        {
          name: 'stunnel',
          netns: pod('plain', 'client').netns,
          host: '127.0.0.1',
          ports: STUNNEL_PORTS,
          countHost: plainApp.ip,
          proxyPids: stunnels.map((p) => p.pid!),
        },
      ];
      const idleRss = ztunnelPids.map(rssMiB);
      const runs = new Map<LoadPath['name'], PathResult[]>(paths.map((p) => [p.name, []]));
      let peakRss: number[] = [];
      for (let repetition = 0; repetition < REPETITIONS; repetition++) {
        const round = new Map<LoadPath['name'], Partial<PathResult>>(
          paths.map((p) => [p.name, { name: p.name === 'Ambit' ? `Ambit (${impl})` : p.name }]),
        );
        const at = (path: LoadPath) => round.get(path.name)!;
        const cpu = (path: LoadPath) => path.proxyPids.reduce((sum, pid) => sum + cpuMs(pid), 0);
        const step = `[${impl} ${repetition + 1}/${REPETITIONS}]`;
        // The three paths take turns within each kind of load, so that a machine's drift hits them alike.
        for (const streams of [1, 8] as const) {
          for (const path of paths) {
            process.stdout.write(`${step} bulk ${streams} stream(s) ${path.name}...\n`);
            const before = cpu(path);
            const mibPerSecond = await bulkRun(path, streams);
            at(path)[streams === 1 ? 'bulk1' : 'bulk8'] = mibPerSecond;
            if (streams === 8 && path.proxyPids.length) {
              at(path).cpuPerGiB = (cpu(path) - before) / 1000 / ((mibPerSecond * SECONDS) / 1024);
            }
          }
        }
        for (const connections of [1, 32] as const) {
          for (const path of paths) {
            process.stdout.write(`${step} request/response ${connections} connection(s) ${path.name}...\n`);
            const before = cpu(path);
            const result = await rrRun(path, connections);
            if (connections === 1) {
              at(path).rr1 = result;
            } else {
              at(path).rr32 = result;
              at(path).cpuPer1000 = path.proxyPids.length
                ? ((cpu(path) - before) / result.requests) * 1000
                : undefined;
              if (path.name === 'Ambit') peakRss = ztunnelPids.map(rssMiB);
            }
          }
        }
        for (const path of paths) runs.get(path.name)!.push(at(path) as PathResult);
      }
      const [direct, mesh, stunnel] = paths.map((p) => medianResult(runs.get(p.name)!)) as [
        PathResult,
        PathResult,
        PathResult,
      ];
      results = { impl, direct, mesh, stunnel, idleRss, peakRss };
    },
    stopStunnels,
    { AMBIT_HBONE_IMPL: impl },
  );
  if (!results) throw new Error(`no results from the ${impl} cluster`);
  return results;
}

async function main(): Promise<void> {
  const clusters: ClusterResults[] = [];
  for (const impl of HBONE_IMPLEMENTATIONS) clusters.push(await measureCluster(impl));
  const out = [
    `Mesh benchmark on a 2-node local cluster (client pod on node-1, app pod on node-2), ${SECONDS} s per measurement, medians of ${REPETITIONS} interleaved repetitions, one cluster per HBONE implementation, node ${process.versions.node}, ${cpus().length} CPUs`,
  ];
  for (const { impl, direct, mesh, stunnel, idleRss, peakRss } of clusters) {
    out.push(
      '',
      `HBONE on ${impl}:`,
      ...pathReport(direct, [mesh], stunnel),
      `ztunnel RSS (node-1 / node-2): before load ${idleRss.map((m) => fmt(m, 1)).join(' / ')} MiB, after 32-connection load ${peakRss.map((m) => fmt(m, 1)).join(' / ')} MiB`,
      ...targetReport({
        ambit: mesh,
        direct,
        stunnel,
        addedP50Us: {
          ambit: mesh.rr1.p50Us - direct.rr1.p50Us,
          stunnel: stunnel.rr1.p50Us - direct.rr1.p50Us,
        },
        idleTunnelsRssMiB: undefined,
      }),
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

await main();
