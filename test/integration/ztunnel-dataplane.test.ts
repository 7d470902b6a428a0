/**
 * Two ztunnels (node-a, node-b) on loopback with real TLS and a test CA: apps connect through outbound
 * capture, get tunnelled over HBONE, authorized and spliced to echo servers.
 */

import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeSnapshot } from '../../src/core/model/index.ts';
import { ZTUNNEL_PORTS } from '../../src/core/ports.ts';
import type { Ztunnel } from '../../src/ztunnel/ztunnel.ts';
import { eventually } from '../support/eventually.ts';
import { quietLogs } from '../support/logging.ts';
import {
  peerAuth,
  policy,
  rule,
  service,
  snapshot,
  source,
  target,
  workload,
} from '../support/mesh-fixtures.ts';
import { sumOf } from '../support/metric-values.ts';
import { TestCa } from '../support/test-ca.ts';
import {
  createHarness,
  echoServer,
  exchange,
  type Harness,
  listen,
  podSockets,
  whoamiServer,
} from '../support/ztunnel-harness.ts';

const APP_PORT = 8080;

/** Collects what a socket receives until it closes, without writing or ending it. */
function exchangeLater(socket: import('node:net').Socket): Promise<{ outcome: string }> {
  return new Promise((resolve) => {
    let outcome = 'closed';
    socket.on('data', () => {});
    socket.on('error', (error: NodeJS.ErrnoException) => {
      outcome = error.code ?? error.message;
    });
    socket.once('close', () => resolve({ outcome }));
  });
}
const WHOAMI_PORT = 8081;
const CLOSED_PORT = 8089;
/** An app that reads its client's request to the end (the client's FIN), then resets the connection. */
const RESETTING_PORT = 8082;

