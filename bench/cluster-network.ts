/**
 * The local cluster's network benchmark, in one run on a 2-node cluster (client pods on node-1, the app on
 * node-2):
 *   - DNS: UDP A queries per second and p50/p99 from a pod outside the mesh to the cluster DNS, and from a
 *     mesh pod through its ztunnel's DNS proxy, for a Service name (answered by the ztunnel) and for a pod
 *     name (forwarded by the ztunnel to the cluster DNS); with the CPU the DNS servers spent per 1000
 *     queries (cluster DNS processes, ztunnels);
 *   - Service VIP connection cost: new TCP connections per second (connect, one 128 B -> 1 KiB exchange,
 *     reset) to the app's ClusterIP (kube-proxy DNAT) against the same to its pod IP, as a ratio.
 * Traffic stays inside the cluster's namespaces; the cluster is always taken down (also on error and Ctrl-C).
 *
 * Run as root: npm run bench:network -- [--seconds 3]
 */
import { execFile } from 'node:child_process';
import { cpus } from 'node:os';
import { parseArgs, promisify } from 'node:util';
import { withBenchCluster } from './support/cluster.ts';
import { APP_PORTS, cpuMs } from './support/load.ts';
import type { NetworkLoad, NetworkResult } from './support/network-load.ts';
import { fmt, ratio } from './support/report.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '3' } } });
const SECONDS = Number(values.seconds);
/** Interleaved rounds of the connection measurements (their tails are the noisiest). */
const ROUNDS = 3;
const LOAD_SERVER = new URL('./support/load-server.ts', import.meta.url).pathname;
const NETWORK_LOAD = new URL('./support/network-load.ts', import.meta.url).pathname;
const execFileAsync = promisify(execFile);

const clusterYaml = (name: string) =>
  [
    `apiVersion: ambit.dev/v1alpha1\nkind: Cluster\nmetadata: {name: ${name}}\nspec:\n  nodes: [{name: node-1}, {name: node-2}]`,
    'apiVersion: v1\nkind: Namespace\nmetadata: {name: mesh, labels: {istio.io/dataplane-mode: ambient}}',
    'apiVersion: v1\nkind: Namespace\nmetadata: {name: plain}',
    `apiVersion: v1
kind: Pod
metadata: {name: app, namespace: plain, labels: {app: app}}
spec:
  nodeName: node-2
  containers:
    - name: main
      command: [node, ${LOAD_SERVER}]
      ports: [{containerPort: ${APP_PORTS.requestResponse}}]`,
    ...['plain', 'mesh'].map(
      (namespace) => `apiVersion: v1
kind: Pod
metadata: {name: client, namespace: ${namespace}}
spec:
  nodeName: node-1
  containers: [{name: main, command: [sleep, infinity]}]`,
    ),
    `apiVersion: v1
kind: Service
metadata: {name: app, namespace: plain}
spec:
  selector: {app: app}
  ports: [{name: rr, port: ${APP_PORTS.requestResponse}}]`,
  ].join('\n---\n');

async function load(netns: string, run: NetworkLoad): Promise<NetworkResult> {
  const { stdout } = await execFileAsync(
    'ip',
    ['netns', 'exec', netns, process.execPath, NETWORK_LOAD, JSON.stringify(run)],
    {
      maxBuffer: 1 << 20,
    },
  );
  return JSON.parse(stdout) as NetworkResult;
}

/** Rounds of one measurement as one: the rate over all of them, the median round's percentiles. */
function combineRounds(rounds: readonly NetworkResult[]): NetworkResult {
  const median = (pick: (r: NetworkResult) => number) =>
    rounds.map(pick).sort((a, b) => a - b)[Math.floor(rounds.length / 2)]!;
  const requests = rounds.reduce((sum, r) => sum + r.requests, 0);
  const seconds = rounds.reduce((sum, r) => sum + r.requests / r.perSecond, 0);
  return {
    requests,
    perSecond: requests / seconds,
    p50Us: median((r) => r.p50Us),
    p99Us: median((r) => r.p99Us),
    failures: rounds.reduce((sum, r) => sum + r.failures, 0),
  };
}

interface Row {
  label: string;
  result: NetworkResult;
  /** CPU ms per 1000 queries of the servers on the path (DNS rows only). */
  cpuPer1000?: number | undefined;
}

const line = (cells: string[]) => `| ${cells.join(' | ')} |`;

