/**
 * Issue 8, defect 4 (15012 without a TLS handshake timeout): connections that never finish their TLS
 * handshake on the control plane's gRPC port (silent, or trickling a ClientHello byte by byte) are dropped
 * after the handshake timeout instead of being held, while a real client's handshake still succeeds.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { type Socket, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane, type ControlPlaneOptions } from '../../src/control/control-plane.ts';
import { ControlApiClient } from '../../src/core/control-api/client.ts';
import { controlPaths } from '../../src/core/control-api/paths.ts';
import { ztunnelDiscovery } from '../../src/core/discovery/client.ts';
import { CONTROL_PLANE_SERVER_NAME } from '../../src/core/grpc/credentials.ts';
import { splitHostPort } from '../../src/core/net/host-port.ts';
import { ambit, killAll, startAmbit } from '../support/cli.ts';
import { eventually } from '../support/eventually.ts';
import { quietLogs } from '../support/logging.ts';
import { nodeConnection } from '../support/node-connection.ts';

/** Resolves once the server closed the socket. */
const closedByServer = (socket: Socket) =>
  new Promise<void>((resolve) => {
    socket.on('error', () => {});
    socket.on('data', () => {});
    socket.once('close', () => resolve());
  });

/** A TLS connection to the control plane's gRPC listener, once its handshake is done (no call made). */
const handshake = (plane: ControlPlane, address: { host: string; port: number }) =>
  new Promise<TLSSocket>((resolve, reject) => {
    const socket = tlsConnect({
      ...address,
      servername: CONTROL_PLANE_SERVER_NAME,
      ca: readFileSync(plane.paths.rootCert, 'utf8'),
      ALPNProtocols: ['h2'],
    });
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', reject);
  });

/** A control plane in this process on loopback, with a state dir of its own, stopped and removed after the suite. */
function controlPlaneForSuite(options: Partial<ControlPlaneOptions>): {
  plane: () => ControlPlane;
  state: string;
} {
  const state = mkdtempSync(join(tmpdir(), 'ambit-control-hardening-'));
  let plane: ControlPlane | undefined;
  beforeAll(async () => {
    quietLogs();
    plane = await ControlPlane.start({ stateDir: state, listen: '127.0.0.1:0', metricsPort: 0, ...options });
  });
  afterAll(async () => {
    killAll();
    await plane?.stop();
    rmSync(state, { recursive: true, force: true });
  });
  return { plane: () => plane!, state };
}

describe('defect 4: the control plane drops TLS handshakes that never finish', () => {
  const suite = controlPlaneForSuite({ handshakeTimeoutMs: 500 });
  let plane: ControlPlane;
  let address: { host: string; port: number };

  beforeAll(() => {
    plane = suite.plane();
    address = splitHostPort(plane.grpcAddress)!;
  });

  it('closes a silent connection and a trickling one after the handshake timeout', async () => {
    const silent = tcpConnect(address);
    const trickle = tcpConnect(address);
    // A TLS record header promising a big ClientHello, then a byte now and then.
    trickle.write(Buffer.from([0x16, 0x03, 0x01, 0x40, 0x00]));
    const dribble = setInterval(() => trickle.writable && trickle.write(Buffer.from([0x01])), 100);
    try {
      await Promise.all([closedByServer(silent), closedByServer(trickle)]);
    } finally {
      clearInterval(dribble);
    }
  });

  it('still completes a real client handshake', async () => {
    const socket = await handshake(plane, address);
    try {
      expect(socket.alpnProtocol).toBe('h2');
    } finally {
      socket.destroy();
    }
  });
});

describe('defect 3: a push a client could not receive is refused, said in status, and the stream stays', () => {
  // A push limit far below any snapshot (the trust bundle alone is bigger), as a policy too big would be.
  const suite = controlPlaneForSuite({ maxPushBytes: 512 });
  const { state } = suite;
  let plane: ControlPlane;

  beforeAll(() => {
    plane = suite.plane();
  });

  /** A ztunnel's discovery client for `node`, subscribed. */
  const startZtunnelClient = (node: string) => {
    const client = ztunnelDiscovery({
      connection: nodeConnection(plane, state, node),
      node,
    });
    client.start();
    return client;
  };

  it('records the refusal as that client NACK, with the reason, while the client stays connected', async () => {
    const client = startZtunnelClient('node-a');
    try {
      const status = await eventually(
        () => {
          const [only] = plane.status().clients;
          return only?.lastNack ? only : undefined;
        },
        { what: 'the refused push in status' },
      );
      expect(status).toMatchObject({ kind: 'ztunnel', node: 'node-a', inSync: false, nacks: 1 });
      expect(status.lastNack?.message).toMatch(
        /^push of \d+ bytes exceeds the limit of 512 bytes per push; not sent$/,
      );
      expect(status.ackedVersion).toBeUndefined();
      // Not a reconnect loop: the same stream is still there.
      expect(plane.status().clients.map((c) => c.id)).toEqual([status.id]);
    } finally {
      client.close();
    }
  });

  it('ambit apply waits for the data plane and fails naming the client that refused the push and why', async () => {
    const client = startZtunnelClient('node-b');
    try {
      await eventually(
        () => plane.status().clients.length === 1 && plane.status().clients[0]!.node === 'node-b',
        { what: 'node-b connected alone' },
      );
      const socket = plane.paths.socket;
      const applied = await ambit(['apply', '--socket', socket, '--wait-timeout', '20s', '-f', '-'], {
        input: DENY_POLICY,
      });
      expect(applied.stdout).toContain('AuthorizationPolicy shop/deny-ext created');
      expect(applied.stdout).toMatch(/^data plane: 0 of 1 client\(s\) took version \d+$/m);
      expect(applied.stderr).toMatch(
        /^ztunnel of node node-b: refused version \d+ \(NACK\): push of \d+ bytes exceeds the limit of 512 bytes per push; not sent$/m,
      );
      expect(applied.stderr).toContain('is stored but not in force on every data-plane client: 1 refused it');
      expect(applied.code).toBe(1);
      // Without waiting, apply reports only what was stored.
      const unwaited = await ambit(['apply', '--socket', socket, '--no-wait', '-f', '-'], {
        input: DENY_POLICY,
      });
      expect(unwaited.code).toBe(0);
      expect(unwaited.stdout).toBe('AuthorizationPolicy shop/deny-ext unchanged\n');
    } finally {
      client.close();
    }
  });
});

