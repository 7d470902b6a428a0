/**
 * Interception benchmarks (run as root: `npm run bench:redirect`, or `node bench/redirect.ts [--pods N]
 * [--connections N] [--backends nft,iptables-nft,iptables-legacy]`).
 *
 * 1. Enrollment cost on one node: N pods (default 100), each enrolled through the real protocol (rules +
 *    the plain capture listeners: 15001, 15006, 15008, DNS 15053 TCP+UDP) and removed again; sequential
 *    latency per pod and the wall time of all N at once, per backend. Baseline in the same run: one bare
 *    `nsenter --net=<pod> true`, the floor of anything that runs a tool inside a pod.
 * 2. Capture overhead: M short TCP connections (default 10k, 32 at a time) from an app process in a pod,
 *    each answered with one line and closed: direct to a server in the neighbouring namespace, versus
 *    captured by REDIRECT and answered by the 15001 listener (which also reads SO_ORIGINAL_DST).
 *
 * Everything runs in namespaces this script creates and removes; no packet leaves the machine.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { configureLogging } from '../src/core/log.ts';
import { listenTcp, Netns } from '../src/core/sys/netns-socket.ts';
import { CaptureAgent } from '../src/redirect/agent.ts';
import type { BackendName } from '../src/redirect/backend/types.ts';
import { EnrollmentClient } from '../src/redirect/enroll/client.ts';
import type { EnrolledPod } from '../src/redirect/enroll/protocol.ts';
import { EnrollmentServer } from '../src/redirect/enroll/server.ts';
import { PlainCaptureHandler } from '../src/redirect/plain-capture.ts';
import { applyRules, removeRules } from '../src/redirect/rules.ts';

configureLogging({ write: () => {} });

const { values } = parseArgs({
  options: {
    pods: { type: 'string', default: '100' },
    connections: { type: 'string', default: '10000' },
    backends: { type: 'string', default: 'nft,iptables-nft,iptables-legacy' },
  },
});
const POD_COUNT = Number(values.pods);
const CONNECTIONS = Number(values.connections);
const BACKENDS = values.backends.split(',') as BackendName[];
const id = Math.random().toString(16).slice(2, 8);
const created: string[] = [];

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

function addNetns(name: string): string {
  ip('netns', 'add', name);
  created.push(name);
  ip('-n', name, 'link', 'set', 'lo', 'up');
  return `/run/netns/${name}`;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

const ms = (value: number) => `${value.toFixed(1)} ms`;

async function enrollmentBench(): Promise<Record<string, unknown>> {
  const pods: EnrolledPod[] = [];
  const node = `bn-${id}`;
  addNetns(node);
  for (let i = 0; i < POD_COUNT; i++) {
    const name = `bp${i}-${id}`;
    const netns = addNetns(name);
    // Like a pod on a node: a veth whose other end is in the node's namespace.
    ip('link', 'add', `b${id}n${i}`, 'netns', node, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name);
    ip('-n', name, 'addr', 'add', `10.250.${i >> 8}.${(i & 255) + 1}/16`, 'dev', 'eth0');
    ip('-n', name, 'link', 'set', 'eth0', 'up');
    pods.push({
      uid: `bench/${name}`,
      name,
      namespace: 'bench',
      serviceAccount: 'bench',
      ips: [`10.250.${i >> 8}.${(i & 255) + 1}`],
      netns,
    });
  }
  const floor: number[] = [];
  for (const pod of pods.slice(0, 20)) {
    const start = performance.now();
    execFileSync('nsenter', [`--net=${pod.netns}`, 'true']);
    floor.push(performance.now() - start);
  }
  floor.sort((a, b) => a - b);
  const spawnFloor = percentile(floor, 50);
  console.log(`\n## Enrollment, ${POD_COUNT} pods (baseline: one nsenter spawn = ${ms(spawnFloor)})`);
  console.log(
    '| backend | enroll p50 | enroll p99 | remove p50 | remove p99 | all enrolled at once | all removed at once | enroll p50 / spawn |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  const results: Record<string, unknown> = { spawnFloorMs: spawnFloor };
  for (const backend of BACKENDS) {
    const dir = mkdtempSync(join(tmpdir(), 'ambit-bench-'));
    const agent = new CaptureAgent({ handler: new PlainCaptureHandler(), backend, concurrency: 8 });
    const server = await EnrollmentServer.listen(join(dir, 'enroll.sock'), agent);
    const client = new EnrollmentClient(server.socketPath);
    try {
      const enroll: number[] = [];
      const remove: number[] = [];
      for (const pod of pods) {
        const start = performance.now();
        await client.enroll(pod);
        enroll.push(performance.now() - start);
      }
      for (const pod of pods) {
        const start = performance.now();
        await client.unenroll(pod.uid);
        remove.push(performance.now() - start);
      }
      let start = performance.now();
      await Promise.all(pods.map((pod) => client.enroll(pod)));
      const allEnrolled = performance.now() - start;
      start = performance.now();
      await Promise.all(pods.map((pod) => client.unenroll(pod.uid)));
      const allRemoved = performance.now() - start;
      enroll.sort((a, b) => a - b);
      remove.sort((a, b) => a - b);
      const row = {
        enrollP50: percentile(enroll, 50),
        enrollP99: percentile(enroll, 99),
        removeP50: percentile(remove, 50),
        removeP99: percentile(remove, 99),
        allEnrolledMs: allEnrolled,
        allRemovedMs: allRemoved,
      };
      results[backend] = row;
      console.log(
        `| ${backend} | ${ms(row.enrollP50)} | ${ms(row.enrollP99)} | ${ms(row.removeP50)} | ${ms(row.removeP99)} | ${ms(allEnrolled)} | ${ms(allRemoved)} | ${(row.enrollP50 / spawnFloor).toFixed(1)}x |`,
      );
    } finally {
      client.close();
      await server.close();
      await agent.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return results;
}

/** The app: M connections, C at a time, each reads until the server closes. Plain Node, run in the pod. */
const CLIENT_SCRIPT = `
const net = require('node:net');
const [host, port, total, concurrency] = process.argv.slice(1);
let started = 0, done = 0, failed = 0;
const t0 = performance.now();
function one() {
  if (started >= +total) return;
  started++;
  const s = net.connect(+port, host);
  s.on('data', () => {});
  s.on('error', () => { failed++; });
  s.on('close', () => { done++; if (done === +total) finish(); else one(); });
}
function finish() { console.log(JSON.stringify({ ms: performance.now() - t0, failed })); }
for (let i = 0; i < +concurrency; i++) one();
`;

