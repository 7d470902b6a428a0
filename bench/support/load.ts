/**
 * Load for the benchmarks: a sink and a request/response app, a bulk-throughput client and a closed-loop
 * latency client, and process CPU/RSS readings from /proc. All on loopback.
 */
import { readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';

export const REQUEST_BYTES = 128;
export const RESPONSE_BYTES = 1024;

/** The benchmark app's ports when it runs as its own process (`load-server.ts`). */
export const APP_PORTS = { sink: 9000, requestResponse: 9001, sinkCount: 9002 } as const;

export function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => resolve());
  });
}

/** Discards what it reads and counts it. */
export function sinkServer(counter: { bytes: number }): Server {
  return createServer((socket) => {
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      counter.bytes += chunk.length;
    });
  });
}

/** For every REQUEST_BYTES read, answers RESPONSE_BYTES; connections without traffic are simply held. */
export function requestResponseServer(): Server {
  const response = Buffer.alloc(RESPONSE_BYTES, 0x72);
  return createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy());
    let pending = 0;
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.length;
      while (pending >= REQUEST_BYTES) {
        pending -= REQUEST_BYTES;
        socket.write(response);
      }
    });
  });
}

/** Answers every connection with the sink's byte count (one line) and closes it. */
export function sinkCountServer(counter: { bytes: number }): Server {
  return createServer((socket) => {
    socket.on('error', () => socket.destroy());
    socket.end(`${counter.bytes}\n`);
  });
}

/** Reads a byte count from a `sinkCountServer`. */
export async function readSinkCount(host: string, port: number): Promise<number> {
  const socket = await open(host, port);
  const chunks: Buffer[] = [];
  for await (const chunk of socket) chunks.push(chunk as Buffer);
  return Number(Buffer.concat(chunks).toString().trim());
}

export function open(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, noDelay: true });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/**
 * Pushes bytes through `streams` connections for `seconds`; returns MiB/s as the sink counted them
 * (`received` reads the sink's byte count: in this process, or from the sink's process).
 */
export async function bulk(
  host: string,
  port: number,
  streams: number,
  seconds: number,
  received: () => number | Promise<number>,
): Promise<number> {
  const chunk = Buffer.alloc(256 * 1024, 0x61);
  const sockets = await Promise.all(Array.from({ length: streams }, () => open(host, port)));
  let running = true;
  for (const socket of sockets) {
    const pump = () => {
      while (running && socket.write(chunk)) {
        // keep writing until the socket asks us to wait
      }
    };
    socket.on('drain', pump);
    socket.on('error', () => {});
    pump();
  }
  // Let windows open up before measuring.
  await sleep(500);
  const start = await received();
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const bytes = (await received()) - start;
  const elapsed = (performance.now() - t0) / 1000;
  running = false;
  for (const socket of sockets) socket.destroy();
  await sleep(300);
  return bytes / elapsed / (1024 * 1024);
}

export interface LatencyResult {
  requests: number;
  perSecond: number;
  p50Us: number;
  p99Us: number;
}

/** Closed loop: each connection sends a request and waits for its 1 KiB answer, for `seconds`. */
export function requestResponse(
  host: string,
  port: number,
  connections: number,
  seconds: number,
): Promise<LatencyResult> {
  return closedLoop(host, port, connections, seconds, Buffer.alloc(REQUEST_BYTES, 0x71), () => {
    let received = 0;
    return (chunk) => {
      received += chunk.length;
      const complete = Math.floor(received / RESPONSE_BYTES);
      received -= complete * RESPONSE_BYTES;
      return complete;
    };
  });
}

/** Per connection: given the bytes that arrived, how many whole responses they completed. */
export type ResponseCounter = () => (chunk: Buffer) => number;

/**
 * The closed-loop driver: every connection sends `request`, waits for the whole response (as `responses`
 * counts them) and sends the next, for `seconds` after a half-second warm-up; latency is sampled per
 * response.
 */
export async function closedLoop(
  host: string,
  port: number,
  connections: number,
  seconds: number,
  request: Buffer,
  responses: ResponseCounter,
): Promise<LatencyResult> {
  const sockets = await Promise.all(Array.from({ length: connections }, () => open(host, port)));
  const samples = new LatencySamples();
  const window = { open: false };
  let running = true;
  for (const socket of sockets) {
    const completed = responses();
    let sentAt = 0;
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      for (let done = completed(chunk); done > 0; done--) {
        if (window.open) samples.add(performance.now() - sentAt);
        if (!running) return;
        sentAt = performance.now();
        socket.write(request);
      }
    });
    sentAt = performance.now();
    socket.write(request);
  }
  const elapsed = await measureWindow(window, 500, seconds);
  running = false;
  for (const socket of sockets) socket.destroy();
  await sleep(300);
  return samples.result(elapsed);
}

/** After `warmupMs`, keeps `window.open` for `seconds`; resolves to the seconds it was open. */
export async function measureWindow(
  window: { open: boolean },
  warmupMs: number,
  seconds: number,
): Promise<number> {
  await sleep(warmupMs);
  window.open = true;
  const t0 = performance.now();
  await sleep(seconds * 1000);
  window.open = false;
  return (performance.now() - t0) / 1000;
}

/** Latency samples in milliseconds, in a growing typed array (no allocation per sample). */
export class LatencySamples {
  #samples = new Float64Array(1 << 16);
  #count = 0;

  add(ms: number): void {
    if (this.#count === this.#samples.length) {
      const grown = new Float64Array(this.#samples.length * 2);
      grown.set(this.#samples);
      this.#samples = grown;
    }
    this.#samples[this.#count++] = ms;
  }

  /** Rate and percentiles of the samples taken over `elapsedSeconds`. */
  result(elapsedSeconds: number): LatencyResult {
    const count = this.#count;
    const sorted = this.#samples.slice(0, count).sort();
    const at = (q: number) => (sorted[Math.min(count - 1, Math.floor(q * count))] ?? 0) * 1000;
    return { requests: count, perSecond: count / elapsedSeconds, p50Us: at(0.5), p99Us: at(0.99) };
  }
}

/** CPU time (user + system) of a process, in milliseconds. */
export function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / 100;
}

/** Resident memory of a process, in MiB. */
export function rssMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : 0;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
