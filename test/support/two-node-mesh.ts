/**
 * The two-node mesh the ztunnel feature suites share, on loopback: node-a runs `client`, node-b runs
 * `server` (echo on 8080, whoami on 8081) and `unbound` (whoami), and a `waypoint` workload whose HBONE
 * server a suite provides itself. Services: `server` (VIPs .200 and an IPv6 one; ports 80 and 81), `routed`
 * (port 81, through the waypoint) and `waypoint` (15008).
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import type { Server } from 'node:net';
import type { NodeSnapshot, Workload } from '../../src/core/model/index.ts';
import { UdpDnsForwarder } from '../../src/ztunnel/dns/forwarder.ts';
import type { Ztunnel, ZtunnelOptions } from '../../src/ztunnel/ztunnel.ts';
import { quietLogs } from './logging.ts';
import { service, snapshot, workload } from './mesh-fixtures.ts';
import { TestCa, type TestCertificateProvider } from './test-ca.ts';
import { createHarness, echoServer, type Harness, podSockets, whoamiServer } from './ztunnel-harness.ts';

export const APP_PORT = 8080;
export const WHOAMI_PORT = 8081;
/** The one name outside the mesh that the loopback upstream resolver knows, and its answer. */
export const UPSTREAM_NAME = { name: 'example.com', address: '192.0.2.1' };

export interface TwoNodeMesh {
  h: Harness;
  ip: (host: number) => string;
  za: Ztunnel;
  zb: Ztunnel;
  certsA: TestCertificateProvider;
  certsB: TestCertificateProvider;
  base: NodeSnapshot;
  /** The echo app of `server` (port 8080), to count the sockets it holds. */
  echo: Server;
  /** The workload of that name in `base`. */
  workload(name: 'client' | 'server' | 'unbound' | 'waypoint'): Workload;
  /** Stops everything the mesh started (call it in afterAll). */
  close(): Promise<void>;
}

/**
 * Starts the mesh; with `dnsUpstream`, node-a's DNS proxy forwards to a resolver on loopback; `nodeB` adds
 * options to node-b's ztunnel (limits, timeouts).
 */
export async function startTwoNodeMesh(
  options: { dnsUpstream?: boolean; nodeB?: Partial<ZtunnelOptions> } = {},
): Promise<TwoNodeMesh> {
  quietLogs();
  const h = createHarness(new TestCa());
  const ip = h.ip;
  const clientW = workload({ name: 'client', ips: [ip(11)], node: 'node-a' });
  const serverW = workload({ name: 'server', ips: [ip(21)], node: 'node-b' });
  // A workload on the same node that the waypoint is not bound to.
  const unboundW = workload({ name: 'unbound', ips: [ip(22)], node: 'node-b' });
  const waypointW = workload({ name: 'waypoint', ips: [ip(41)], node: 'node-b', serviceAccount: 'waypoint' });
  const base = snapshot({
    workloads: [clientW, serverW, unboundW, waypointW],
    services: [
      service({
        name: 'server',
        vips: [ip(200), 'fd00:96::200'],
        ports: [
          { port: 80, targetPort: APP_PORT, protocol: 'TCP' },
          { port: 81, targetPort: WHOAMI_PORT, protocol: 'TCP' },
        ],
        endpoints: [{ workloadUid: serverW.uid, ip: ip(21), ready: true }],
      }),
      service({
        name: 'routed',
        vips: [ip(202)],
        ports: [{ port: 81, targetPort: WHOAMI_PORT, protocol: 'TCP' }],
        endpoints: [{ workloadUid: serverW.uid, ip: ip(21), ready: true }],
        waypoint: { name: 'waypoint', namespace: 'default' },
      }),
      service({
        name: 'waypoint',
        vips: [ip(203)],
        ports: [{ port: 15008, targetPort: 15008, protocol: 'TCP' }],
        endpoints: [{ workloadUid: waypointW.uid, ip: ip(41), ready: true }],
      }),
    ],
  });
  const certsA = h.certificates();
  const certsB = h.certificates();
  const upstream = options.dnsUpstream ? await upstreamResolver(ip(53)) : undefined;
  const za = h.ztunnel('node-a', {
    certificates: certsA,
    ...(upstream ? { dnsForwarder: new UdpDnsForwarder(ip(53), 5353, 1_000) } : {}),
  });
  const zb = h.ztunnel('node-b', { ...options.nodeB, certificates: certsB });
  za.applySnapshot(base);
  zb.applySnapshot(base);
  const echo = h.track(await echoServer(ip(21), APP_PORT));
  h.track(await whoamiServer(ip(21), WHOAMI_PORT));
  h.track(await whoamiServer(ip(22), WHOAMI_PORT));
  await za.addPod({ uid: clientW.uid, sockets: podSockets(ip(11)) });
  await zb.addPod({ uid: serverW.uid, sockets: podSockets(ip(21)) });
  await zb.addPod({ uid: unboundW.uid, sockets: podSockets(ip(22)) });
  return {
    h,
    ip,
    za,
    zb,
    certsA,
    certsB,
    base,
    echo,
    workload: (name) => base.workloads.find((w) => w.name === name)!,
    async close() {
      upstream?.close();
      await h.close();
    },
  };
}

/** A resolver on `host`:5353 that answers UPSTREAM_NAME's A record to every query. */
async function upstreamResolver(host: string): Promise<UdpSocket> {
  const socket = createSocket('udp4');
  const [a, b, c, d] = UPSTREAM_NAME.address.split('.').map(Number) as [number, number, number, number];
  socket.on('message', (message, remote) => {
    const id = message.readUInt16BE(0);
    const header = Buffer.from([id >> 8, id & 0xff, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
    const question = message.subarray(12);
    const record = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, a, b, c, d]);
    socket.send(Buffer.concat([header, question, record]), remote.port, remote.address);
  });
  await new Promise<void>((resolve) => socket.bind(5353, host, resolve));
  return socket;
}
