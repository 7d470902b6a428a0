/**
 * Issue 8's reliability suite, the waypoint's HBONE port (15008), on both HTTP/2 paths (node:http2 and our
 * framer): an HPACK bomb (one 4 KiB dynamic-table entry referenced 11,000 times: 44 MB of headers from a
 * 15 KB frame), a CONTINUATION flood, garbage, no client certificate and an authenticated slow loris. For
 * each, a healthy loop of requests through the waypoint (an HBONE CONNECT, then HTTP/1.1 to a route that
 * answers directly) sees no failure, descriptors come back, and the waypoint counted the refusal. The
 * waypoint's limits come in through `WaypointLimits`, as `ambit waypoint run`'s flags pass them.
 */
import { randomBytes } from 'node:crypto';
import { type ClientHttp2Session, connect as http2Connect } from 'node:http2';
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HboneImplementation } from '../../src/core/hbone/implementation.ts';
import { Waypoint } from '../../src/waypoint/waypoint.ts';
import { ended, hboneTls, healthyLoop, openFds } from '../support/attack-kit.ts';
import { eventually } from '../support/eventually.ts';
import { CLIENT_PREFACE, Flag, FrameType, frame, settings } from '../support/h2-frames.ts';
import { silentLogger } from '../support/logging.ts';
import { service } from '../support/mesh-fixtures.ts';
import { sumOf } from '../support/metric-values.ts';
import { answeringOkSnapshot } from '../support/route-table.ts';
import { TestCa, TestCertificateProvider } from '../support/test-ca.ts';
import { loopbackSubnet } from '../support/ztunnel-harness.ts';

const CLIENT = 'spiffe://cluster.local/ns/default/sa/client';
const VIP = '10.96.7.1';
const FD_SLACK = 24;

/** An HPACK integer with an `prefix`-bit prefix, the first byte's other bits `flags` (RFC 7541 5.1). */
function hpackInt(value: number, prefix: number, flags: number): Buffer {
  const max = (1 << prefix) - 1;
  if (value < max) return Buffer.from([flags | value]);
  const bytes = [flags | max];
  for (value -= max; value >= 128; value >>= 7) bytes.push((value & 0x7f) | 0x80);
  bytes.push(value);
  return Buffer.from(bytes);
}

/** A header block that inserts one 4 KiB entry into the dynamic table, then names it `refs` times. */
function hpackBomb(refs: number): Buffer {
  const value = Buffer.alloc(4_000, 0x61);
  const insert = Buffer.concat([
    Buffer.from([0x40]),
    hpackInt(4, 7, 0),
    Buffer.from('bomb'),
    hpackInt(value.length, 7, 0),
    value,
  ]);
  // Index 62: the newest dynamic-table entry.
  return Buffer.concat([insert, Buffer.alloc(refs, 0x80 | 62)]);
}

