/**
 * Discovery push at scale: a real control plane (this process) with `pods` workloads on `nodes` nodes and 50
 * services, and one simulated ztunnel per node in worker processes (`control-push-worker.ts`: the data
 * plane's real discovery client and state store), so that client work does not hide the control plane's cost.
 * Measures the initial fan-out and three one-pod changes, each split into control-plane compute (mesh
 * rebuild and push, wall), server CPU, the first and last client acceptance (wall, from the change), and the
 * clients' CPU. Run: node bench/control-push.ts [pods] [nodes] [workers] [clients connecting at once per worker]
 *
 * With `--baseline=<git ref>` (and `--rounds=<n>`, default 2), it runs that commit's bench and this tree's
 * alternately in one run, each in its own process, and reports this tree's server CPU per change and per
 * fan-out as a ratio of the baseline's (`control-push-compare.ts`).
 */
import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlane } from '../src/control/control-plane.ts';
import { ControlApiClient } from '../src/core/control-api/client.ts';
import type { PodInfo } from '../src/core/control-api/types.ts';
import type { LogFields, Logger } from '../src/core/log.ts';
import { createNodeCredential } from '../src/core/node-credentials.ts';
import type { WorkerCommand, WorkerReport } from './control-push-worker.ts';

const flags = process.argv.slice(2).filter((arg) => arg.startsWith('--'));
const positional = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
const baseline = flags.find((flag) => flag.startsWith('--baseline='))?.slice('--baseline='.length);
if (baseline !== undefined) {
  const { compareWithBaseline } = await import('./control-push-compare.ts');
  const rounds = Number(flags.find((flag) => flag.startsWith('--rounds='))?.slice('--rounds='.length) ?? 2);
  // Each side gets the same arguments, the flags that shape the run (`--repeat`, `--service-entries`) included.
  const passed = flags.filter((flag) => !/^--(baseline|rounds|profile)=/.test(flag));
  await compareWithBaseline(baseline, rounds, [...positional, ...passed]);
  process.exit(0);
}
const PODS = Number(positional[0] ?? 1000);
const NODES = Number(positional[1] ?? 50);
const WORKERS = Math.min(NODES, Number(positional[2] ?? 4));
/**
 * How many clients of each worker connect at once at the start (default: all). The simulated ztunnels share
 * this machine's cores, so 200 of them decoding 3 MB each at once can take longer than the control plane's
 * 10 s subscribe deadline (each reconnecting and starting over), which real ztunnels, one per node, never
 * would; connecting them in waves measures the control plane's cost without that artefact.
 */
const CONCURRENCY = Number(positional[3] ?? NODES);
/** `--repeat=<n>`: each change is made this many times (default 5); the median of each figure is reported. */
const REPEATS = Number(flags.find((flag) => flag.startsWith('--repeat='))?.slice('--repeat='.length) ?? 5);
const SERVICES = 50;
/**
 * `--service-entries=<n>`: that many ServiceEntries besides, each selecting the pods of one app from
 * `app-10` on (200 pods each at 10,000), none of them a pod the measured changes touch (pod 7, app-7, and
 * the added pods, app-0 to app-4): what a pod change costs while entries exist that it does not concern.
 */
const SERVICE_ENTRIES = Number(
  flags.find((flag) => flag.startsWith('--service-entries='))?.slice('--service-entries='.length) ?? 0,
);
const DEBOUNCE_MS = 10;

const now = () => performance.timeOrigin + performance.now();

/** Rebuilds as the control plane logs them (version, ms); everything but warnings and errors is dropped. */
const rebuilds: { version: number; ms: number; pushedAt: number }[] = [];
const rebuildWaiters = new Set<() => void>();
function benchLogger(scope: string): Logger {
  const print = (level: string) => (msg: string, fields?: LogFields) =>
    process.stderr.write(`${level} ${scope}: ${msg} ${JSON.stringify(fields ?? {})}\n`);
  return {
    debug(msg, fields) {
      if (msg !== 'mesh rebuilt') return;
      // Logged once the push is written to every stream.
      rebuilds.push({ version: Number(fields?.version), ms: Number(fields?.ms), pushedAt: now() });
      for (const waiter of rebuildWaiters) waiter();
    },
    info() {},
    warn: print('warn'),
    error: print('error'),
    enabled: () => false,
    child: (child) => benchLogger(`${scope}.${child}`),
  };
}