const DENY_POLICY = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-ext, namespace: shop}
spec: {action: DENY, rules: [{from: [{source: {ipBlocks: [203.0.113.0/24]}}]}]}
`;

/** A TCP connection to `address` from `source` (a loopback address of its own), once it is open. */
const openFrom = (address: { host: string; port: number }, source: string) =>
  new Promise<Socket>((resolve, reject) => {
    const socket = tcpConnect({ ...address, localAddress: source });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });

describe('15012 bounds what peers without credentials can hold, and counts what it refuses', () => {
  const suite = controlPlaneForSuite({
    listenerLimits: { maxConnections: 6, maxConnectionsPerSource: 3, idleTimeoutMs: 500 },
  });
  let plane: ControlPlane;
  let address: { host: string; port: number };
  const refused = async (reason: string) =>
    (await plane.metrics.connectionsRefused.get()).values.find((value) => value.labels.reason === reason)
      ?.value ?? 0;

  beforeAll(() => {
    plane = suite.plane();
    address = splitHostPort(plane.grpcAddress)!;
  });

  it('resets connections over the per-source and the total limit, and takes new ones once they close', async () => {
    const held: Socket[] = [];
    try {
      for (let i = 0; i < 3; i++) held.push(await openFrom(address, '127.0.0.2'));
      // The fourth from the same source is reset by the server; another source still gets in.
      await closedByServer(tcpConnect({ ...address, localAddress: '127.0.0.2' }));
      expect(await refused('source_limit')).toBe(1);
      for (let i = 0; i < 3; i++) held.push(await openFrom(address, '127.0.0.3'));
      // Six open in all: a third source is refused too.
      await closedByServer(tcpConnect({ ...address, localAddress: '127.0.0.4' }));
      expect(await refused('connection_limit')).toBe(1);
    } finally {
      for (const socket of held) socket.destroy();
    }
    await eventually(() => plane.status().clients.length === 0 && listenerIsFree(), {
      what: 'the held connections released',
    });
    const again = await openFrom(address, '127.0.0.2');
    again.destroy();
    expect(await refused('source_limit')).toBe(1);
  });

  it('closes a connection that finished TLS but makes no call (slow-loris after the handshake)', async () => {
    await closedByServer(await handshake(plane, address));
  });

  /** True once the listener holds no connection (each test starts from none). */
  function listenerIsFree(): boolean {
    return plane.listenerConnections === 0;
  }
});

describe('ambit control takes its listener limits as flags', () => {
  const state = mkdtempSync(join(tmpdir(), 'ambit-control-flags-'));
  afterAll(() => {
    killAll();
    rmSync(state, { recursive: true, force: true });
  });

  it('--max-connections-per-source 1 resets a second connection from one source, and counts it', async () => {
    const control = startAmbit([
      'control',
      '--state-dir',
      state,
      '--listen',
      '127.0.0.1:0',
      '--metrics-port',
      '0',
      '--max-connections-per-source',
      '1',
      '--handshake-timeout',
      '30s',
    ]);
    const api = new ControlApiClient(controlPaths(state).socket);
    const status = await eventually(() => api.status(), { timeout: 20_000, what: 'the control plane' });
    const address = splitHostPort(status.grpcAddress)!;
    const first = await openFrom(address, '127.0.0.6');
    try {
      await closedByServer(tcpConnect({ ...address, localAddress: '127.0.0.6' }));
      const metrics = await (await fetch(`http://${status.metricsAddress}/metrics`)).text();
      expect(metrics).toContain('ambit_control_connections_refused_total{reason="source_limit"} 1');
    } finally {
      first.destroy();
      control.child.kill('SIGTERM');
      await control.done;
    }
  });
});
