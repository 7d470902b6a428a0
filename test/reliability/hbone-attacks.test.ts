/**
 * Issue 8's reliability suite, HBONE (15008) and the pod's plaintext ports (15006, 15001): for each attack a
 * hostile peer runs against node-b's server pod, the ztunnels (in this process) survive, a healthy request
 * loop from node-a's client to the server sees no failure while it runs, descriptors and memory come back
 * within bounds afterwards, and the ztunnel counted what it refused. Every attack is bounded in count.
 * Stream floods beyond the per-connection limit are covered by test/integration/ztunnel-hbone-limits.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { type ClientHttp2Session, connect as http2Connect } from 'node:http2';
import { type Socket, connect as tcpConnect } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZTUNNEL_PORTS } from '../../src/core/ports.ts';
import { ended, hboneTls, healthyLoop, openFds } from '../support/attack-kit.ts';
import { eventually } from '../support/eventually.ts';
import { CLIENT_PREFACE, Flag, FrameType, frame, settings } from '../support/h2-frames.ts';
import { sumOf } from '../support/metric-values.ts';
import { TestCa } from '../support/test-ca.ts';
import { APP_PORT, startTwoNodeMesh, type TwoNodeMesh } from '../support/two-node-mesh.ts';
import { exchange } from '../support/ztunnel-harness.ts';

const CLIENT = 'spiffe://cluster.local/ns/default/sa/client';
/** Descriptors an attack may leave open for a while (pooled connections, timers' sockets). */
const FD_SLACK = 24;
/** Memory an attack may leave behind (V8 does not return its heap at once). */
const RSS_SLACK_BYTES = 96 * 1024 * 1024;

let mesh: TwoNodeMesh;
let server: { host: string; port: number };

/** A TLS connection to the server pod's 15008 with `identity`'s mesh certificate, once secure. */
async function authenticated(identity = CLIENT): Promise<TLSSocket> {
  return hboneTls(server, await mesh.certsA.get(identity), mesh.certsA.trustBundle());
}

async function session(): Promise<ClientHttp2Session> {
  const cert = await mesh.certsA.get(CLIENT);
  const s = http2Connect(`https://${server.host}:${server.port}`, {
    cert: cert.certPem,
    key: cert.keyPem,
    ca: mesh.certsA.trustBundle() as string[],
    servername: 'hbone.ambit.internal',
    checkServerIdentity: () => undefined,
  } as Parameters<typeof http2Connect>[1]);
  s.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    s.once('remoteSettings', () => resolve());
    s.once('close', () => reject(new Error('session closed before its settings')));
  });
  return s;
}

/** Raw bytes after an authenticated handshake, until the server ends the connection. */
async function rawH2(bytes: Buffer[]): Promise<void> {
  const socket = await authenticated();
  for (const chunk of bytes) if (!socket.destroyed) socket.write(chunk);
  await ended(socket);
}

const garbage = (size: number) => async () => {
  const sockets = Array.from({ length: 20 }, () => {
    const socket = tcpConnect(server);
    socket.on('error', () => {});
    socket.once('connect', () => socket.end(randomBytes(size)));
    return ended(socket);
  });
  await Promise.all(sockets);
};

const frames = (count: number, make: (i: number) => Buffer) =>
  Array.from({ length: count }, (_, i) => make(i));