const dir = mkdtempSync(join(tmpdir(), 'ambit-bench-push-'));
// Removed however the run ends (a failed step exits through an uncaught error, which still emits 'exit').
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
// A signal ends Node without 'exit': end through it instead (forked workers follow their parent's IPC channel).
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
const tokens = Array.from({ length: NODES }, (_, node) => createNodeCredential(dir, `node-${node}`).token);
const plane = await ControlPlane.start({
  stateDir: dir,
  listen: '127.0.0.1:0',
  metricsPort: 0,
  debounceMs: DEBOUNCE_MS,
  maxDebounceMs: 50,
  // Every simulated ztunnel connects from loopback; a real mesh has one source per node.
  listenerLimits: { maxConnectionsPerSource: NODES + 16 },
  log: benchLogger('control'),
});
const api = new ControlApiClient(plane.paths.socket);

const services = Array.from(
  { length: SERVICES },
  (_, i) =>
    `apiVersion: v1\nkind: Service\nmetadata: {name: svc-${i}, namespace: bench}\nspec: {selector: {app: app-${i}}, clusterIP: 10.96.1.${i + 1}, ports: [{name: http, port: 80, targetPort: 8080}]}\n`,
).join('---\n');
const entries = Array.from(
  { length: SERVICE_ENTRIES },
  (_, i) =>
    `---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: vm-${i}, namespace: bench}\nspec: {hosts: [vm-${i}.bench.internal], location: MESH_INTERNAL, resolution: STATIC, ports: [{number: 80, name: http, protocol: HTTP}], workloadSelector: {labels: {app: app-${10 + (i % (SERVICES - 10))}}}}\n`,
).join('');
await api.apply([
  {
    name: 'bench.yaml',
    content: `apiVersion: v1\nkind: Namespace\nmetadata: {name: bench, labels: {istio.io/dataplane-mode: ambient}}\n---\n${services}${entries}`,
  },
]);
const pod = (i: number, extra: Record<string, string> = {}): PodInfo => ({
  name: `pod-${i}`,
  namespace: 'bench',
  node: `node-${i % NODES}`,
  ips: [`10.${100 + Math.floor(i / 62500)}.${Math.floor(i / 250) % 250}.${(i % 250) + 1}`],
  serviceAccount: `sa-${i % SERVICES}`,
  labels: { app: `app-${i % SERVICES}`, version: 'v1', ...extra },
});
for (let node = 0; node < NODES; node++) {
  await api.syncNodePods(
    `node-${node}`,
    Array.from({ length: PODS }, (_, i) => i)
      .filter((i) => i % NODES === node)
      .map((i) => pod(i)),
  );
}

/** Resolves with the first rebuild of a version above `after`. */
function rebuildAfter(after: number): Promise<(typeof rebuilds)[number]> {
  return new Promise((resolve) => {
    const check = () => {
      const found = rebuilds.find((rebuild) => rebuild.version > after);
      if (!found) return;
      rebuildWaiters.delete(check);
      resolve(found);
    };
    rebuildWaiters.add(check);
    check();
  });
}
const lastVersion = () => rebuilds.at(-1)?.version ?? 0;

async function pushedBytes(): Promise<number> {
  const metric = await plane.metrics.pushBytes.get();
  return metric.values.reduce((sum, value) => sum + value.value, 0);
}

// Let the pod reports' rebuilds settle before clients connect.
await new Promise((resolve) => setTimeout(resolve, 300));
const rootCertPem = readFileSync(plane.paths.rootCert, 'utf8');
const workerUrl = new URL('./control-push-worker.ts', import.meta.url);
const workers = Array.from({ length: WORKERS }, () => fork(workerUrl, [], { stdio: 'inherit' }));
const replies = new Map<(typeof workers)[number], (report: WorkerReport) => void>();
for (const worker of workers) worker.on('message', (report: WorkerReport) => replies.get(worker)?.(report));

