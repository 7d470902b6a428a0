/**
 * HBONE benchmark on loopback, in one run: the same load straight to the app (direct), through two Ambit
 * ztunnels (outbound capture -> HBONE mTLS -> inbound -> app, each ztunnel its own process, as on two
 * nodes) once on our HTTP/2 framer and once on `node:http2`, and through an stunnel4 mTLS pair (client
 * stunnel -> server stunnel -> app) with certificates from the same test CA. The paths take turns for
 * `--repetitions` rounds (default 3) and each figure is the median: bulk throughput (1 and 8 streams),
 * proxy CPU s/GiB, request/response latency with 1 KiB answers (1 and 32 connections: p50/p99, req/s),
 * proxy CPU per 1000 requests, ztunnel RSS idle and with 1000 idle tunnelled connections, the ratios to
 * direct and to stunnel, and issue 9's targets met or not. The 1-connection p50 and the 32-connection rate are
 * also measured in short interleaved rounds (`--rounds`), the paths taking turns under the same load.
 *
 * Run: npx node bench/hbone-throughput.ts [--seconds 5] [--repetitions 3]   (needs stunnel4; temp dir only)
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type HboneImplementation, parseHboneImplementation } from '../src/core/hbone/implementation.ts';
import { ZTUNNEL_PORTS } from '../src/core/ports.ts';
import { ZTUNNEL_NODE_FLAGS } from '../src/ztunnel/settings.ts';
import { service, snapshot, workload } from '../test/support/mesh-fixtures.ts';
import { TestCa } from '../test/support/test-ca.ts';
import {
  bulk,
  cpuMs,
  listen,
  open,
  requestResponse,
  requestResponseServer,
  rssMiB,
  sinkServer,
  sleep,
} from './support/load.ts';
import { splitNodeArgs } from './support/proxy-runs.ts';
import { fmt, median, medianResult, type PathResult, pathReport, targetReport } from './support/report.ts';
import { writeStunnelConfigs } from './support/stunnel.ts';
import type { NodeSpec } from './support/ztunnel-node.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    // Node flags for the ztunnel processes (default: what `ambit ztunnel` runs with).
    'node-args': { type: 'string', default: ZTUNNEL_NODE_FLAGS.join(' ') },
    // Run the ztunnels from compiled JavaScript (as an installed package does) instead of type-stripped sources.
    compiled: { type: 'boolean', default: false },
    // Interleaved 1-connection latency rounds (direct, Ambit, stunnel taking turns, 2 s each).
    rounds: { type: 'string', default: '5' },
    // Rounds of the whole measurement, the paths taking turns; medians are reported.
    repetitions: { type: 'string', default: '3' },
    // The Ambit variants, `;`-separated, each `implementation[*workers][:node flags]` (flags default to
    // --node-args), e.g. 'framer:--max-semi-space-size=1;framer:' to compare the ztunnel's Node flags in one
    // run, or 'framer;framer*2' for two ztunnel processes per node sharing the pod's ports (SO_REUSEPORT).
    variants: { type: 'string', default: 'framer;node-http2' },
  },
});
const SECONDS = Number(values.seconds);
const NODE_ARGS = splitNodeArgs(values['node-args'] ?? '');

interface AmbitVariant {
  name: string;
  impl: HboneImplementation;
  nodeArgs: string[];
  /** ztunnel processes per node, their listeners sharing each pod port (SO_REUSEPORT). */
  workers: number;
}

const AMBITS: AmbitVariant[] = (values.variants ?? '').split(';').map((spec) => {
  const colon = spec.indexOf(':');
  const [implName, workerCount] = (colon < 0 ? spec : spec.slice(0, colon)).split('*');
  const impl = parseHboneImplementation(implName);
  const workers = workerCount === undefined ? 1 : Number(workerCount);
  if (!Number.isInteger(workers) || workers < 1) throw new Error(`bad worker count in variant ${spec}`);
  const nodeArgs = colon < 0 ? NODE_ARGS : splitNodeArgs(spec.slice(colon + 1));
  const label = impl === 'framer' ? 'framer' : 'node:http2';
  const flags = colon < 0 ? '' : `, flags: ${nodeArgs.join(' ') || 'none'}`;
  const perNode = workers > 1 ? `, ${workers} processes per node` : '';
  return { name: `ambit (${label}${perNode}${flags})`, impl, nodeArgs, workers };
});

const subnet = `127.${randomInt(100, 250)}.${randomInt(0, 256)}`;
const CLIENT_POD = `${subnet}.11`;
const SERVER_POD = `${subnet}.21`;
const VIP = `${subnet}.200`;
const SINK_PORT = 9000;
const RR_PORT = 9001;
const STUNNEL_CLIENT_PORT = 16001;
const STUNNEL_SERVER_PORT = 16008;

