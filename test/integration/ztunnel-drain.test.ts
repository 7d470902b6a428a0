/**
 * Ztunnel.drain, what SIGTERM runs: every pod stops accepting, HBONE peers get GOAWAY, live connections run
 * on until they end (or the deadline cuts them), readiness reports the drain. Two ztunnels on loopback with
 * real TLS; each case builds its own pair, so a drained ztunnel never serves the next case.
 */
import type { Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Workload } from '../../src/core/model/index.ts';
import type { Ztunnel } from '../../src/ztunnel/ztunnel.ts';
import { eventually } from '../support/eventually.ts';
import { quietLogs } from '../support/logging.ts';
import { service, snapshot, workload } from '../support/mesh-fixtures.ts';
import { TestCa } from '../support/test-ca.ts';
import { createHarness, echoServer, exchange, type Harness, podSockets } from '../support/ztunnel-harness.ts';

const APP_PORT = 8080;

/** Writes `text` and resolves with the echo. */
function echo(socket: Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    socket.once('data', (chunk: Buffer) => resolve(chunk.toString()));
    socket.once('error', reject);
    socket.write(text);
  });
}

describe('ztunnel drain', () => {
  let h: Harness;
  let za: Ztunnel;
  let zb: Ztunnel;
  let client: Workload;
  let ip: (host: number) => string;

  beforeEach(async () => {
    quietLogs();
    h = createHarness(new TestCa());
    ip = h.ip;
    client = workload({ name: 'client', ips: [ip(11)], node: 'node-a' });
    const server = workload({ name: 'server', ips: [ip(21)], node: 'node-b' });
    const mesh = snapshot({
      workloads: [client, server],
      services: [
        service({
          name: 'server',
          vips: [ip(200)],
          ports: [{ port: 80, targetPort: APP_PORT, protocol: 'TCP' }],
          endpoints: [{ workloadUid: server.uid, ip: ip(21), ready: true }],
        }),
      ],
    });
    za = h.ztunnel('node-a');
    zb = h.ztunnel('node-b');
    za.applySnapshot(mesh);
    zb.applySnapshot(mesh);
    h.track(await echoServer(ip(21), APP_PORT));
    await za.addPod({ uid: client.uid, sockets: podSockets(ip(11)) });
    await zb.addPod({ uid: server.uid, sockets: podSockets(ip(21)) });
    await eventually(() => za.readiness().ready && zb.readiness().ready, { what: 'both ztunnels ready' });
  });

  afterEach(async () => {
    await h?.close();
  });

  const connect = () => h.capture.connect(ip(11), { ip: ip(200), port: 80 });

  it('lets a live connection finish, refuses new ones, and reports draining', async () => {
    const live = connect();
    expect(await echo(live, 'before')).toBe('before');
    const draining = zb.drain(60_000);
    expect(zb.readiness()).toEqual({ ready: false, reason: 'draining' });
    // The tunnel through node-b still carries bytes after the drain began.
    expect(await echo(live, 'during')).toBe('during');
    // A new connection finds node-b's HBONE listener gone: the client's ztunnel resets it.
    expect((await exchange(connect(), 'late')).outcome).toBe('ECONNRESET');
    // The app's side ends its connection; nothing was cut.
    live.end();
    expect(await draining).toEqual({ finished: 1, cut: 0 });
  });

  it('cuts what is still open at the deadline', async () => {
    const live = connect();
    expect(await echo(live, 'hello')).toBe('hello');
    const closed = new Promise<string>((resolve) => {
      live.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      live.once('close', () => resolve('closed'));
    });
    const result = await zb.drain(200);
    expect(result.cut).toBeGreaterThanOrEqual(1);
    expect(await closed).toBe('ECONNRESET');
  });
});
