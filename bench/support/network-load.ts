/**
 * Closed-loop load for the cluster network benchmark, as a process of its own so that it runs inside a pod's
 * network namespace (`ip netns exec`; a mesh pod's capture applies): prints one JSON line.
 *
 *   node network-load.ts '{"mode":"dns","server":"10.96.0.10","name":"app.plain.svc.cluster.local","workers":16,"seconds":3}'
 *   node network-load.ts '{"mode":"connect","host":"10.96.0.1","port":9001,"workers":8,"seconds":3}'
 *
 * dns: each worker sends one UDP A query and waits for its answer (NOERROR with an answer, else a failure).
 * connect: each worker opens a TCP connection, does one 128 B -> 1 KiB exchange and resets it, so what is
 * timed is the connection's setup (where a VIP's DNAT and conntrack entry cost) plus one round trip.
 */
import { createSocket } from 'node:dgram';
import { buildQuery, DNS_TYPE, parseResponse, RCODE } from '../../src/core/dns/codec.ts';
import {
  type LatencyResult,
  LatencySamples,
  measureWindow,
  open,
  REQUEST_BYTES,
  RESPONSE_BYTES,
} from './load.ts';

export type NetworkLoad =
  | { mode: 'dns'; server: string; name: string; workers: number; seconds: number }
  | { mode: 'connect'; host: string; port: number; workers: number; seconds: number };

export type NetworkResult = LatencyResult & { failures: number };

/** Runs `workers` closed loops, each calling its own worker, for `seconds` (after a warm-up), timing each call. */
async function closedLoop(
  workers: number,
  seconds: number,
  makeWorker: () => () => Promise<boolean>,
): Promise<NetworkResult> {
  const samples = new LatencySamples();
  let failures = 0;
  const window = { open: false };
  let running = true;
  const loops = Array.from({ length: workers }, async () => {
    const once = makeWorker();
    while (running) {
      const start = performance.now();
      const ok = await once().catch(() => false);
      if (!window.open) continue;
      if (!ok) {
        failures++;
        continue;
      }
      samples.add(performance.now() - start);
    }
  });
  const elapsed = await measureWindow(window, 300, seconds);
  running = false;
  await Promise.all(loops);
  return { ...samples.result(elapsed), failures };
}

function dnsWorker(server: string, name: string): () => Promise<boolean> {
  const socket = createSocket('udp4');
  let id = Math.floor(Math.random() * 0xffff);
  let pending: ((ok: boolean) => void) | undefined;
  socket.on('message', (message) => {
    const response = parseResponse(message);
    if (response.id !== id) return;
    pending?.(response.rcode === RCODE.NOERROR && response.answers.length > 0);
  });
  return () =>
    new Promise<boolean>((resolve) => {
      id = (id + 1) & 0xffff;
      const timer = setTimeout(() => resolve(false), 1_000);
      pending = (ok) => {
        clearTimeout(timer);
        resolve(ok);
      };
      socket.send(buildQuery(id, name, DNS_TYPE.A), 53, server);
    });
}

async function connectOnce(host: string, port: number): Promise<boolean> {
  const socket = await open(host, port);
  return new Promise<boolean>((resolve) => {
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received >= RESPONSE_BYTES) {
        // RST instead of FIN: no TIME_WAIT, so thousands of connections do not use up the client's ports
        // (whose search then dominates what is measured).
        socket.resetAndDestroy();
        resolve(true);
      }
    });
    socket.on('error', () => resolve(false));
    socket.write(Buffer.alloc(REQUEST_BYTES, 0x71));
  });
}

const run = JSON.parse(process.argv[2] ?? '{}') as NetworkLoad;
const result =
  run.mode === 'dns'
    ? await closedLoop(run.workers, run.seconds, () => dnsWorker(run.server, run.name))
    : await closedLoop(run.workers, run.seconds, () => () => connectOnce(run.host, run.port));
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