const children: ChildProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), 'ambit-bench-'));
const ZTUNNEL_SCRIPT = values.compiled
  ? compileZtunnelNode()
  : new URL('./support/ztunnel-node.ts', import.meta.url).pathname;

/**
 * Compiles the benchmark's ztunnel process (and what it imports) into the temp directory, next to a link to
 * the checkout's node_modules so that its imports resolve; returns the compiled entry.
 */
function compileZtunnelNode(): string {
  const root = new URL('..', import.meta.url).pathname;
  const out = join(dir, 'build');
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const flags = ['--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2024'];
  const more = [
    '--rewriteRelativeImportExtensions',
    '--allowImportingTsExtensions',
    '--verbatimModuleSyntax',
  ];
  const paths = ['--skipLibCheck', '--types', 'node', '--rootDir', root, '--outDir', out];
  execFileSync(
    process.execPath,
    [tsc, ...flags, ...more, ...paths, join(root, 'bench', 'support', 'ztunnel-node.ts')],
    {
      stdio: 'inherit',
    },
  );
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  return join(out, 'bench', 'support', 'ztunnel-node.js');
}

function startChild(
  command: string,
  args: string[],
  readyLine?: string,
  env?: NodeJS.ProcessEnv,
): Promise<ChildProcess> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'], env: env ?? process.env });
  children.push(child);
  return new Promise((resolve, reject) => {
    if (!readyLine) {
      resolve(child);
      return;
    }
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes(readyLine)) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`${command} exited with ${code}`)));
  });
}

async function waitForPort(host: string, port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      (await open(host, port)).destroy();
      return;
    } catch {
      await sleep(50);
    }
  }
  throw new Error(`nothing listens on ${host}:${port}`);
}

async function startAmbit(ca: TestCa, port: number, variant: AmbitVariant): Promise<ChildProcess[]> {
  const client = workload({ name: 'client', ips: [CLIENT_POD], node: 'node-a' });
  const server = workload({ name: 'server', ips: [SERVER_POD], node: 'node-b' });
  const snap = snapshot({
    workloads: [client, server],
    services: [
      service({
        name: 'server',
        vips: [VIP],
        ports: [{ port: 80, targetPort: port, protocol: 'TCP' }],
        endpoints: [{ workloadUid: server.uid, ip: SERVER_POD, ready: true }],
      }),
    ],
  });
  const spec = (node: string, podUid: string, podIp: string): NodeSpec => ({
    node,
    podUid,
    podIp,
    snapshot: snap,
    ca: { certPem: ca.certPem, keyPem: ca.keyPem },
    target: { ip: VIP, port: 80 },
    sharedPorts: variant.workers > 1,
  });
  const env = { ...process.env, AMBIT_HBONE_IMPL: variant.impl };
  const nodes = [spec('node-a', client.uid, CLIENT_POD), spec('node-b', server.uid, SERVER_POD)];
  return Promise.all(
    nodes
      .flatMap((nodeSpec) => Array.from({ length: variant.workers }, () => nodeSpec))
      .map((nodeSpec) =>
        startChild(
          process.execPath,
          [...variant.nodeArgs, ZTUNNEL_SCRIPT, JSON.stringify(nodeSpec)],
          'ready',
          env,
        ),
      ),
  );
}

async function startStunnel(ca: TestCa, appPort: number): Promise<ChildProcess[]> {
  const configs = writeStunnelConfigs(dir, ca, [
    {
      name: 'hbone',
      clientAccept: `${CLIENT_POD}:${STUNNEL_CLIENT_PORT}`,
      serverAccept: `${SERVER_POD}:${STUNNEL_SERVER_PORT}`,
      appConnect: `${SERVER_POD}:${appPort}`,
    },
  ]);
  const procs = [
    await startChild('stunnel4', [configs.server]),
    await startChild('stunnel4', [configs.client]),
  ];
  await waitForPort(SERVER_POD, STUNNEL_SERVER_PORT);
  await waitForPort(CLIENT_POD, STUNNEL_CLIENT_PORT);
  return procs;
}

function stop(procs: ChildProcess[]): Promise<void> {
  return Promise.all(
    procs.map(
      (p) =>
        new Promise<void>((resolve) => {
          // Already gone (exited, or killed by an earlier stop): 'exit' will not fire again.
          if (p.exitCode !== null || p.signalCode !== null) {
            resolve();
            return;
          }
          p.once('exit', () => resolve());
          p.kill('SIGTERM');
        }),
    ),
  ).then(() => undefined);
}

interface Endpoint {
  host: string;
  port: number;
}