/** The attacks: name, what runs it, and the refusal reasons it must be counted under (any of them). */
const ATTACKS: Array<[string, () => Promise<void>, string[]]> = [
  ['garbage, 1 byte', garbage(1), ['tls-handshake']],
  ['garbage, 1 KiB', garbage(1024), ['tls-handshake']],
  ['garbage, 64 KiB', garbage(64 * 1024), ['tls-handshake']],
  [
    'truncated TLS (a ClientHello header, then nothing)',
    async () => {
      const sockets = Array.from({ length: 20 }, () => {
        const socket = tcpConnect(server);
        socket.on('error', () => {});
        socket.once('connect', () => socket.end(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])));
        return ended(socket);
      });
      await Promise.all(sockets);
    },
    ['tls-handshake'],
  ],
  [
    'no client certificate, and one of a foreign CA',
    async () => {
      const foreign = new TestCa('someone else').issue(CLIENT);
      const attempts = [undefined, foreign].flatMap((cert) =>
        Array.from({ length: 10 }, () => {
          const socket = tlsConnect({
            ...server,
            servername: 'hbone.ambit.internal',
            ALPNProtocols: ['h2'],
            rejectUnauthorized: false,
            ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}),
          });
          return ended(socket);
        }),
      );
      await Promise.all(attempts);
    },
    ['tls-handshake'],
  ],
  [
    'a bad HTTP/2 preface',
    () => rawH2([Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]),
    ['session-error', 'protocol-violation', 'bad-request'],
  ],
  [
    'a SETTINGS flood',
    () => rawH2([Buffer.from(CLIENT_PREFACE), ...frames(20_000, () => settings([[4, 65_535]]))]),
    ['session-error', 'protocol-violation'],
  ],
  [
    'a PING flood',
    () =>
      rawH2([
        Buffer.from(CLIENT_PREFACE),
        settings(),
        ...frames(20_000, () => frame(FrameType.PING, 0, 0, Buffer.alloc(8))),
      ]),
    ['session-error', 'protocol-violation'],
  ],
  [
    'a CONTINUATION flood (a header block that never ends)',
    () =>
      rawH2([
        Buffer.from(CLIENT_PREFACE),
        settings(),
        frame(FrameType.HEADERS, 0, 1, Buffer.alloc(0)),
        ...frames(20_000, () => frame(FrameType.CONTINUATION, 0, 1, Buffer.alloc(16, 0x40))),
      ]),
    ['session-error', 'protocol-violation', 'bad-request'],
  ],
  [
    'an oversized frame',
    () =>
      rawH2([
        Buffer.from(CLIENT_PREFACE),
        settings(),
        frame(FrameType.DATA, Flag.END_STREAM, 1, Buffer.alloc(2 << 20)),
      ]),
    ['session-error', 'protocol-violation'],
  ],
  [
    'rapid resets (streams opened and cancelled at once)',
    async () => {
      const s = await session();
      for (let i = 0; i < 2000 && !s.destroyed; i++) {
        const stream = s.request({ ':method': 'CONNECT', ':authority': `${mesh.ip(21)}:${APP_PORT}` });
        stream.on('error', () => {});
        stream.close(0x8);
      }
      await new Promise<void>((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve())));
    },
    // Cancelled streams are work the server was asked for and did, not a violation: nothing to count.
    [],
  ],
  [
    'slow-loris before the handshake (silent connections)',
    async () => {
      const sockets = Array.from({ length: 50 }, () => {
        const socket = tcpConnect(server);
        return ended(socket);
      });
      await Promise.all(sockets);
    },
    ['tls-handshake', 'handshake-limit'],
  ],
  [
    'slow-loris after the handshake (no CONNECT ever)',
    async () => {
      const sockets = await Promise.all(Array.from({ length: 20 }, () => authenticated()));
      await Promise.all(sockets.map((socket) => ended(socket)));
    },
    // Closed by the first-CONNECT deadline (the handshake timeout).
    ['no-connect'],
  ],
];

beforeAll(async () => {
  // Short deadlines so that the slow-loris cases end within the test. Every attack here comes from this
  // process's one address, one after another: the per-source handshake rate is lifted so that each attack
  // reaches the defence it is about (hbone-handshake-flood.test.ts proves that rate at its default).
  mesh = await startTwoNodeMesh({
    nodeB: {
      timeouts: { handshakeMs: 1_000 },
      limits: { sessionIdleMs: 1_000, maxHandshakesPerSourcePerSecond: 100_000 },
    },
  });
  server = { host: mesh.ip(21), port: ZTUNNEL_PORTS.hbone };
  await eventually(() => mesh.zb.readiness().ready, { what: 'node-b ready' });
});

afterAll(async () => {
  await mesh?.close();
});

