/**
 * A closed-loop HTTP/1.1 load client with little overhead of its own: each keep-alive connection sends a
 * request with a 1 KiB body and waits for the whole response (headers, then `content-length` bytes) before
 * the next. Latency samples are taken after a warm-up; p50/p99 in microseconds.
 */
import type { Socket } from 'node:net';
import { type LatencyResult, open, sleep } from './load.ts';

export const BODY_BYTES = 1024;

const HEADER_END = Buffer.from('\r\n\r\n');

export async function httpRequestResponse(
  host: string,
  port: number,
  connections: number,
  seconds: number,
  authority: string,
): Promise<LatencyResult> {
  const sockets: Socket[] = await Promise.all(Array.from({ length: connections }, () => open(host, port)));
  const request = Buffer.concat([
    Buffer.from(
      `POST /bench HTTP/1.1\r\nhost: ${authority}\r\ncontent-type: application/octet-stream\r\ncontent-length: ${BODY_BYTES}\r\n\r\n`,
    ),
    Buffer.alloc(BODY_BYTES, 0x71),
  ]);
  let samples = new Float64Array(1 << 16);
  let count = 0;
  let errors = 0;
  let measuring = false;
  let running = true;
  for (const socket of sockets) {
    let pending: Buffer = Buffer.alloc(0);
    let sentAt = 0;
    socket.on('error', () => {
      errors++;
    });
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      for (;;) {
        const end = pending.indexOf(HEADER_END);
        if (end < 0) return;
        const head = pending.toString('latin1', 0, end);
        const length = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
        const total = end + HEADER_END.length + length;
        if (pending.length < total) return;
        if (!head.startsWith('HTTP/1.1 200')) errors++;
        pending = pending.subarray(total);
        if (measuring) {
          if (count === samples.length) {
            const grown = new Float64Array(samples.length * 2);
            grown.set(samples);
            samples = grown;
          }
          samples[count++] = performance.now() - sentAt;
        }
        if (!running) return;
        sentAt = performance.now();
        socket.write(request);
      }
    });
    sentAt = performance.now();
    socket.write(request);
  }
  await sleep(500);
  measuring = true;
  const t0 = performance.now();
  await sleep(seconds * 1000);
  measuring = false;
  const elapsed = (performance.now() - t0) / 1000;
  running = false;
  for (const socket of sockets) socket.destroy();
  if (errors > 0) throw new Error(`${errors} failed requests on ${host}:${port}`);
  const sorted = samples.slice(0, count).sort();
  const at = (q: number) => (sorted[Math.min(count - 1, Math.floor(q * count))] ?? 0) * 1000;
  await sleep(300);
  return { requests: count, perSecond: count / elapsed, p50Us: at(0.5), p99Us: at(0.99) };
}