/**
 * Measures one path: bulk against the sink, then request/response against the rr app. `start(port)` brings
 * up the path's proxies for an app port (none for direct) and returns them with the address to dial.
 */
async function measure(
  name: string,
  start: (appPort: number) => Promise<{ proxies: ChildProcess[]; entry: Endpoint }>,
  sink: { bytes: number },
  extra?: (proxies: ChildProcess[], entry: Endpoint) => Promise<void>,
): Promise<PathResult> {
  process.stdout.write(`measuring ${name}...\n`);
  const bulkPath = await start(SINK_PORT);
  const bulk1 = await bulk(bulkPath.entry.host, bulkPath.entry.port, 1, SECONDS, () => sink.bytes);
  const bulkCpu = () => bulkPath.proxies.reduce((sum, p) => sum + cpuMs(p.pid!), 0);
  const bulkCpuBefore = bulkCpu();
  const bytesBefore = sink.bytes;
  const bulk8 = await bulk(bulkPath.entry.host, bulkPath.entry.port, 8, SECONDS, () => sink.bytes);
  const cpuPerGiB =
    bulkPath.proxies.length > 0
      ? (bulkCpu() - bulkCpuBefore) / 1000 / ((sink.bytes - bytesBefore) / 2 ** 30)
      : undefined;
  await stop(bulkPath.proxies);
  const rrPath = await start(RR_PORT);
  const { host, port } = rrPath.entry;
  const rr1 = await requestResponse(host, port, 1, SECONDS);
  const cpu = () => rrPath.proxies.reduce((sum, p) => sum + cpuMs(p.pid!), 0);
  const cpuBefore = cpu();
  const rr32 = await requestResponse(host, port, 32, SECONDS);
  const cpuPer1000 = rrPath.proxies.length > 0 ? ((cpu() - cpuBefore) / rr32.requests) * 1000 : undefined;
  await extra?.(rrPath.proxies, rrPath.entry);
  await stop(rrPath.proxies);
  return { name, bulk1, bulk8, rr1, rr32, cpuPer1000, cpuPerGiB };
}

/**
 * The anonymous (private) part of a process's RSS, in MiB: what the ztunnel itself holds, without the
 * file-backed pages (the node binary's and libraries' code) that every Node process on the machine shares.
 */
function anonymousMiB(pid: number): number {
  const match = /RssAnon:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : 0;
}

/** RSS and its anonymous part, per ztunnel process, in MiB. */
interface Memory {
  rss: number[];
  anonymous: number[];
}

const memoryOf = (procs: ChildProcess[]): Memory => ({
  rss: procs.map((p) => rssMiB(p.pid!)),
  anonymous: procs.map((p) => anonymousMiB(p.pid!)),
});

async function idleConnectionsRss(procs: ChildProcess[], entry: Endpoint, count: number): Promise<Memory> {
  const sockets = [];
  for (let i = 0; i < count; i++) sockets.push(await open(entry.host, entry.port));
  // One request each, so that every tunnel is really established end to end.
  await Promise.all(
    sockets.map(
      (socket) =>
        new Promise<void>((resolve) => {
          socket.once('data', () => resolve());
          socket.write(Buffer.alloc(128));
        }),
    ),
  );
  await sleep(1000);
  const memory = memoryOf(procs);
  for (const socket of sockets) socket.destroy();
  return memory;
}

