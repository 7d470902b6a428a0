import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { buildQuery, DNS_TYPE, parseResponse, RCODE } from '../../src/core/dns/codec.ts';
import { ClusterDnsServer, clusterDnsMetrics } from '../../src/local/dns/server.ts';
import type { ClusterZone } from '../../src/local/dns/zone.ts';
import { silentLogger } from '../support/logging.ts';

const many = Array.from({ length: 60 }, (_, i) => `10.244.${Math.floor(i / 250)}.${(i % 250) + 2}`);
const zone: ClusterZone = {
  domain: 'cluster.local',
  names: new Map([
    ['web.shop.svc.cluster.local', { addresses: ['10.96.0.20'] }],
    ['big.shop.svc.cluster.local', { addresses: many }],
  ]),
};

const servers: ClusterDnsServer[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(servers.splice(0).map((server) => server.stop()));
});

async function start(options: { maxTcpConnections?: number; idleMs?: number } = {}) {
  const metrics = clusterDnsMetrics();
  const server = new ClusterDnsServer({
    host: '127.0.0.1',
    port: 0,
    zone: () => zone,
    metrics,
    log: silentLogger,
    maxTcpConnections: options.maxTcpConnections,
    tcp: { idleMs: options.idleMs ?? 10_000, maxInFlight: 4 },
  });
  await server.start();
  servers.push(server);
  return { server, metrics, ports: server.ports! };
}

function udpExchange(port: number, message: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('message', (reply) => {
      socket.close();
      resolve(reply);
    });
    socket.once('error', reject);
    socket.send(message, port, '127.0.0.1');
  });
}

function frame(message: Buffer): Buffer {
  const out = Buffer.alloc(2 + message.length);
  out.writeUInt16BE(message.length, 0);
  message.copy(out, 2);
  return out;
}

/** Connects and collects the framed replies; `replies(n)` resolves once n have arrived. */
async function tcpClient(port: number) {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let buffered = Buffer.alloc(0);
  const received: Buffer[] = [];
  let waiting: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
      received.push(buffered.subarray(2, 2 + buffered.readUInt16BE(0)));
      buffered = buffered.subarray(2 + buffered.readUInt16BE(0));
    }
    waiting?.();
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const replies = async (count: number) => {
    while (received.length < count) await new Promise<void>((resolve) => (waiting = resolve));
    return received.slice(0, count).map(parseResponse);
  };
  return { socket, replies, closed };
}

const sumOf = async (counter: { get(): Promise<{ values: { value: number }[] }> }) =>
  (await counter.get()).values.reduce((sum, v) => sum + v.value, 0);

describe('the cluster DNS server', () => {
  it('answers over UDP, truncating what does not fit 512 bytes, and drops what it cannot read', async () => {
    const { ports, metrics } = await start();
    const small = parseResponse(
      await udpExchange(ports.udp, buildQuery(1, 'web.shop.svc.cluster.local', DNS_TYPE.A)),
    );
    expect(small).toMatchObject({ id: 1, rcode: RCODE.NOERROR, truncated: false });
    expect(small.answers.map((a) => a.address)).toEqual(['10.96.0.20']);
    const big = parseResponse(
      await udpExchange(ports.udp, buildQuery(2, 'big.shop.svc.cluster.local', DNS_TYPE.A)),
    );
    expect(big).toMatchObject({ id: 2, truncated: true, answers: [] });
    const nx = parseResponse(await udpExchange(ports.udp, buildQuery(3, 'example.com', DNS_TYPE.A)));
    expect(nx.rcode).toBe(RCODE.NXDOMAIN);
    const garbage = createSocket('udp4');
    await new Promise<void>((resolve) =>
      garbage.send(Buffer.from([7]), ports.udp, '127.0.0.1', () => resolve()),
    );
    garbage.close();
    // The next query is answered after the garbage was read (one socket, in order).
    await udpExchange(ports.udp, buildQuery(4, 'web.shop.svc.cluster.local', DNS_TYPE.A));
    expect(await sumOf(metrics.dropped)).toBe(1);
    expect(await sumOf(metrics.requests)).toBe(4);
  });

  it('answers several framed queries on one TCP connection, also split across writes, in full', async () => {
    const { ports } = await start();
    const client = await tcpClient(ports.tcp);
    const both = Buffer.concat([
      frame(buildQuery(10, 'web.shop.svc.cluster.local', DNS_TYPE.A)),
      frame(buildQuery(11, 'big.shop.svc.cluster.local', DNS_TYPE.A)),
    ]);
    client.socket.write(both.subarray(0, 5));
    await new Promise((resolve) => setImmediate(resolve));
    client.socket.write(both.subarray(5));
    const [web, big] = await client.replies(2);
    expect(web!.id).toBe(10);
    expect(big).toMatchObject({ id: 11, truncated: false });
    expect(big!.answers).toHaveLength(many.length);
  });

  it('refuses TCP connections beyond its limit and counts them', async () => {
    const { ports, metrics } = await start({ maxTcpConnections: 1 });
    const first = await tcpClient(ports.tcp);
    first.socket.write(frame(buildQuery(20, 'web.shop.svc.cluster.local', DNS_TYPE.A)));
    await first.replies(1);
    const second = await tcpClient(ports.tcp);
    await second.closed;
    expect(await sumOf(metrics.refusedConnections)).toBe(1);
    // The first connection still works.
    first.socket.write(frame(buildQuery(21, 'web.shop.svc.cluster.local', DNS_TYPE.A)));
    expect((await first.replies(2))[1]!.id).toBe(21);
  });

  it('closes idle TCP connections', async () => {
    const { ports } = await start({ idleMs: 50 });
    const client = await tcpClient(ports.tcp);
    // A partial message held past the idle time goes with the connection.
    client.socket.write(Buffer.from([0, 40, 1]));
    await client.closed;
    expect(client.socket.destroyed).toBe(true);
  });
});
