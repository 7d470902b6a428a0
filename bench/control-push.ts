/**
 * Discovery push fan-out: a real control plane (in this process) with 1000 workloads on 50 nodes and 50
 * services, and 50 simulated ztunnels (raw gRPC/TLS streams in this process that count the exact bytes on the
 * wire, decode and ACK). Measures the initial fan-out and a one-pod change, and compares the incremental
 * push with the baseline of resending the full snapshot. Run: node bench/control-push.ts [pods] [nodes]
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, type ClientDuplexStream } from '@grpc/grpc-js';
import { ControlPlane } from '../src/control/control-plane.ts';
import { ControlApiClient } from '../src/core/control-api/client.ts';
import type { PodInfo } from '../src/core/control-api/types.ts';
import { controlPlaneChannelOptions, controlPlaneCredentials } from '../src/core/grpc/credentials.ts';
import {
  type DiscoveryRequestMessage,
  type DiscoveryResponseMessage,
  discoveryService,
} from '../src/core/grpc/protos.ts';
import { configureLogging } from '../src/core/log.ts';
import { createNodeCredential } from '../src/core/node-credentials.ts';

const PODS = Number(process.argv[2] ?? 1000);
const NODES = Number(process.argv[3] ?? 50);
const SERVICES = 50;
configureLogging({ level: (process.env.BENCH_LOG as 'debug') ?? 'warn' });

const dir = mkdtempSync(join(tmpdir(), 'ambit-bench-push-'));
const tokens = Array.from({ length: NODES }, (_, node) => createNodeCredential(dir, `node-${node}`).token);
const plane = await ControlPlane.start({
  stateDir: dir,
  listen: '127.0.0.1:0',
  metricsPort: 0,
  debounceMs: 10,
  maxDebounceMs: 50,
});
const api = new ControlApiClient(plane.paths.socket);

const services = Array.from(
  { length: SERVICES },
  (_, i) =>
    `apiVersion: v1\nkind: Service\nmetadata: {name: svc-${i}, namespace: bench}\nspec: {selector: {app: app-${i}}, clusterIP: 10.96.1.${i + 1}, ports: [{name: http, port: 80, targetPort: 8080}]}\n`,
).join('---\n');
await api.apply([
  {
    name: 'bench.yaml',
    content: `apiVersion: v1\nkind: Namespace\nmetadata: {name: bench, labels: {istio.io/dataplane-mode: ambient}}\n---\n${services}`,
  },
]);
const pod = (i: number, extra: Record<string, string> = {}): PodInfo => ({
  name: `pod-${i}`,
  namespace: 'bench',
  node: `node-${i % NODES}`,
  ips: [`10.244.${Math.floor(i / 250)}.${(i % 250) + 1}`],
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

/** A simulated ztunnel: a raw stream that sees the bytes of each response, then ACKs it. */
class SimulatedZtunnel {
  bytes = 0;
  responses = 0;
  private stream: ClientDuplexStream<DiscoveryRequestMessage, Buffer>;
  private waiting: (() => void) | undefined;

  constructor(node: string, token: string, address: string, rootCertPem: string) {
    const client = new Client(
      address,
      controlPlaneCredentials({ address, rootCertPem, token }),
      controlPlaneChannelOptions(),
    );
    const method = discoveryService().Stream!;
    this.stream = client.makeBidiStreamRequest<DiscoveryRequestMessage, Buffer>(
      method.path,
      method.requestSerialize as (value: DiscoveryRequestMessage) => Buffer,
      (bytes: Buffer) => bytes,
    );
    // Cancelled at the end of the run, by us.
    this.stream.on('error', () => {});
    this.stream.on('data', (raw: Buffer) => {
      this.bytes += raw.length;
      const response = method.responseDeserialize(raw) as DiscoveryResponseMessage;
      // A large response arrives in chunks: the last one completes it and is answered.
      if (response.more) return;
      this.responses++;
      this.stream.write({ responseNonce: response.nonce, version: response.version });
      this.waiting?.();
    });
    this.stream.write({
      subscriber: { kind: 'ztunnel', node, waypointName: '', waypointNamespace: '', instance: 'bench' },
      initialResources: [],
    });
  }

  /** Resolves when the response count reaches `count`. */
  until(count: number): Promise<void> {
    if (this.responses >= count) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiting = () => {
        if (this.responses >= count) resolve();
      };
    });
  }

  close(): void {
    this.stream.cancel();
  }
}

const rootCertPem = readFileSync(plane.paths.rootCert, 'utf8');
const clients: SimulatedZtunnel[] = [];
const fanOutStart = performance.now();
for (let node = 0; node < NODES; node++) {
  clients.push(new SimulatedZtunnel(`node-${node}`, tokens[node]!, plane.grpcAddress, rootCertPem));
}
await Promise.all(clients.map((client) => client.until(1)));
const fanOutMs = performance.now() - fanOutStart;
const fullBytes = clients.reduce((sum, client) => sum + client.bytes, 0);

async function change(label: string, run: () => Promise<unknown>) {
  const before = clients.map((client) => [client.bytes, client.responses] as const);
  const started = performance.now();
  await run();
  await Promise.all(clients.map((client, i) => client.until(before[i]![1] + 1)));
  const ms = performance.now() - started;
  const bytes = clients.reduce((sum, client, i) => sum + client.bytes - before[i]![0], 0);
  return { label, ms, bytes, perClient: bytes / clients.length };
}

// Settle: let the pod-report bursts' pushes finish before measuring changes.
await new Promise((resolve) => setTimeout(resolve, 300));
const relabel = await change('one pod relabelled', () => api.reportPod(pod(7, { version: 'v2' })));
const added = await change('one pod added', () => api.reportPod(pod(PODS)));
const removed = await change('one pod removed', () => api.removePod('bench', `pod-${PODS}`));

const results = {
  pods: PODS,
  nodes: NODES,
  services: SERVICES,
  initialFanOut: {
    ms: Math.round(fanOutMs),
    totalBytes: fullBytes,
    perClientBytes: Math.round(fullBytes / NODES),
  },
  changes: [relabel, added, removed].map((result) => ({
    ...result,
    ms: Math.round(result.ms),
    perClient: Math.round(result.perClient),
    vsFullSnapshot: Number((fullBytes / result.bytes).toFixed(0)),
  })),
};
console.log(
  `Discovery push: ${PODS} workloads, ${SERVICES} services, ${NODES} ztunnels (simulated, one process)`,
);
console.log(
  `  initial fan-out: ${results.initialFanOut.ms} ms to deliver and ACK every snapshot; ${(fullBytes / 1e6).toFixed(2)} MB (${results.initialFanOut.perClientBytes} B per client)`,
);
for (const result of results.changes) {
  console.log(
    `  ${result.label}: ${result.ms} ms to all ${NODES} ACKs (debounce 10 ms included), ${result.bytes} B total, ${result.perClient} B per client; full-snapshot baseline is ${result.vsFullSnapshot}x the bytes`,
  );
}
mkdirSync(new URL('results/', import.meta.url), { recursive: true });
writeFileSync(new URL('results/control-push.json', import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
for (const client of clients) client.close();
await plane.stop();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