describe('ztunnel data path (two nodes on loopback)', () => {
  let h: Harness;
  let za: Ztunnel;
  let zb: Ztunnel;
  let ip: (host: number) => string;
  let base: NodeSnapshot;
  let client: ReturnType<typeof workload>;
  let server: ReturnType<typeof workload>;
  let late: ReturnType<typeof workload>;

  const apply = (overrides: Partial<NodeSnapshot>) => {
    const next = { ...base, ...overrides, version: String(Date.now() + Math.random()) };
    za.applySnapshot(next);
    zb.applySnapshot(next);
  };

  beforeAll(async () => {
    quietLogs();
    h = createHarness(new TestCa());
    ip = h.ip;
    client = workload({ name: 'client', ips: [ip(11)], node: 'node-a' });
    late = workload({ name: 'late', ips: [ip(12)], node: 'node-a' });
    server = workload({ name: 'server', ips: [ip(21)], node: 'node-b', labels: { app: 'server' } });
    const plain = workload({ name: 'plain', ips: [ip(31)], node: 'node-b', enrolled: false });
    base = snapshot({
      workloads: [client, server, plain],
      services: [
        service({
          name: 'server',
          vips: [ip(200)],
          ports: [
            { port: 80, targetPort: APP_PORT, protocol: 'TCP' },
            { port: 81, targetPort: WHOAMI_PORT, protocol: 'TCP' },
            { port: 89, targetPort: CLOSED_PORT, protocol: 'TCP' },
            { port: 82, targetPort: RESETTING_PORT, protocol: 'TCP' },
          ],
          endpoints: [{ workloadUid: server.uid, ip: ip(21), ready: true }],
        }),
        service({
          name: 'plain',
          vips: [ip(201)],
          endpoints: [{ workloadUid: plain.uid, ip: ip(31), ready: true }],
        }),
      ],
    });
    za = h.ztunnel('node-a');
    zb = h.ztunnel('node-b');
    za.applySnapshot(base);
    zb.applySnapshot(base);
    h.track(await echoServer(ip(21), APP_PORT));
    h.track(await whoamiServer(ip(21), WHOAMI_PORT));
    const resetting = createServer({ allowHalfOpen: true }, (socket) => {
      socket.on('error', () => undefined);
      socket.resume();
      socket.once('end', () => socket.resetAndDestroy());
    });
    await listen(resetting, ip(21), RESETTING_PORT);
    h.track(resetting);
    h.track(await echoServer(ip(31), APP_PORT));
    await za.addPod({ uid: client.uid, sockets: podSockets(ip(11)) });
    await zb.addPod({ uid: server.uid, sockets: podSockets(ip(21)) });
    await eventually(() => za.readiness().ready && zb.readiness().ready, { what: 'both ztunnels ready' });
  });

  afterAll(async () => {
    await h?.close();
  });

  it('tunnels a connection to a service VIP over HBONE to the endpoint, and counts it on both sides', async () => {
    const payload = Buffer.alloc(300_000, 7);
    const result = await exchange(h.capture.connect(ip(11), { ip: ip(200), port: 80 }), payload);
    expect(result.outcome).toBe('closed');
    expect(result.received.equals(payload)).toBe(true);

    const sourceSide = {
      reporter: 'source',
      source_workload: 'client',
      destination_workload: 'server',
    } as const;
    await eventually(async () => (await sumOf(za.metrics.tcpClosed, sourceSide)) === 1, {
      what: 'source-side close counted',
    });
    expect(
      await sumOf(za.metrics.tcpOpened, { ...sourceSide, connection_security_policy: 'mutual_tls' }),
    ).toBe(1);
    expect(
      await sumOf(za.metrics.tcpOpened, {
        ...sourceSide,
        destination_service: 'server.default.svc.cluster.local',
        source_principal: client.identity,
        destination_principal: server.identity,
      }),
    ).toBe(1);
    expect(await sumOf(za.metrics.receivedBytes, sourceSide)).toBe(payload.length);
    expect(await sumOf(za.metrics.sentBytes, sourceSide)).toBe(payload.length);

    const destSide = {
      reporter: 'destination',
      source_workload: 'client',
      destination_workload: 'server',
    } as const;
    await eventually(async () => (await sumOf(zb.metrics.tcpClosed, destSide)) === 1, {
      what: 'destination-side close counted',
    });
    expect(await sumOf(zb.metrics.tcpOpened, { ...destSide, source_principal: client.identity })).toBe(1);
    expect(await sumOf(zb.metrics.receivedBytes, destSide)).toBe(payload.length);
    expect(await sumOf(zb.metrics.sentBytes, destSide)).toBe(payload.length);
  });

  it('reports bytes of a live connection at scrape time, before it closes', async () => {
    const socket = h.capture.connect(ip(11), { ip: ip(200), port: 80 });
    await new Promise((resolve) => socket.once('connect', resolve));
    const before = await sumOf(za.metrics.receivedBytes, { reporter: 'source' });
    socket.write(Buffer.alloc(12_345, 1));
    let echoed = 0;
    socket.on('data', (chunk: Buffer) => {
      echoed += chunk.length;
    });
    await eventually(() => echoed === 12_345, { what: 'echo of the live write' });
    expect((await sumOf(za.metrics.receivedBytes, { reporter: 'source' })) - before).toBe(12_345);
    const listed = za.connections().connections.find((c) => c.direction === 'outbound');
    expect(listed).toMatchObject({
      bytesSent: 12_345,
      bytesReceived: 12_345,
      mode: 'hbone',
      destinationWorkload: 'default/server',
    });
    socket.end();
    await new Promise((resolve) => socket.once('close', resolve));
  });

  it('tunnels to a meshed pod IP directly and dials the app from the client IP', async () => {
    const result = await exchange(h.capture.connect(ip(11), { ip: ip(21), port: WHOAMI_PORT }), '');
    expect(result.outcome).toBe('closed');
    expect(result.received.toString().split(':')[0]).toBe(ip(11));
  });

  it('maps the service port to the target port', async () => {
    const result = await exchange(h.capture.connect(ip(11), { ip: ip(200), port: 81 }), '');
    expect(result.received.toString().split(':')[0]).toBe(ip(11));
  });

  it('passes through to a destination outside the mesh, in plaintext', async () => {
    const viaVip = await exchange(h.capture.connect(ip(11), { ip: ip(201), port: 80 }), 'plain');
    expect(viaVip).toEqual({ received: Buffer.from('plain'), outcome: 'closed' });
    const direct = await exchange(h.capture.connect(ip(11), { ip: ip(31), port: APP_PORT }), 'plain2');
    expect(direct.received.toString()).toBe('plain2');
    await eventually(
      async () =>
        (await sumOf(za.metrics.tcpClosed, {
          destination_workload: 'plain',
          connection_security_policy: 'unknown',
        })) === 2,
      { what: 'passthrough counted' },
    );
  });

  it('resets the app connection when the destination denies by policy (403), counted as DENY', async () => {
    apply({
      policies: [
        policy({
          name: 'deny-client',
          action: 'DENY',
          scope: 'workload',
          selector: { app: 'server' },
          rules: [
            rule({
              from: [source({ principals: ['cluster.local/ns/default/sa/client'] })],
              to: [target({ ports: [APP_PORT] })],
            }),
          ],
        }),
      ],
    });
    try {
      const denied = await exchange(h.capture.connect(ip(11), { ip: ip(200), port: 80 }), 'hello');
      expect(denied.outcome).toBe('ECONNRESET');
      expect(denied.received.length).toBe(0);
      // Another port of the same workload is not covered by the DENY rule.
      const allowed = await exchange(h.capture.connect(ip(11), { ip: ip(200), port: 81 }), '');
      expect(allowed.outcome).toBe('closed');
      await eventually(
        async () =>
          (await sumOf(zb.metrics.tcpClosed, { reporter: 'destination', response_flags: 'DENY' })) === 1,
        { what: 'denial counted' },
      );
      expect(await sumOf(za.metrics.tcpClosed, { reporter: 'source', response_flags: 'DENY' })).toBe(1);
    } finally {
      apply({ policies: [] });
    }
  });

  it('applies ALLOW policies as default deny for the selected workload', async () => {
    apply({
      policies: [
        policy({
          name: 'only-other',
          scope: 'workload',
          selector: { app: 'server' },
          rules: [rule({ from: [source({ namespaces: ['other'] })] })],
        }),
      ],
    });
    try {
      expect((await exchange(h.capture.connect(ip(11), { ip: ip(21), port: APP_PORT }), 'x')).outcome).toBe(
        'ECONNRESET',
      );
    } finally {
      apply({ policies: [] });
    }
    expect((await exchange(h.capture.connect(ip(11), { ip: ip(21), port: APP_PORT }), 'x')).outcome).toBe(
      'closed',
    );
  });

  it('resets the app connection when the app port refuses (503), counted as CONNECT', async () => {
    const before = await sumOf(zb.metrics.tcpClosed, { reporter: 'destination', response_flags: 'CONNECT' });
    const result = await exchange(h.capture.connect(ip(11), { ip: ip(200), port: 89 }), 'x');
    expect(result.outcome).toBe('ECONNRESET');
    await eventually(
      async () =>
        (await sumOf(zb.metrics.tcpClosed, { reporter: 'destination', response_flags: 'CONNECT' })) ===
        before + 1,
      { what: 'refused app port counted' },
    );
    expect(
      await sumOf(za.metrics.tcpClosed, { reporter: 'source', response_flags: 'CONNECT' }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('passes an app reset on to a client that had already half-closed (no FIN in its place)', async () => {
    const result = await exchange(h.capture.connect(ip(11), { ip: ip(200), port: 82 }), 'request, then FIN');
    expect(result).toEqual({ received: Buffer.alloc(0), outcome: 'ECONNRESET' });
  });

  it('resets promptly when the peer ztunnel is unreachable', async () => {
    const ghost = workload({ name: 'ghost', ips: [ip(99)], node: 'node-c' });
    apply({ workloads: [...base.workloads, ghost] });
    try {
      const result = await exchange(h.capture.connect(ip(11), { ip: ip(99), port: APP_PORT }), 'x');
      expect(result.outcome).toBe('ECONNRESET');
    } finally {
      apply({});
    }
  });

  it('carries many concurrent connections as streams of one pooled HBONE connection', async () => {
    const payloads = Array.from({ length: 40 }, (_, i) => Buffer.alloc(10_000 + i, i));
    const results = await Promise.all(
      payloads.map((p) => exchange(h.capture.connect(ip(11), { ip: ip(21), port: APP_PORT }), p)),
    );
    expect(results.map((result, i) => result.received.equals(payloads[i]!))).toEqual(
      payloads.map(() => true),
    );
    const pooled = za.pool.connections().filter((c) => c.peer === `${ip(21)}:15008`);
    expect(pooled).toHaveLength(1);
    expect(pooled[0]).toMatchObject({
      sourceIdentity: client.identity,
      peerIdentity: server.identity,
      state: 'open',
    });
  });

  it('replaces a broken pooled connection transparently for new streams', async () => {
    const first = await exchange(h.capture.connect(ip(11), { ip: ip(21), port: APP_PORT }), 'one');
    expect(first.received.toString()).toBe('one');
    const [before] = za.pool.connections().filter((c) => c.peer === `${ip(21)}:15008`);
    expect(before).toBeDefined();
    // A tunnel that is live when its connection dies is reset.
    const live = h.capture.connect(ip(11), { ip: ip(21), port: APP_PORT });
    const liveResult = exchangeLater(live);
    await eventually(() => za.pool.connections().some((c) => c.streams === 1), {
      what: 'the live tunnel is up',
    });
    // Kill every HBONE connection on node-b's side by re-adding the pod (closes its listener and sessions).
    await zb.removePod(server.uid);
    expect((await liveResult).outcome).toBe('ECONNRESET');
    await zb.addPod({ uid: server.uid, sockets: podSockets(ip(21)) });
    await eventually(() => zb.readiness().ready, { what: 'node-b serving again' });
    const second = await exchange(h.capture.connect(ip(11), { ip: ip(21), port: APP_PORT }), 'two');
    expect(second).toEqual({ received: Buffer.from('two'), outcome: 'closed' });
    const [after] = za.pool.connections().filter((c) => c.peer === `${ip(21)}:15008`);
    expect(after?.openedAt).not.toBe(before?.openedAt);
  });

  it('opens more pooled connections when one reaches its stream limit', async () => {
    const small = h.ztunnel('node-a2', { pool: { maxStreamsPerConnection: 3 } });
    const other = workload({ name: 'client2', serviceAccount: 'client', ips: [ip(13)], node: 'node-a2' });
    small.applySnapshot({ ...base, workloads: [...base.workloads, other] });
    await small.addPod({ uid: other.uid, sockets: podSockets(ip(13)) });
    const sockets = Array.from({ length: 7 }, () =>
      h.capture.connect(ip(13), { ip: ip(21), port: APP_PORT }),
    );
    await Promise.all(sockets.map((s) => new Promise((resolve) => s.once('connect', resolve))));
    for (const s of sockets) s.write('x');
    await eventually(() => small.pool.connections().reduce((n, c) => n + c.streams, 0) === 7, {
      what: 'all 7 streams open',
    });
    expect(
      small.pool
        .connections()
        .map((c) => c.streams)
        .sort(),
    ).toEqual([1, 3, 3]);
    await Promise.all(sockets.map((s) => exchange(s, '')));
  });

  it('closes a tunnel that moved no byte for the idle period, and only that one', async () => {
    const quick = h.ztunnel('node-a3', { timeouts: { idleMs: 300 } });
    const pod = workload({ name: 'client3', serviceAccount: 'client', ips: [ip(14)], node: 'node-a3' });
    quick.applySnapshot({ ...base, workloads: [...base.workloads, pod] });
    await quick.addPod({ uid: pod.uid, sockets: podSockets(ip(14)) });
    const idle = h.capture.connect(ip(14), { ip: ip(21), port: APP_PORT });
    const idleResult = exchangeLater(idle);
    const busy = h.capture.connect(ip(14), { ip: ip(21), port: APP_PORT });
    busy.on('data', () => {});
    const ticker = setInterval(() => busy.write('.'), 50);
    try {
      expect((await idleResult).outcome).toBe('ECONNRESET');
      expect(busy.destroyed).toBe(false);
    } finally {
      clearInterval(ticker);
      busy.destroy();
    }
  });

  it('lets a pod whose config has not arrived yet wait for it instead of leaking', async () => {
    await za.addPod({ uid: late.uid, sockets: podSockets(ip(12)) });
    const pending = exchange(h.capture.connect(ip(12), { ip: ip(21), port: WHOAMI_PORT }), '');
    await new Promise((resolve) => setTimeout(resolve, 100));
    apply({ workloads: [...base.workloads, late] });
    const result = await pending;
    expect(result.outcome).toBe('closed');
    expect(result.received.toString().split(':')[0]).toBe(ip(12));
    await za.removePod(late.uid);
  });

  it('accepts inbound plaintext under PERMISSIVE and refuses it under STRICT', async () => {
    const outsider = ip(50);
    const permissive = await exchange(
      h.capture.connect(ip(21), { ip: ip(21), port: APP_PORT }, ZTUNNEL_PORTS.inboundPlaintext, outsider),
      'pt',
    );
    expect(permissive).toEqual({ received: Buffer.from('pt'), outcome: 'closed' });
    await eventually(
      async () =>
        (await sumOf(zb.metrics.tcpClosed, {
          reporter: 'destination',
          connection_security_policy: 'unknown',
          response_flags: '-',
        })) >= 1,
      { what: 'plaintext counted as unknown' },
    );
    apply({ peerAuthentications: [peerAuth({ name: 'strict', mode: 'STRICT' })] });
    try {
      const strict = await exchange(
        h.capture.connect(ip(21), { ip: ip(21), port: APP_PORT }, ZTUNNEL_PORTS.inboundPlaintext, outsider),
        'pt',
      );
      expect(strict.outcome).toBe('ECONNRESET');
      // HBONE keeps working under STRICT.
      expect(
        (await exchange(h.capture.connect(ip(11), { ip: ip(21), port: APP_PORT }), 'm')).received.toString(),
      ).toBe('m');
    } finally {
      apply({ peerAuthentications: [] });
    }
  });

  it('keeps serving the last good config when a snapshot is refused', async () => {
    const version = za.state.version;
    expect(() =>
      za.applySnapshot({ ...base, version: 'bad', workloads: [workload({ name: 'x', ips: ['not-an-ip'] })] }),
    ).toThrow(/refused/);
    expect(za.state.version).toBe(version);
    expect(
      (await exchange(h.capture.connect(ip(11), { ip: ip(200), port: 80 }), 'ok')).received.toString(),
    ).toBe('ok');
    expect(await sumOf(za.metrics.snapshotUpdates, { result: 'refused' })).toBe(1);
  });
});