async function main(): Promise<void> {
  const ca = new TestCa('ambit bench root');
  const sink = { bytes: 0 };
  const sinkApp = sinkServer(sink);
  const rrApp = requestResponseServer();
  await listen(sinkApp, SERVER_POD, SINK_PORT);
  await listen(rrApp, SERVER_POD, RR_PORT);
  const ambitEntry = { host: CLIENT_POD, port: ZTUNNEL_PORTS.outbound };
  const stunnelEntry = { host: CLIENT_POD, port: STUNNEL_CLIENT_PORT };
  try {
    const runs = new Map<string, PathResult[]>();
    const record = (result: PathResult) => runs.set(result.name, [...(runs.get(result.name) ?? []), result]);
    const idleRss = new Map<string, Memory>();
    const loadedRss = new Map<string, Memory>();
    for (let repetition = 0; repetition < Number(values.repetitions); repetition++) {
      process.stdout.write(`repetition ${repetition + 1} of ${values.repetitions}\n`);
      record(
        await measure('direct', async (port) => ({ proxies: [], entry: { host: SERVER_POD, port } }), sink),
      );
      for (const variant of AMBITS) {
        const { name } = variant;
        record(
          await measure(
            name,
            async (port) => ({ proxies: await startAmbit(ca, port, variant), entry: ambitEntry }),
            sink,
            // RSS with 1000 idle tunnels once per variant (it takes a while and varies little).
            repetition === 0
              ? async (proxies, entry) => {
                  loadedRss.set(name, await idleConnectionsRss(proxies, entry, 1000));
                }
              : undefined,
          ),
        );
        if (repetition === 0) {
          const idle = await startAmbit(ca, RR_PORT, variant);
          idleRss.set(name, memoryOf(idle));
          await stop(idle);
        }
      }
      record(
        await measure(
          'stunnel',
          async (port) => ({ proxies: await startStunnel(ca, port), entry: stunnelEntry }),
          sink,
        ),
      );
    }
    const result = (name: string) => medianResult(runs.get(name)!);

    // 1-connection latency is what a busy machine disturbs most: measure the paths taking turns, with the
    // proxies up, and compare medians (both Ambit variants use the same pod addresses: one at a time). The
    // 32-connection rate takes turns too: the repetitions' 5 s windows, minutes apart, swung between runs
    // with whatever else the machine ran then; rounds of 2 s side by side show the ratio under one load.
    const turns = new Map<string, number[]>();
    const rates = new Map<string, number[]>();
    const push = (into: Map<string, number[]>, name: string, value: number) =>
      into.set(name, [...(into.get(name) ?? []), value]);
    const turn = async (name: string, host: string, port: number) => {
      push(turns, name, (await requestResponse(host, port, 1, 2)).p50Us);
      push(rates, name, (await requestResponse(host, port, 32, 2)).perSecond);
    };
    const stunnelRr = await startStunnel(ca, RR_PORT);
    for (const variant of AMBITS) {
      const { name } = variant;
      const ambitRr = await startAmbit(ca, RR_PORT, variant);
      for (let round = 0; round < Number(values.rounds); round++) {
        await turn('direct', SERVER_POD, RR_PORT);
        await turn(name, ambitEntry.host, ambitEntry.port);
        await turn('stunnel', stunnelEntry.host, stunnelEntry.port);
      }
      await stop(ambitRr);
    }
    await stop(stunnelRr);
    const added = (name: string) => median(turns.get(name)!) - median(turns.get('direct')!);
    const rate = (name: string) => median(rates.get(name)!);
    const rateRatio = (name: string) =>
      `${fmt(rate(name))} req/s (${fmt(rate(name) / rate('stunnel'), 2)}x stunnel)`;

    const direct = result('direct');
    const stunnel = result('stunnel');
    const ambits = AMBITS.map(({ name }) => result(name));
    const memoryLine = (memory: Memory | undefined) =>
      memory === undefined
        ? '-'
        : `${memory.rss.map((m) => fmt(m, 1)).join(' / ')} MiB (anonymous ${memory.anonymous.map((m) => fmt(m, 1)).join(' / ')} MiB)`;
    const rssLine = (name: string) =>
      `ztunnel RSS, ${name}: idle ${memoryLine(idleRss.get(name))}; with 1000 idle tunnelled connections ` +
      `${memoryLine(loadedRss.get(name))} (per ztunnel process, source node first; anonymous: without the shared code pages)`;
    const out = [
      `HBONE benchmark, loopback, ${SECONDS} s per measurement, medians of ${values.repetitions} interleaved repetitions, node ${process.versions.node}, ${(await import('node:os')).cpus().length} CPUs${NODE_ARGS.length ? `, ztunnel node flags: ${NODE_ARGS.join(' ')}` : ''}, ztunnel from ${values.compiled ? 'compiled JavaScript' : 'type-stripped sources'}`,
      '',
      ...pathReport(direct, ambits, stunnel),
      `Interleaved 1-connection p50 (median of ${values.rounds} rounds per variant): direct ${fmt(median(turns.get('direct')!))} us; added: ${AMBITS.map(({ name }) => `${name} +${fmt(added(name))} us`).join(', ')}, stunnel +${fmt(added('stunnel'))} us`,
      `Interleaved 32-connection rate (median of ${values.rounds} rounds per variant): direct ${fmt(rate('direct'))} req/s; ${AMBITS.map(({ name }) => `${name} ${rateRatio(name)}`).join(', ')}, stunnel ${fmt(rate('stunnel'))} req/s`,
      ...AMBITS.map(({ name }) => rssLine(name)),
      '',
      ...AMBITS.flatMap(({ name }, i) =>
        targetReport({
          ambit: ambits[i]!,
          direct,
          stunnel,
          addedP50Us: { ambit: added(name), stunnel: added('stunnel') },
          idleTunnelsRssMiB: Math.max(...(loadedRss.get(name)?.rss ?? [0])),
        }),
      ),
    ];
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    await stop(children);
    sinkApp.close();
    rrApp.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