describe.each(['node-http2', 'framer'] as HboneImplementation[])('the waypoint on %s', (implementation) => {
  const ip = loopbackSubnet()(41);
  const ca = new TestCa();
  const clientCerts = new TestCertificateProvider(ca);
  let waypoint: Waypoint;
  const server = { host: ip, port: 15008 };

  beforeAll(async () => {
    waypoint = new Waypoint({
      waypoint: { name: 'waypoint', namespace: 'default' },
      identity: 'spiffe://cluster.local/ns/default/sa/waypoint',
      certificates: new TestCertificateProvider(ca),
      trustDomains: ['cluster.local'],
      log: silentLogger,
      accessLog: null,
      // The slow-loris case ends within the test; the attacks all come from this one address.
      limits: { handshakeMs: 1_000, hbone: { maxHandshakesPerSourcePerSecond: 100_000 } },
    });
    const shop = service({ name: 'shop', vips: [VIP] });
    waypoint.applySnapshot(answeringOkSnapshot(shop, { name: 'waypoint', namespace: 'default' }));
    const previous = process.env.AMBIT_HBONE_IMPL;
    process.env.AMBIT_HBONE_IMPL = implementation;
    try {
      await waypoint.listen(ip, 15008);
    } finally {
      if (previous === undefined) delete process.env.AMBIT_HBONE_IMPL;
      else process.env.AMBIT_HBONE_IMPL = previous;
    }
  });

  afterAll(async () => {
    await waypoint?.close();
  });

  const tls = async () => hboneTls(server, await clientCerts.get(CLIENT), clientCerts.trustBundle());

  let session: ClientHttp2Session | undefined;
  /**
   * One request as a source ztunnel makes it: CONNECT to the VIP, then HTTP/1.1 inside the tunnel;
   * `halfClose` ends our side right after the request, as a tunnel does when its app sent a FIN.
   */
  const request = async (halfClose = false) => {
    if (!session || session.destroyed || session.closed) {
      const cert = await clientCerts.get(CLIENT);
      session = http2Connect(`https://${ip}:15008`, {
        cert: cert.certPem,
        key: cert.keyPem,
        ca: clientCerts.trustBundle() as string[],
        servername: 'hbone.ambit.internal',
        checkServerIdentity: () => undefined,
      } as Parameters<typeof http2Connect>[1]);
      session.on('error', () => {});
    }
    const stream = session.request({ ':method': 'CONNECT', ':authority': `${VIP}:80` });
    const text = await new Promise<string>((resolve, reject) => {
      let body = '';
      stream.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      stream.once('end', () => {
        stream.end();
        resolve(body);
      });
      stream.once('error', reject);
      // The tunnel stays open until the waypoint has answered (and closed it: connection: close).
      stream.write('GET / HTTP/1.1\r\nhost: shop\r\nconnection: close\r\n\r\n');
      if (halfClose) stream.end();
    });
    if (!text.startsWith('HTTP/1.1 200')) throw new Error(`got ${JSON.stringify(text.slice(0, 40))}`);
  };

  const raw = (bytes: Buffer[]) => async () => {
    await Promise.all(
      Array.from({ length: 5 }, async () => {
        const socket = await tls();
        for (const chunk of bytes) if (!socket.destroyed) socket.write(chunk);
        await ended(socket);
      }),
    );
  };

  const ATTACKS: Array<[string, () => Promise<void>, string[]]> = [
    [
      'an HPACK bomb',
      raw([
        Buffer.from(CLIENT_PREFACE),
        settings(),
        frame(FrameType.HEADERS, Flag.END_HEADERS, 1, hpackBomb(11_000)),
      ]),
      // node:http2 refuses the stream itself (its header list limit) without telling the server; the
      // connection, which asked for nothing else, is then closed at the first-CONNECT deadline.
      ['session-error', 'protocol-violation', 'bad-request', 'no-connect'],
    ],
    [
      'a CONTINUATION flood',
      raw([
        Buffer.from(CLIENT_PREFACE),
        settings(),
        frame(FrameType.HEADERS, 0, 1, Buffer.alloc(0)),
        ...Array.from({ length: 20_000 }, () => frame(FrameType.CONTINUATION, 0, 1, Buffer.alloc(16, 0x40))),
      ]),
      ['session-error', 'protocol-violation', 'bad-request'],
    ],
    [
      'garbage of several sizes',
      async () => {
        await Promise.all(
          [1, 512, 64 * 1024].flatMap((size) =>
            Array.from({ length: 10 }, () => {
              const socket = tcpConnect(server);
              socket.on('error', () => {});
              socket.once('connect', () => socket.end(randomBytes(size)));
              return ended(socket);
            }),
          ),
        );
      },
      ['tls-handshake'],
    ],
    [
      'no client certificate',
      async () => {
        await Promise.all(
          Array.from({ length: 10 }, () =>
            ended(
              tlsConnect({
                ...server,
                servername: 'hbone.ambit.internal',
                ALPNProtocols: ['h2'],
                rejectUnauthorized: false,
              }),
            ),
          ),
        );
      },
      ['tls-handshake'],
    ],
    [
      'slow loris after the handshake',
      async () => {
        const sockets = await Promise.all(Array.from({ length: 10 }, () => tls()));
        await Promise.all(sockets.map((socket) => ended(socket)));
      },
      ['no-connect'],
    ],
  ];

  const refused = async (reasons: readonly string[]) => {
    let total = 0;
    for (const reason of reasons) total += await sumOf(waypoint.metrics.refused, { reason });
    return total;
  };

  it('answers a client that half-closes right after its request', async () => {
    await request(true);
  });

  it.each(ATTACKS)('%s', async (_name, attack, reasons) => {
    await request();
    const fdsBefore = openFds();
    const before = await refused(reasons);
    const loop = healthyLoop(request, 500);
    await attack();
    const { ok, failed, firstError } = await loop.stop();
    expect({ failed, firstError }).toEqual({ failed: 0, firstError: undefined });
    expect(ok).toBeGreaterThan(0);
    await eventually(async () => (await refused(reasons)) > before, {
      what: `the refusal counted under ${reasons.join(' or ')} (${JSON.stringify((await waypoint.metrics.refused.get()).values.map((v) => [v.labels.reason, v.value]))})`,
    });
    await eventually(() => openFds() <= fdsBefore + FD_SLACK, { what: `descriptors back near ${fdsBefore}` });
    expect(waypoint.readiness().ready).toBe(true);
  });
});