const send = (command: WorkerCommand) => {
  for (const worker of workers) worker.send(command);
};
function awaitAll(version: number): Promise<WorkerReport[]> {
  return Promise.all(
    workers.map(
      (worker) =>
        new Promise<WorkerReport>((resolve) => {
          replies.set(worker, resolve);
          worker.send({ type: 'await', version } satisfies WorkerCommand);
        }),
    ),
  );
}

/**
 * `--profile=<prefix>`: CPU profiles of the control plane's process (sampled every 100 us) during the fan-out
 * (`<prefix>-fan-out.cpuprofile`) and during the changes (`<prefix>-changes.cpuprofile`) only.
 */
const profilePrefix = flags.find((flag) => flag.startsWith('--profile='))?.slice('--profile='.length);
const profiler = profilePrefix === undefined ? undefined : new Session();
const post = (method: string, params?: object) =>
  new Promise<unknown>((resolve, reject) =>
    profiler!.post(method, params, (error, result) => (error ? reject(error) : resolve(result))),
  );
async function startProfile(): Promise<void> {
  if (!profiler) return;
  await post('Profiler.setSamplingInterval', { interval: 100 });
  await post('Profiler.start');
}
async function stopProfile(part: string): Promise<void> {
  if (!profiler) return;
  const { profile } = (await post('Profiler.stop')) as { profile: unknown };
  writeFileSync(`${profilePrefix}-${part}.cpuprofile`, JSON.stringify(profile));
}
if (profiler) {
  profiler.connect();
  await post('Profiler.enable');
}
await startProfile();
const bytesBefore = await pushedBytes();
const fanOutCpu = process.cpuUsage();
const fanOutStart = now();
send({ type: 'mark' });
workers.forEach((worker, w) => {
  const clients = tokens.flatMap((token, node) =>
    node % WORKERS === w ? [{ node: `node-${node}`, token }] : [],
  );
  worker.send({
    type: 'start',
    address: plane.grpcAddress,
    rootCertPem,
    clients,
    concurrency: CONCURRENCY,
  } satisfies WorkerCommand);
});
const fanOut = await awaitAll(lastVersion());
const fanOutMs = Math.max(...fanOut.flatMap((report) => report.acceptedAt)) - fanOutStart;
const fanOutServerCpu = process.cpuUsage(fanOutCpu);
await stopProfile('fan-out');
const fanOutBytes = (await pushedBytes()) - bytesBefore;
const clientRss = fanOut.reduce((sum, report) => sum + report.rssBytes, 0) / NODES;

interface ChangeResult {
  label: string;
  /** From the change to the rebuild's start: the report's API call and the debounce. */
  reportMs: number;
  computeMs: number;
  /** How many clients the change was pushed to. */
  pushedTo: number;
  /** From the push written to the last client's first byte of it (the slowest client's wait). */
  transferMs: number;
  /** The slowest client's apply (its response's arrival to its ACK), and the mean. */
  applySlowestMs: number;
  applyMeanMs: number;
  serverCpuMs: number;
  firstAcceptMs: number;
  allAcceptedMs: number;
  clientCpuMs: number;
  clientCpuPerClientMs: number;
  bytesPerClient: number;
}

async function change(label: string, run: () => Promise<unknown>): Promise<ChangeResult> {
  const before = lastVersion();
  const bytes = await pushedBytes();
  send({ type: 'mark' });
  const cpu = process.cpuUsage();
  const started = now();
  await run();
  const rebuild = await rebuildAfter(before);
  const reports = await awaitAll(rebuild.version);
  const serverCpu = process.cpuUsage(cpu);
  const accepted = reports.flatMap((report) => report.acceptedAt);
  const received = reports.flatMap((report) => report.receivedAt);
  // Only the clients this change was pushed to (a relabel without a change to the canonical names goes to
  // the pod's own node only): the others' times are of an earlier response.
  const pushed = received.flatMap((at, i) => (at >= started ? [i] : []));
  const applies = pushed.map((i) => accepted[i]! - received[i]!);
  const clientCpuMs = reports.reduce((sum, report) => sum + report.cpuMs, 0);
  return {
    label,
    reportMs: Math.round(rebuild.pushedAt - rebuild.ms - started),
    computeMs: rebuild.ms,
    pushedTo: pushed.length,
    transferMs: Math.round(Math.max(...pushed.map((i) => received[i]!)) - rebuild.pushedAt),
    applySlowestMs: Math.round(Math.max(...applies)),
    applyMeanMs: Number((applies.reduce((sum, ms) => sum + ms, 0) / applies.length).toFixed(2)),
    serverCpuMs: Math.round((serverCpu.user + serverCpu.system) / 1000),
    firstAcceptMs: Math.round(Math.min(...accepted) - started),
    allAcceptedMs: Math.round(Math.max(...accepted) - started),
    clientCpuMs: Math.round(clientCpuMs),
    clientCpuPerClientMs: Number((clientCpuMs / NODES).toFixed(2)),
    bytesPerClient: Math.round(((await pushedBytes()) - bytes) / NODES),
  };
}

