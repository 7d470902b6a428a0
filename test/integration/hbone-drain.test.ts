/**
 * HboneServer.close drains: it stops accepting, sends GOAWAY, lets open tunnels run to their end and resets
 * only what is still open at the deadline (0 = at once, for a pod that is gone). Real TLS and HTTP/2 on a
 * loopback address unique to the run.
 */
import { type AddressInfo, connect as tcpConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HbonePool } from '../../src/core/hbone/pool.ts';
import { HboneServer, respond } from '../../src/core/hbone/server.ts';
import { DEFAULT_HBONE_TIMEOUTS, DEFAULT_POOL } from '../../src/core/hbone/settings.ts';
import { listen } from '../../src/core/server/listen.ts';
import { SecureContextCache } from '../../src/core/tls/contexts.ts';
import { eventually } from '../support/eventually.ts';
import { TestCa, TestCertificateProvider } from '../support/test-ca.ts';
import { loopbackSubnet } from '../support/ztunnel-harness.ts';

const CLIENT = 'spiffe://cluster.local/ns/default/sa/client';
const SERVER = 'spiffe://cluster.local/ns/default/sa/server';
const TRUST = new Set(['cluster.local']);

describe('HboneServer.close (drain)', () => {
  const ip = loopbackSubnet()(1);
  let certificates: TestCertificateProvider;
  let server: HboneServer;
  let port: number;
  let pool: HbonePool;
  /** The server side of each tunnel, answered 200 and echoing what it receives. */
  const tunnels: Duplex[] = [];

  beforeEach(async () => {
    certificates = new TestCertificateProvider(new TestCa());
    server = new HboneServer({
      certificate: await certificates.get(SERVER),
      trustBundle: certificates.trustBundle(),
      trustDomains: TRUST,
      timeouts: DEFAULT_HBONE_TIMEOUTS,
      windows: DEFAULT_POOL,
      onConnect: (request) => {
        respond(request.stream, 200);
        tunnels.push(request.stream);
        request.stream.on('data', (chunk: Buffer) => request.stream.write(chunk));
        request.stream.on('end', () => request.stream.end());
      },
      onRefused: () => {},
    });
    await listen(server.server, { host: ip, port: 0 });
    port = (server.server.address() as AddressInfo).port;
    pool = newPool();
  });

  afterEach(async () => {
    pool.close();
    await server.close(0);
    tunnels.length = 0;
  });

  function newPool(): HbonePool {
    return new HbonePool({
      contexts: new SecureContextCache(certificates),
      trustDomains: TRUST,
      settings: DEFAULT_POOL,
      timeouts: DEFAULT_HBONE_TIMEOUTS,
    });
  }

  function open(from: HbonePool, key: string): Promise<Duplex> {
    return from.connect({
      sourceIdentity: CLIENT,
      peerIdentity: SERVER,
      peerIp: ip,
      peerPort: port,
      sourceKey: key,
      authority: `${ip}:8080`,
      headers: {},
      dial: () => tcpConnect({ host: ip, port }),
    });
  }

  function roundTrip(stream: Duplex, text: string): Promise<string> {
    return new Promise((resolve, reject) => {
      stream.once('data', (chunk: Buffer) => resolve(chunk.toString()));
      stream.once('error', reject);
      stream.write(text);
    });
  }

  it('lets a live tunnel run to its end, refuses new connections, and reports it finished', async () => {
    const tunnel = await open(pool, 'a');
    expect(await roundTrip(tunnel, 'before')).toBe('before');
    const closing = server.close(60_000);
    // The tunnel still carries bytes after the drain began.
    expect(await roundTrip(tunnel, 'during')).toBe('during');
    // Nothing new is accepted: a fresh pool (a fresh connection) is refused.
    const late = newPool();
    try {
      await expect(open(late, 'late')).rejects.toThrow();
    } finally {
      late.close();
    }
    // The client ends its tunnel: the drain is complete without cutting anything.
    tunnel.end();
    expect(await closing).toEqual({ finished: 1, cut: 0 });
  });

  it('sends GOAWAY: the client opens no new stream on the draining connection', async () => {
    const first = await open(pool, 'a');
    expect(await roundTrip(first, 'x')).toBe('x');
    const closing = server.close(60_000);
    await eventually(() => pool.connections().every((c) => c.state === 'draining'), {
      what: 'the pool to see GOAWAY',
    });
    // The next CONNECT needs a new connection, and the server takes none.
    await expect(open(pool, 'a')).rejects.toThrow();
    first.end();
    expect(await closing).toEqual({ finished: 1, cut: 0 });
  });

  it('resets what is still open at the deadline', async () => {
    const tunnel = await open(pool, 'a');
    expect(await roundTrip(tunnel, 'hello')).toBe('hello');
    const ended = new Promise<void>((resolve) => tunnel.once('close', () => resolve()));
    expect(await server.close(0)).toEqual({ finished: 0, cut: 1 });
    await ended;
    expect(tunnels[0]!.destroyed).toBe(true);
  });
});
