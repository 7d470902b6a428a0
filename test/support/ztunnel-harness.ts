/**
 * Ztunnels on loopback for integration tests and benchmarks: each "node" is a `Ztunnel`, each "pod" an
 * address of a random 127.x.y.0/24 that belongs to this run alone (so fixed ports never collide with other
 * runs), and capture is emulated: a test client connects to the pod's 15001/15006 from a port that the
 * harness maps to the destination the app "meant", which is what `originalDestination` then reports.
 */
import { randomInt } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { plainAddress } from '../../src/core/net/ip.ts';
import { ZTUNNEL_PORTS } from '../../src/core/ports.ts';
import { LoopbackPodSockets, type OriginalDestination } from '../../src/ztunnel/proxy/sockets.ts';
import { Ztunnel, type ZtunnelOptions } from '../../src/ztunnel/ztunnel.ts';
import { type TestCa, TestCertificateProvider } from './test-ca.ts';

export interface Target {
  ip: string;
  port: number;
}

/** A /24 on loopback unique to this run: `127.<a>.<b>.<host>`. */
export function loopbackSubnet(): (host: number) => string {
  const a = randomInt(100, 250);
  const b = randomInt(0, 256);
  return (host) => `127.${a}.${b}.${host}`;
}

export class CaptureTable {
  readonly #targets = new Map<string, Target>();
  #nextPort = randomInt(20_000, 30_000);

  /**
   * As the kernel answers in a pod netns with our rules: the mapped target for a "captured" connection, and
   * for one that was not redirected (dialled straight at a listener) the connection's own local address,
   * since conntrack tracks every connection there and `SO_ORIGINAL_DST` reports the original tuple.
   */
  readonly lookup: OriginalDestination = (socket) =>
    this.#targets.get(`${plainAddress(socket.remoteAddress)}:${socket.remotePort}`) ??
    (socket.localAddress && socket.localPort !== undefined
      ? { ip: plainAddress(socket.localAddress), port: socket.localPort }
      : undefined);

  /** Connects like an app in the pod at `podIp` to `target`, "captured" to the pod's `capturePort`. */
  connect(
    podIp: string,
    target: Target,
    capturePort: number = ZTUNNEL_PORTS.outbound,
    clientIp = podIp,
  ): Socket {
    // Below the kernel's ephemeral range (32768+), so that no connection it numbers can take a mapped port.
    if (this.#nextPort >= 32_000) this.#nextPort = 20_000;
    const localPort = this.#nextPort++;
    this.#targets.set(`${clientIp}:${localPort}`, target);
    return connect({
      host: podIp,
      port: capturePort,
      localAddress: clientIp,
      localPort,
      allowHalfOpen: true,
    });
  }
}

export interface Harness {
  ip: (host: number) => string;
  capture: CaptureTable;
  ztunnel(node: string, options?: Partial<ZtunnelOptions>): Ztunnel;
  certificates(): TestCertificateProvider;
  /** Everything made through the harness is closed by this (call it in afterAll). */
  close(): Promise<void>;
  track<T extends Server>(server: T): T;
}

export function createHarness(ca: TestCa): Harness {
  const ip = loopbackSubnet();
  const capture = new CaptureTable();
  const ztunnels: Ztunnel[] = [];
  const servers: Server[] = [];
  return {
    ip,
    capture,
    certificates: () => new TestCertificateProvider(ca),
    ztunnel(node, options = {}) {
      const z = new Ztunnel({
        node,
        certificates: new TestCertificateProvider(ca),
        originalDestination: capture.lookup,
        ...options,
      });
      ztunnels.push(z);
      return z;
    },
    track(server) {
      servers.push(server);
      return server;
    },
    async close() {
      await Promise.all(ztunnels.map((z) => z.close()));
      await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    },
  };
}

export function podSockets(ip: string): LoopbackPodSockets {
  return new LoopbackPodSockets(ip);
}

/** An echo app: writes back what it reads, half-closes when the client does. */
export async function echoServer(host: string, port: number): Promise<Server> {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
  await listen(server, host, port);
  return server;
}

/** An app that says who connected (`<ip>:<port>\n`) and closes. */
export async function whoamiServer(host: string, port: number): Promise<Server> {
  const server = createServer((socket) => {
    socket.on('error', () => socket.destroy());
    socket.end(`${plainAddress(socket.remoteAddress)}:${socket.remotePort}\n`);
  });
  await listen(server, host, port);
  return server;
}

export function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export interface Exchange {
  received: Buffer;
  /** How the connection ended: a clean close, or the error code (ECONNRESET for a reset). */
  outcome: 'closed' | string;
}

/** Writes `payload`, half-closes, collects everything until the connection closes. */
export function exchange(socket: Socket, payload: Buffer | string): Promise<Exchange> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let outcome = 'closed';
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      outcome = error.code ?? error.message;
    });
    socket.once('close', () => resolve({ received: Buffer.concat(chunks), outcome }));
    if (socket.connecting) socket.once('connect', () => socket.end(payload));
    else socket.end(payload);
  });
}
