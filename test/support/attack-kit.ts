/**
 * What the reliability suite (`test/reliability`) and the attack benchmark share: a healthy request loop
 * that counts failures while an attack runs, the process's descriptors and memory, and a socket that
 * resolves when the peer ends it. Every loop is bounded in count and in time.
 */
import { readdirSync } from 'node:fs';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import type { WorkloadCertificate } from '../../src/core/tls/certificates.ts';

/** Descriptors open in this process now. */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Resolves when the socket is closed, whoever closed it. */
export function ended(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    socket.on('error', () => {});
    socket.on('data', () => {});
    if (socket.destroyed) resolve();
    else socket.once('close', () => resolve());
  });
}

export interface LoopResult {
  ok: number;
  failed: number;
  /** Latency of each successful request, ms. */
  latencies: number[];
  firstError?: string | undefined;
}

/**
 * Runs `request` back to back (each must resolve, or it counts as failed) until `stop()` or `maxRequests`;
 * `stop()` resolves with the counts once the request in flight has finished.
 */
export function healthyLoop(request: () => Promise<void>, maxRequests = 100_000) {
  const result: LoopResult = { ok: 0, failed: 0, latencies: [] };
  let stopping = false;
  const done = (async () => {
    while (!stopping && result.ok + result.failed < maxRequests) {
      const started = performance.now();
      try {
        await request();
        result.ok++;
        result.latencies.push(performance.now() - started);
      } catch (error) {
        result.failed++;
        result.firstError ??= (error as Error).message;
        await sleep(10); // a failing path must not spin
      }
    }
  })();
  return {
    result,
    stop: async (): Promise<LoopResult> => {
      stopping = true;
      await done;
      return result;
    },
  };
}

/** The `p`-th percentile (0-100) of `values`, or 0 for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** A TLS connection to an HBONE port as a mesh peer opens one (its certificate, ALPN h2), once secure. */
export async function hboneTls(
  target: { host: string; port: number },
  certificate: WorkloadCertificate,
  trustBundle: readonly string[],
): Promise<TLSSocket> {
  const socket = tlsConnect({
    ...target,
    cert: certificate.certPem,
    key: certificate.keyPem,
    ca: [...trustBundle],
    servername: 'hbone.ambit.internal',
    ALPNProtocols: ['h2'],
    checkServerIdentity: () => undefined,
  });
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('close', () => reject(new Error('closed before the handshake')));
  });
  return socket;
}
