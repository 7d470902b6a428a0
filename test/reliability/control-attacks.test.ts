/**
 * Issue 8's reliability suite, the control plane's 15012: while hostile peers without credentials send
 * garbage, truncated TLS, silent connections and a connection flood, a ztunnel's discovery stream stays the
 * same stream and still takes a config change (its ACK is what `ambit apply` waits for), descriptors come
 * back, and what the listener refused is counted. Every attack is bounded in count.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane } from '../../src/control/control-plane.ts';
import { ztunnelDiscovery } from '../../src/core/discovery/client.ts';
import { splitHostPort } from '../../src/core/net/host-port.ts';
import { ended, openFds } from '../support/attack-kit.ts';
import { eventually } from '../support/eventually.ts';
import { quietLogs } from '../support/logging.ts';
import { nodeConnection } from '../support/node-connection.ts';

const state = mkdtempSync(join(tmpdir(), 'ambit-reliability-control-'));
let plane: ControlPlane;
let client: ReturnType<typeof ztunnelDiscovery>;
let address: { host: string; port: number };
let revision = 0;

beforeAll(async () => {
  quietLogs();
  plane = await ControlPlane.start({
    stateDir: state,
    listen: '127.0.0.1:0',
    metricsPort: 0,
    handshakeTimeoutMs: 1_000,
    listenerLimits: { maxConnectionsPerSource: 50 },
  });
  address = splitHostPort(plane.grpcAddress)!;
  client = ztunnelDiscovery({
    connection: nodeConnection(plane, state, 'node-a'),
    node: 'node-a',
  });
  client.start();
  await eventually(() => plane.status().clients[0]?.inSync, { what: 'node-a in sync' });
});

afterAll(async () => {
  client?.close();
  await plane?.stop();
  rmSync(state, { recursive: true, force: true });
});

/** Connections from `source` that each send `bytes` (or nothing), until the server ends them. */
async function flood(count: number, source: string, bytes?: () => Buffer): Promise<void> {
  await Promise.all(
    Array.from({ length: count }, () => {
      const socket = tcpConnect({ ...address, localAddress: source });
      socket.on('error', () => {});
      if (bytes) socket.once('connect', () => socket.end(bytes()));
      return ended(socket);
    }),
  );
}

const ATTACKS: Array<[string, () => Promise<unknown>]> = [
  [
    'garbage of many sizes',
    () => flood(40, '127.0.0.21', () => randomBytes(1 + Math.floor(Math.random() * 65_536))),
  ],
  ['truncated TLS', () => flood(40, '127.0.0.22', () => Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]))],
  ['slow-loris before the handshake', () => flood(40, '127.0.0.23')],
  ['a connection flood from one source, past its limit', () => flood(200, '127.0.0.24')],
];

describe('15012 under attack: the data plane stream stays and takes changes', () => {
  it.each(ATTACKS)('%s', async (_name, attack) => {
    const [before] = plane.status().clients;
    const fdsBefore = openFds();
    await attack();
    // A change made after the attack reaches the same stream, which ACKs it.
    const applied = plane.store.apply([
      {
        name: 'deny.yaml',
        content: `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-${++revision}, namespace: shop}
spec: {action: DENY, rules: [{from: [{source: {ipBlocks: [203.0.113.0/24]}}]}]}
`,
      },
    ]);
    const rollout = await plane.rollout(applied.revision, 10_000);
    expect(rollout.clients.map((c) => [c.node, c.state])).toEqual([['node-a', 'acked']]);
    expect(plane.status().clients.map((c) => c.id)).toEqual([before!.id]);
    await eventually(() => openFds() <= fdsBefore + 16 && plane.listenerConnections <= 1, {
      what: 'the attack let go',
      timeout: 15_000,
    });
  });

  it('counted the flood past the per-source limit', async () => {
    const { values } = await plane.metrics.connectionsRefused.get();
    expect(values.find((v) => v.labels.reason === 'source_limit')?.value ?? 0).toBeGreaterThanOrEqual(150);
  });
});
