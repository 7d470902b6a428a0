/**
 * Garbage on the HBONE port (plain HTTP, random bytes, certificates from another CA, expired or foreign
 * ones, no certificate, wrong ALPN, handshakes that never finish, malformed CONNECTs) is refused with a
 * bounded cost and counted, while a healthy tunnel keeps streaming through the same listener.
 */

import { randomBytes } from 'node:crypto';
import { connect as http2Connect } from 'node:http2';
import { type Socket, connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ztunnel } from '../../src/ztunnel/ztunnel.ts';
import { eventually } from '../support/eventually.ts';
import { quietLogs } from '../support/logging.ts';
import { service, snapshot, workload } from '../support/mesh-fixtures.ts';
import { sumOf } from '../support/metric-values.ts';
import { TestCa, type TestCertificateProvider } from '../support/test-ca.ts';
import { createHarness, echoServer, type Harness, podSockets } from '../support/ztunnel-harness.ts';

const APP_PORT = 8080;

/** Resolves when the socket is closed, with how it ended. */
function closed(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let outcome = 'closed';
    socket.on('error', (error: NodeJS.ErrnoException) => {
      outcome = error.code ?? error.message;
    });
    socket.on('data', () => {});
    socket.once('close', () => resolve(outcome));
  });
}

describe('ztunnel HBONE port under garbage', () => {
  let h: Harness;
  let za: Ztunnel;
  let zb: Ztunnel;
  let ip: (host: number) => string;
  let ca: TestCa;
  let certs: TestCertificateProvider;
  const clientIdentity = 'spiffe://cluster.local/ns/default/sa/client';
  let healthy: Socket;
  let healthyReceived = 0;
  let healthySent = 0;
  let pump: NodeJS.Timeout;

  beforeAll(async () => {
    quietLogs();
    ca = new TestCa();
    h = createHarness(ca);
    ip = h.ip;
    certs = h.certificates();
    const client = workload({ name: 'client', ips: [ip(11)], node: 'node-a' });
    const server = workload({ name: 'server', ips: [ip(21)], node: 'node-b' });
    const base = snapshot({
      workloads: [client, server],
      services: [
        service({
          name: 'server',
          vips: [ip(200)],
          endpoints: [{ workloadUid: server.uid, ip: ip(21), ready: true }],
        }),
      ],
    });
    za = h.ztunnel('node-a');
    // A short handshake timeout makes the slow-loris case quick; everything else uses the defaults.
    zb = h.ztunnel('node-b', { timeouts: { handshakeMs: 1_000 } });
    za.applySnapshot(base);
    zb.applySnapshot(base);
    h.track(await echoServer(ip(21), APP_PORT));
    await za.addPod({ uid: client.uid, sockets: podSockets(ip(11)) });
    await zb.addPod({ uid: server.uid, sockets: podSockets(ip(21)) });
    await eventually(() => zb.readiness().ready, { what: 'node-b ready' });

    // A healthy tunnel that keeps streaming while the garbage arrives.
    healthy = h.capture.connect(ip(11), { ip: ip(200), port: 80 });
    healthy.on('data', (chunk: Buffer) => {
      healthyReceived += chunk.length;
    });
    await new Promise((resolve) => healthy.once('connect', resolve));
    const chunk = randomBytes(16 * 1024);
    pump = setInterval(() => {
      healthy.write(chunk);
      healthySent += chunk.length;
    }, 5);
  });

  afterAll(async () => {
    clearInterval(pump);
    healthy?.destroy();
    await h?.close();
  });

  const hbone = () => ({ host: ip(21), port: 15008 });

  it('refuses plain HTTP and random bytes at the TLS layer', async () => {
    const http = tcpConnect(hbone());
    http.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const random = tcpConnect(hbone());
    random.write(randomBytes(4096));
    await Promise.all([closed(http), closed(random)]);
    await eventually(async () => (await sumOf(zb.metrics.hboneRefused, { reason: 'tls-handshake' })) >= 2, {
      what: 'both counted',
    });
  });

  it('refuses a client certificate from another CA, an expired one, and no certificate at all', async () => {
    const before = await sumOf(zb.metrics.hboneRefused, { reason: 'tls-handshake' });
    const foreignCa = new TestCa('someone else');
    const wrongCa = foreignCa.issue(clientIdentity);
    const expired = ca.issue(clientIdentity, {
      notBefore: new Date(Date.now() - 7200_000),
      notAfter: new Date(Date.now() - 3600_000),
    });
    const attempts = [wrongCa, expired, undefined].map((cert) =>
      closed(
        tlsConnect({
          ...hbone(),
          servername: 'hbone.ambit.internal',
          ALPNProtocols: ['h2'],
          rejectUnauthorized: false,
          ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}),
        }),
      ),
    );
    await Promise.all(attempts);
    await eventually(
      async () => (await sumOf(zb.metrics.hboneRefused, { reason: 'tls-handshake' })) >= before + 3,
      { what: 'three handshake refusals counted' },
    );
  });

  it('refuses certificates of the mesh CA whose identity is foreign or not SPIFFE', async () => {
    const foreignDomain = ca.issue('spiffe://evil.example/ns/default/sa/client');
    const dnsOnly = ca.issue('x', { uris: [], dnsNames: ['client.default.svc'] });
    const twoIds = ca.issue(clientIdentity, {
      uris: [clientIdentity, 'spiffe://cluster.local/ns/default/sa/admin'],
    });
    const statuses = await Promise.all(
      [foreignDomain, dnsOnly, twoIds].map(
        (cert) =>
          new Promise<string>((resolve) => {
            const session = http2Connect(`https://${ip(21)}:15008`, {
              cert: cert.certPem,
              key: cert.keyPem,
              ca: certs.trustBundle() as string[],
              servername: 'hbone.ambit.internal',
              checkServerIdentity: () => undefined,
            });
            session.on('error', () => resolve('session error'));
            const stream = session.request({ ':method': 'CONNECT', ':authority': `${ip(21)}:${APP_PORT}` });
            stream.on('response', (headers) => resolve(String(headers[':status'])));
            stream.on('error', () => {});
            stream.on('close', () => resolve('closed'));
            session.on('close', () => resolve('closed'));
          }),
      ),
    );
    expect(statuses.every((s) => s === 'closed' || s === 'session error')).toBe(true);
    await eventually(async () => (await sumOf(zb.metrics.hboneRefused, { reason: 'bad-identity' })) >= 3, {
      what: 'identities refused',
    });
  });

  it.each([
    // Offered, but not h2: TLS itself refuses (no_application_protocol) before HTTP/2 could start.
    ['offers only http/1.1', ['http/1.1'], 'tls-handshake'],
    // Offers nothing: the handshake completes, and the HTTP/2 server refuses the connection.
    ['offers no protocol', undefined, 'no-h2'],
  ] as const)('refuses a client that %s, and counts that refusal', async (_what, alpn, reason) => {
    const cert = await certs.get(clientIdentity);
    // Earlier tests pushed the total up: only this refusal's own counter, moved by one, proves it was counted.
    const before = await sumOf(zb.metrics.hboneRefused, { reason });
    const socket = tlsConnect({
      ...hbone(),
      cert: cert.certPem,
      key: cert.keyPem,
      servername: 'hbone.ambit.internal',
      ...(alpn ? { ALPNProtocols: [...alpn] } : {}),
      rejectUnauthorized: false,
    });
    await closed(socket);
    const after = await eventually(
      async () => {
        const now = await sumOf(zb.metrics.hboneRefused, { reason });
        return now > before && now;
      },
      { what: `a ${reason} refusal counted` },
    );
    expect(after).toBe(before + 1);
  });

  it('drops handshakes that never finish (slow loris) after the handshake timeout', async () => {
    const silent = tcpConnect(hbone());
    const trickle = tcpConnect(hbone());
    // A TLS record header promising a big ClientHello, then a byte now and then.
    trickle.write(Buffer.from([0x16, 0x03, 0x01, 0x40, 0x00]));
    const dribble = setInterval(() => trickle.writable && trickle.write(Buffer.from([0x01])), 200);
    try {
      // Both are closed by the server (the test would time out otherwise).
      await Promise.all([closed(silent), closed(trickle)]);
    } finally {
      clearInterval(dribble);
    }
  });

  it('answers 400 to a well-authenticated peer that sends no proper CONNECT', async () => {
    const cert = await certs.get(clientIdentity);
    const session = http2Connect(`https://${ip(21)}:15008`, {
      cert: cert.certPem,
      key: cert.keyPem,
      ca: certs.trustBundle() as string[],
      servername: 'hbone.ambit.internal',
      checkServerIdentity: () => undefined,
    });
    session.on('error', () => {});
    const status = (headers: Record<string, string>) =>
      new Promise<number>((resolve) => {
        const stream = session.request(headers, { endStream: headers[':method'] !== 'CONNECT' });
        stream.on('response', (response) => resolve(Number(response[':status'])));
        stream.on('error', () => resolve(-1));
      });
    expect(await status({ ':method': 'GET', ':path': '/', ':authority': `${ip(21)}:${APP_PORT}` })).toBe(400);
    expect(await status({ ':method': 'CONNECT', ':authority': 'not-an-address' })).toBe(400);
    // A CONNECT for an address that is not this pod would make the listener an open relay.
    expect(await status({ ':method': 'CONNECT', ':authority': `${ip(31)}:${APP_PORT}` })).toBe(400);
    expect(await status({ ':method': 'CONNECT', ':authority': `${ip(21)}:${APP_PORT}` })).toBe(200);
    session.destroy();
  });

  it('survives a flood of garbage connections and keeps the healthy tunnel intact', async () => {
    const flood = Array.from({ length: 200 }, (_, i) => {
      const socket = tcpConnect(hbone());
      socket.on('error', () => {});
      socket.once('connect', () => socket.end(i % 2 ? randomBytes(512) : 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'));
      return closed(socket);
    });
    await Promise.all(flood);
    // The healthy tunnel got every byte echoed so far, without a break.
    const sentSoFar = healthySent;
    await eventually(() => healthyReceived >= sentSoFar, { what: 'healthy tunnel caught up' });
    expect(healthy.destroyed).toBe(false);
    // And new tunnels still work.
    const fresh = h.capture.connect(ip(11), { ip: ip(200), port: 80 });
    const echoed = await new Promise<string>((resolve) => {
      let text = '';
      fresh.on('data', (c: Buffer) => {
        text += c.toString();
      });
      fresh.once('close', () => resolve(text));
      fresh.once('connect', () => fresh.end('still here'));
    });
    expect(echoed).toBe('still here');
  });
});