function runApp(podName: string, host: string, port: number): Promise<{ ms: number; failed: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        podName,
        process.execPath,
        '-e',
        CLIENT_SCRIPT,
        host,
        String(port),
        String(CONNECTIONS),
        '32',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.on('close', (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`app exited ${code}`)),
    );
  });
}

async function overheadBench(): Promise<Record<string, unknown>> {
  const remoteName = `bc-${id}`;
  const podName = `bo-${id}`;
  addNetns(remoteName);
  const podPath = addNetns(podName);
  ip(
    'link',
    'add',
    `bv${id}c`,
    'netns',
    remoteName,
    'type',
    'veth',
    'peer',
    'name',
    `bv${id}p`,
    'netns',
    podName,
  );
  ip('-n', remoteName, 'addr', 'add', '10.201.0.1/24', 'dev', `bv${id}c`);
  ip('-n', podName, 'addr', 'add', '10.201.0.2/24', 'dev', `bv${id}p`);
  ip('-n', remoteName, 'link', 'set', `bv${id}c`, 'up');
  ip('-n', podName, 'link', 'set', `bv${id}p`, 'up');
  const remote = Netns.open(`/run/netns/${remoteName}`);
  const pod = Netns.open(podPath);
  const line = `${JSON.stringify({ listener: 'outbound', pod: 'bench/app', protocol: 'tcp', peer: '10.201.0.2:40000', local: '127.0.0.1:15001', original: '10.201.0.1:8080' })}\n`;
  const server: net.Server = await listenTcp(remote, { address: '10.201.0.1', port: 8080 });
  server.on('connection', (socket) => {
    socket.on('error', () => {});
    socket.end(line);
  });
  const handler = new PlainCaptureHandler();
  const podInfo = {
    uid: 'bench/app',
    name: 'app',
    namespace: 'bench',
    serviceAccount: 'app',
    ips: ['10.201.0.2'],
    netns: podPath,
  };
  await handler.addPod(podInfo, pod);
  const direct: number[] = [];
  const captured: Record<string, number[]> = Object.fromEntries(BACKENDS.map((backend) => [backend, []]));
  try {
    await runApp(podName, '10.201.0.1', 8080); // warm-up
    for (let round = 0; round < 3; round++) {
      const d = await runApp(podName, '10.201.0.1', 8080);
      if (d.failed > 0) throw new Error(`${d.failed} direct connections failed`);
      direct.push(d.ms);
      for (const backend of BACKENDS) {
        await applyRules({ path: podPath }, { backend });
        const c = await runApp(podName, '10.201.0.1', 8080);
        await removeRules({ path: podPath }, { backend });
        if (c.failed > 0) throw new Error(`${c.failed} captured connections failed (${backend})`);
        captured[backend]!.push(c.ms);
      }
    }
  } finally {
    await handler.removePod('bench/app');
    server.close();
    remote.close();
    pod.close();
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const directMs = median(direct);
  console.log(`\n## Capture overhead, ${CONNECTIONS} short connections, 32 at a time (median of 3 rounds)`);
  console.log('| path | total | per connection | connections/s | ratio to direct |');
  console.log('|---|---|---|---|---|');
  console.log(
    `| direct (no rules) | ${ms(directMs)} | ${((directMs * 1000) / CONNECTIONS).toFixed(1)} µs | ${Math.round((CONNECTIONS * 1000) / directMs)} | 1.00 |`,
  );
  const results: Record<string, unknown> = { directMs };
  for (const backend of BACKENDS) {
    const value = median(captured[backend]!);
    results[backend] = { capturedMs: value, ratio: value / directMs };
    console.log(
      `| REDIRECT (${backend}) -> 15001 | ${ms(value)} | ${((value * 1000) / CONNECTIONS).toFixed(1)} µs | ${Math.round((CONNECTIONS * 1000) / value)} | ${(value / directMs).toFixed(2)} |`,
    );
  }
  return results;
}

try {
  const enrollment = await enrollmentBench();
  const overhead = await overheadBench();
  const dir = new URL('results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  const file = new URL(`redirect-${new Date().toISOString().replace(/[:.]/g, '-')}.json`, dir);
  writeFileSync(
    file,
    `${JSON.stringify({ pods: POD_COUNT, connections: CONNECTIONS, enrollment, overhead }, null, 2)}\n`,
  );
  console.log(`\nresults: ${file.pathname}`);
} finally {
  for (const name of created) {
    try {
      ip('netns', 'del', name);
    } catch {
      // already gone
    }
  }
}