async function main(): Promise<void> {
  await withBenchCluster('bench-net', clusterYaml, async ({ report }) => {
    const pod = (namespace: string, podName: string) => {
      const found = report.pods.find((p) => p.namespace === namespace && p.name === podName);
      if (!found?.ready) throw new Error(`pod ${namespace}/${podName} is not ready`);
      return found;
    };
    const plain = pod('plain', 'client');
    const mesh = pod('mesh', 'client');
    if (mesh.mesh?.state !== 'ambient') throw new Error('mesh/client is not enrolled');
    const app = pod('plain', 'app');
    const clusterIP = report.services.find((s) => s.name === 'app')!.clusterIP!;
    const systemPids = (prefix: string) =>
      report.system.filter((p) => p.id.startsWith(prefix) && p.pid !== undefined).map((p) => p.pid!);
    const dnsPids = systemPids('cluster-dns/');
    const ztunnelPids = systemPids('node-agent/');
    const dns = report.addresses.dnsVIP;
    const serviceName = 'app.plain.svc.cluster.local';
    const podName = `${app.ip.replaceAll('.', '-')}.plain.pod.cluster.local`;

    const dnsCases = [
      {
        label: 'plain pod -> cluster DNS (Service name)',
        netns: plain.netns,
        name: serviceName,
        pids: dnsPids,
      },
      {
        label: 'mesh pod -> ztunnel DNS proxy (Service name, answered by the ztunnel)',
        netns: mesh.netns,
        name: serviceName,
        pids: [...ztunnelPids, ...dnsPids],
      },
      {
        label: 'mesh pod -> ztunnel -> cluster DNS (pod name, forwarded)',
        netns: mesh.netns,
        name: podName,
        pids: [...ztunnelPids, ...dnsPids],
      },
    ];
    const rows: Row[] = [];
    for (const workers of [1, 16]) {
      for (const dnsCase of dnsCases) {
        process.stdout.write(`DNS ${workers} worker(s): ${dnsCase.label}...\n`);
        const cpu = () => dnsCase.pids.reduce((sum, pid) => sum + cpuMs(pid), 0);
        const before = cpu();
        const result = await load(dnsCase.netns, {
          mode: 'dns',
          server: dns,
          name: dnsCase.name,
          workers,
          seconds: SECONDS,
        });
        rows.push({
          label: `${dnsCase.label}, ${workers} in flight`,
          result,
          cpuPer1000: ((cpu() - before) / Math.max(1, result.requests)) * 1000,
        });
      }
    }
    const connectRows: Row[] = [];
    for (const workers of [1, 8]) {
      const paths = [
        { label: 'pod IP (direct)', host: app.ip, rounds: [] as NetworkResult[] },
        { label: 'ClusterIP (kube-proxy DNAT)', host: clusterIP, rounds: [] as NetworkResult[] },
      ];
      // Direct and VIP take turns, round after round, so that the machine's drift hits both alike.
      for (let round = 0; round < ROUNDS; round++) {
        for (const path of paths) {
          process.stdout.write(`connections ${workers} worker(s), round ${round + 1}: ${path.label}...\n`);
          path.rounds.push(
            await load(plain.netns, {
              mode: 'connect',
              host: path.host,
              port: APP_PORTS.requestResponse,
              workers,
              seconds: SECONDS,
            }),
          );
        }
      }
      for (const path of paths) {
        connectRows.push({
          label: `${path.label}, ${workers} in flight`,
          result: combineRounds(path.rounds),
        });
      }
    }

    const header = ['path', 'per second', 'p50 us', 'p99 us', 'failures'];
    const row = (r: Row, extra: string[] = []) =>
      line([
        r.label,
        fmt(r.result.perSecond),
        fmt(r.result.p50Us),
        fmt(r.result.p99Us),
        String(r.result.failures),
        ...extra,
      ]);
    const pairs = [0, 2].map((i) => [connectRows[i]!, connectRows[i + 1]!] as const);
    const out = [
      `Cluster network benchmark on a 2-node local cluster (clients on node-1, app on node-2), ${SECONDS} s per measurement, node ${process.versions.node}, ${cpus().length} CPUs`,
      '',
      'DNS (UDP A queries, closed loop)',
      '',
      line([...header, 'server CPU ms / 1000 queries']),
      line([...header, ''].map(() => '---')),
      ...rows.map((r) => row(r, [fmt(r.cpuPer1000 ?? 0, 1)])),
      '',
      `New TCP connections (connect, 128 B -> 1 KiB, reset), plain client pod, ${ROUNDS} interleaved rounds (rate over all, median round's percentiles)`,
      '',
      line(header),
      line(header.map(() => '---')),
      ...connectRows.map((r) => row(r)),
      '',
      ...pairs.map(
        ([direct, vip]) =>
          `VIP / direct at ${direct.label.split(', ')[1]}: connections/s ${ratio(vip.result.perSecond, direct.result.perSecond)}, p50 ${ratio(vip.result.p50Us, direct.result.p50Us)}, p99 ${ratio(vip.result.p99Us, direct.result.p99Us)}`,
      ),
    ];
    process.stdout.write(`${out.join('\n')}\n`);
  });
}

await main();