await new Promise((resolve) => setTimeout(resolve, 300));
await startProfile();
/** Each change's figures, the median of its `REPEATS` runs. */
function medianOf(runs: readonly ChangeResult[]): ChangeResult {
  const median = (values: number[]) =>
    [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;
  const result = { ...runs[0]! };
  for (const key of Object.keys(result) as (keyof ChangeResult)[])
    if (key !== 'label') (result[key] as number) = median(runs.map((run) => run[key] as number));
  return result;
}
const runs: ChangeResult[][] = [[], [], []];
for (let round = 0; round < REPEATS; round++) {
  runs[0]!.push(
    await change('one pod relabelled', () => api.reportPod(pod(7, { version: `v${round + 2}` }))),
  );
  runs[1]!.push(await change('one pod added', () => api.reportPod(pod(PODS + round))));
  runs[2]!.push(await change('one pod removed', () => api.removePod('bench', `pod-${PODS + round}`)));
}
const changes = runs.map(medianOf);
await stopProfile('changes');
profiler?.disconnect();

const results = {
  pods: PODS,
  nodes: NODES,
  services: SERVICES,
  serviceEntries: SERVICE_ENTRIES,
  workers: WORKERS,
  concurrency: CONCURRENCY,
  initialFanOut: {
    ms: Math.round(fanOutMs),
    serverCpuMs: Math.round((fanOutServerCpu.user + fanOutServerCpu.system) / 1000),
    totalBytes: fanOutBytes,
    perClientBytes: Math.round(fanOutBytes / NODES),
    clientCpuPerClientMs: Math.round(fanOut.reduce((sum, report) => sum + report.cpuMs, 0) / NODES),
    workerRssPerClientMB: Number((clientRss / 1e6).toFixed(1)),
  },
  repeats: REPEATS,
  changes,
};
console.log(
  `Discovery push: ${PODS} workloads, ${SERVICES} services, ${SERVICE_ENTRIES} ServiceEntries, ${NODES} ztunnels (real discovery clients in ${WORKERS} worker processes, at most ${CONCURRENCY} of each connecting at once); each change the median of ${REPEATS}`,
);
console.log(
  `  initial fan-out: ${results.initialFanOut.ms} ms to every snapshot accepted (server CPU ${results.initialFanOut.serverCpuMs} ms); ${(fanOutBytes / 1e6).toFixed(2)} MB (${results.initialFanOut.perClientBytes} B per client); client CPU ${results.initialFanOut.clientCpuPerClientMs} ms and worker RSS ${results.initialFanOut.workerRssPerClientMB} MB per client`,
);
for (const result of changes) {
  console.log(
    `  ${result.label}: report and debounce ${result.reportMs} ms, compute ${result.computeMs} ms (server CPU ${result.serverCpuMs} ms), pushed to ${result.pushedTo}, transfer to the last client ${result.transferMs} ms, apply ${result.applyMeanMs} ms mean and ${result.applySlowestMs} ms slowest; first client ${result.firstAcceptMs} ms, all ${NODES} ${result.allAcceptedMs} ms (debounce ${DEBOUNCE_MS} ms included); client CPU ${result.clientCpuPerClientMs} ms per client (${result.clientCpuMs} ms in all); ${result.bytesPerClient} B per client`,
  );
}
mkdirSync(new URL('results/', import.meta.url), { recursive: true });
writeFileSync(
  new URL(`results/control-push-${PODS}x${NODES}.json`, import.meta.url),
  `${JSON.stringify(results, null, 2)}\n`,
);
for (const worker of workers) worker.kill();
await plane.stop();
process.exit(0);