describe('HBONE (15008) under attack: the healthy loop sees no failure, resources come back, refusals are counted', () => {
  /** One request through the mesh: client (node-a) -> server's echo (node-b), over HBONE. */
  const request = async () => {
    const socket = mesh.h.capture.connect(mesh.ip(11), { ip: mesh.ip(21), port: APP_PORT });
    const { received, outcome } = await exchange(socket, 'ping');
    if (received.toString() !== 'ping' || outcome !== 'closed')
      throw new Error(`got ${JSON.stringify(received.toString())} (${outcome})`);
  };

  it.each(ATTACKS)('%s', async (_name, attack, reasons) => {
    await request(); // warm: the pooled HBONE connection exists before the baseline is taken
    const fdsBefore = openFds();
    const rssBefore = process.memoryUsage().rss;
    const refusedBefore = await refusedUnder(reasons);
    const loop = healthyLoop(request, 500);
    await attack();
    const { ok, failed, firstError } = await loop.stop();
    expect({ failed, firstError }).toEqual({ failed: 0, firstError: undefined });
    expect(ok).toBeGreaterThan(0);
    await eventually(async () => reasons.length === 0 || (await refusedUnder(reasons)) > refusedBefore, {
      what: `the refusal counted under ${reasons.join(' or ')} (counted: ${JSON.stringify((await mesh.zb.metrics.hboneRefused.get()).values.map((v) => [v.labels.reason, v.value]))}, ${JSON.stringify((await mesh.zb.metrics.connectionsRefused.get()).values.map((v) => [v.labels.reason, v.value]))})`,
    });
    await eventually(() => openFds() <= fdsBefore + FD_SLACK, {
      what: `descriptors back near ${fdsBefore}`,
      timeout: 15_000,
    });
    expect(process.memoryUsage().rss).toBeLessThan(rssBefore + RSS_SLACK_BYTES);
    // The ztunnel still serves: the same objects, the pod still ready.
    expect(mesh.zb.readiness().ready).toBe(true);
  });
});

async function refusedUnder(reasons: readonly string[]): Promise<number> {
  let total = 0;
  for (const reason of reasons) total += await sumOf(mesh.zb.metrics.hboneRefused, { reason });
  return total;
}

describe('the plaintext capture ports (15006, 15001) under garbage and floods', () => {
  // Separate from the HBONE mesh above only in what is attacked; they share it.
  it('15006 and 15001 take garbage and a connection flood without a failed healthy request', async () => {
    const fdsBefore = openFds();
    const loop = healthyLoop(async () => {
      const socket = mesh.h.capture.connect(mesh.ip(11), { ip: mesh.ip(21), port: APP_PORT });
      const { received, outcome } = await exchange(socket, 'ping');
      if (received.toString() !== 'ping')
        throw new Error(`got ${JSON.stringify(received.toString())} (${outcome}, port ${socket.localPort})`);
    }, 500);
    const targets = [
      { host: mesh.ip(21), port: ZTUNNEL_PORTS.inboundPlaintext },
      { host: mesh.ip(11), port: ZTUNNEL_PORTS.outbound },
    ];
    const attacks: Promise<void>[] = [];
    for (const target of targets) {
      for (let i = 0; i < 100; i++) {
        const socket: Socket = tcpConnect(target);
        socket.on('error', () => {});
        socket.once('connect', () => socket.end(randomBytes(1 + (i % 7) * 1000)));
        attacks.push(ended(socket));
      }
    }
    await Promise.all(attacks);
    const { failed, ok, firstError } = await loop.stop();
    expect({ failed, firstError }).toEqual({ failed: 0, firstError: undefined });
    expect(ok).toBeGreaterThan(0);
    // Dialled straight at the capture ports, these connections were never redirected: refused as loops.
    expect(await sumOf(mesh.zb.metrics.connectionsRefused, {})).toBeGreaterThan(0);
    expect(await sumOf(mesh.za.metrics.connectionsRefused, {})).toBeGreaterThan(0);
    await eventually(() => openFds() <= fdsBefore + FD_SLACK, { what: 'descriptors back', timeout: 15_000 });
  });
});
