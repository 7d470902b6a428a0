/**
 * The ztunnel's services around the tunnel: routing through a waypoint (and trusting `forwarded` from it
 * only), the DNS proxy over UDP and TCP (with an upstream on loopback), the admin, metrics and readiness
 * endpoints, and certificate rotation under live traffic.
 */

import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildQuery, DNS_TYPE, parseResponse, RCODE } from '../../src/core/dns/codec.ts';
import { HbonePool } from '../../src/core/hbone/pool.ts';
import { HboneServer, respond } from '../../src/core/hbone/server.ts';
import { DEFAULT_HBONE_TIMEOUTS, DEFAULT_POOL } from '../../src/core/hbone/settings.ts';
import type { NodeSnapshot, Workload } from '../../src/core/model/index.ts';
import { splitHostPort } from '../../src/core/net/host-port.ts';
import { splice } from '../../src/core/net/splice.ts';
import type { HttpEndpoint } from '../../src/core/server/http.ts';
import { SecureContextCache } from '../../src/core/tls/contexts.ts';
import { serveEndpoints } from '../../src/ztunnel/admin.ts';
import { UdpDnsForwarder } from '../../src/ztunnel/dns/forwarder.ts';
import type { Ztunnel } from '../../src/ztunnel/ztunnel.ts';
import { ambit } from '../support/cli.ts';
import { eventually } from '../support/eventually.ts';
import { quietLogs } from '../support/logging.ts';
import { service, snapshot, workload } from '../support/mesh-fixtures.ts';
import { sumOf } from '../support/metric-values.ts';
import { TestCa, type TestCertificateProvider } from '../support/test-ca.ts';
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
const WHOAMI_PORT = 8081;

function httpGet(options: {
  socketPath?: string;
  host?: string;
  port?: number;
  path: string;
  method?: string;
}) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpRequest({ ...options, method: options.method ?? 'GET' }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('ztunnel services: waypoint, DNS, admin, rotation', () => {
  let h: Harness;
  let za: Ztunnel;
  let zb: Ztunnel;
  let ip: (host: number) => string;
  let ca: TestCa;
  let certsA: TestCertificateProvider;
  let certsB: TestCertificateProvider;
  let base: NodeSnapshot;
  let waypoint: HboneServer;
  let waypointPool: HbonePool;
  const seenByWaypoint: { authority: string; peer: string }[] = [];
  const client = () => base.workloads.find((w) => w.name === 'client')!;
  const server = () => base.workloads.find((w) => w.name === 'server')!;
  let stateDir: string;
  const endpoints: HttpEndpoint[] = [];

  beforeAll(async () => {
    quietLogs();
    ca = new TestCa();
    h = createHarness(ca);
    ip = h.ip;
    stateDir = mkdtempSync(join(tmpdir(), 'ambit-zt-'));
    const clientW = workload({ name: 'client', ips: [ip(11)], node: 'node-a' });
    const serverW = workload({ name: 'server', ips: [ip(21)], node: 'node-b' });
    // A workload on the same node that the waypoint is not bound to.
    const unboundW = workload({ name: 'unbound', ips: [ip(22)], node: 'node-b' });
    const waypointW = workload({
      name: 'waypoint',
      ips: [ip(41)],
      node: 'node-b',
      serviceAccount: 'waypoint',
    });
    base = snapshot({
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
    certsA = h.certificates();
    certsB = h.certificates();
    // An upstream resolver on loopback that knows one outside name.
    const upstream = createSocket('udp4');
    upstream.on('message', (message, remote) => {
      const id = message.readUInt16BE(0);
      const answer = Buffer.from([...[id >> 8, id & 0xff], 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
      const question = message.subarray(12);
      const record = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
      upstream.send(Buffer.concat([answer, question, record]), remote.port, remote.address);
    });
    await new Promise<void>((resolve) => upstream.bind(5353, ip(53), resolve));
    za = h.ztunnel('node-a', {
      certificates: certsA,
      dnsForwarder: new UdpDnsForwarder(ip(53), 5353, 1_000),
    });
    zb = h.ztunnel('node-b', { certificates: certsB });
    za.applySnapshot(base);
    zb.applySnapshot(base);
    h.track(await echoServer(ip(21), APP_PORT));
    h.track(await whoamiServer(ip(21), WHOAMI_PORT));
    h.track(await whoamiServer(ip(22), WHOAMI_PORT));
    await za.addPod({ uid: clientW.uid, sockets: podSockets(ip(11)) });
    await zb.addPod({ uid: serverW.uid, sockets: podSockets(ip(21)) });
    await zb.addPod({ uid: unboundW.uid, sockets: podSockets(ip(22)) });

    // The waypoint: terminates HBONE as itself, records what it was asked, and forwards to the service's
    // endpoint over HBONE with the original client in `forwarded`.
    const waypointCerts = h.certificates();
    waypointPool = new HbonePool({
      contexts: new SecureContextCache(waypointCerts),
      trustDomains: new Set(['cluster.local']),
      settings: DEFAULT_POOL,
      timeouts: DEFAULT_HBONE_TIMEOUTS,
    });
    waypoint = new HboneServer({
      certificate: await waypointCerts.get(waypointW.identity),
      trustBundle: waypointCerts.trustBundle(),
      trustDomains: new Set(['cluster.local']),
      timeouts: DEFAULT_HBONE_TIMEOUTS,
      windows: DEFAULT_POOL,
      onConnect: (request) => {
        seenByWaypoint.push({
          authority: `${request.targetIp}:${request.targetPort}`,
          peer: request.peerIdentity,
        });
        waypointPool
          .connect({
            sourceIdentity: waypointW.identity,
            peerIdentity: serverW.identity,
            peerIp: ip(21),
            peerPort: 15008,
            sourceKey: 'waypoint',
            authority: `${ip(21)}:${WHOAMI_PORT}`,
            headers: { forwarded: `for="${request.peerIp}:${request.peerPort}"` },
            dial: () => tcpConnect({ host: ip(21), port: 15008, localAddress: ip(41) }),
          })
          .then(
            (upstream) => {
              respond(request.stream, 200);
              void splice(request.stream, upstream, { upstream: 0, downstream: 0 });
            },
            () => respond(request.stream, 503),
          );
      },
      onRefused: () => {},
    });
    await listen(waypoint.server, ip(41), 15008);
  });

  afterAll(async () => {
    waypointPool?.close();
    await waypoint?.close();
    await Promise.all(endpoints.map((endpoint) => endpoint.close()));
    await h?.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('sends traffic for a service with a waypoint to the waypoint, with the VIP:port as authority', async () => {
    const result = await exchange(h.capture.connect(ip(11), { ip: ip(202), port: 81 }), '');
    expect(result.outcome).toBe('closed');
    expect(seenByWaypoint).toContainEqual({ authority: `${ip(202)}:81`, peer: client().identity });
    // The destination trusted the waypoint's `forwarded` and dialled the app from the original client.
    expect(result.received.toString().split(':')[0]).toBe(ip(11));
  });

  /**
   * Opens an HBONE tunnel as `source` (from `sourceIp`) to the whoami app of `target` with a forged
   * `forwarded: for=<ip 77>`, and returns the client address the app saw.
   */
  async function sourceSeenWithForgedForwarded(
    pool: HbonePool,
    source: Workload,
    sourceIp: string,
    target: Workload,
  ): Promise<string> {
    const targetIp = target.ips[0]!;
    const stream = await pool.connect({
      sourceIdentity: source.identity,
      peerIdentity: target.identity,
      peerIp: targetIp,
      peerPort: 15008,
      sourceKey: `forger-${source.name}`,
      authority: `${targetIp}:${WHOAMI_PORT}`,
      headers: { forwarded: `for="${ip(77)}:1234"` },
      dial: () => tcpConnect({ host: targetIp, port: 15008, localAddress: sourceIp }),
    });
    let text = '';
    stream.on('data', (c: Buffer) => {
      text += c.toString();
    });
    await new Promise((resolve) => stream.once('end', resolve));
    stream.end();
    return text.split(':')[0]!;
  }

  it('ignores `forwarded` from a peer that is not a waypoint', async () => {
    const pool = new HbonePool({
      contexts: new SecureContextCache(certsA),
      trustDomains: new Set(['cluster.local']),
      settings: DEFAULT_POOL,
      timeouts: DEFAULT_HBONE_TIMEOUTS,
    });
    try {
      expect(await sourceSeenWithForgedForwarded(pool, client(), ip(11), server())).toBe(ip(11));
    } finally {
      pool.close();
    }
  });

  it('ignores `forwarded` from a waypoint that is not bound to the destination', async () => {
    const waypointW = base.workloads.find((w) => w.name === 'waypoint')!;
    const unbound = base.workloads.find((w) => w.name === 'unbound')!;
    // The app sees the waypoint itself as the client, not the address it claimed to speak for.
    expect(await sourceSeenWithForgedForwarded(waypointPool, waypointW, ip(41), unbound)).toBe(ip(41));
  });

  it('refuses a waypoint that presents the wrong identity', async () => {
    const impostor = {
      ...base,
      workloads: base.workloads.map((w) =>
        w.name === 'waypoint' ? { ...w, identity: server().identity } : w,
      ),
    };
    za.applySnapshot({ ...impostor, version: 'impostor' });
    try {
      expect((await exchange(h.capture.connect(ip(11), { ip: ip(202), port: 81 }), '')).outcome).toBe(
        'ECONNRESET',
      );
    } finally {
      za.applySnapshot({ ...base, version: 'restored' });
    }
  });

  describe('DNS proxy', () => {
    const udpQuery = (name: string, type: number = DNS_TYPE.A) =>
      new Promise<ReturnType<typeof parseResponse>>((resolve, reject) => {
        const socket = createSocket('udp4');
        socket.once('message', (message) => {
          socket.close();
          resolve(parseResponse(message));
        });
        socket.once('error', reject);
        socket.bind(0, ip(11), () => socket.send(buildQuery(0x4242, name, type), 15053, ip(11)));
      });

    it('answers service names in every form over UDP', async () => {
      for (const name of [
        'server',
        'server.default',
        'server.default.svc',
        'server.default.svc.cluster.local',
      ]) {
        const response = await udpQuery(name);
        expect(response).toMatchObject({ id: 0x4242, rcode: RCODE.NOERROR, authoritative: true });
        expect(response.answers.map((a) => a.address)).toEqual([ip(200)]);
      }
      expect((await udpQuery('server', DNS_TYPE.AAAA)).answers.map((a) => a.address)).toEqual([
        'fd00:96::200',
      ]);
    });

    it('answers over TCP with length-prefixed messages, several on one connection', async () => {
      const socket = tcpConnect({ host: ip(11), port: 15053 });
      const responses: ReturnType<typeof parseResponse>[] = [];
      let pending = Buffer.alloc(0);
      const done = new Promise<void>((resolve) => {
        socket.on('data', (chunk: Buffer) => {
          pending = Buffer.concat([pending, chunk]);
          while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
            responses.push(parseResponse(pending.subarray(2, 2 + pending.readUInt16BE(0))));
            pending = pending.subarray(2 + pending.readUInt16BE(0));
          }
          if (responses.length === 2) resolve();
        });
      });
      const frame = (message: Buffer) =>
        Buffer.concat([Buffer.from([message.length >> 8, message.length & 0xff]), message]);
      socket.write(
        Buffer.concat([
          frame(buildQuery(1, 'server.default', DNS_TYPE.A)),
          frame(buildQuery(2, 'nope.default.svc.cluster.local', DNS_TYPE.A)),
        ]),
      );
      await done;
      socket.destroy();
      expect(responses.find((r) => r.id === 1)?.answers.map((a) => a.address)).toEqual([ip(200)]);
      // A cluster name the mesh does not know is the upstream's (the cluster DNS) to answer.
      expect(responses.find((r) => r.id === 2)?.answers.map((a) => a.address)).toEqual(['192.0.2.1']);
    });

    it('forwards names outside the mesh upstream and counts queries', async () => {
      const response = await udpQuery('example.com');
      expect(response.answers.map((a) => a.address)).toEqual(['192.0.2.1']);
      expect(await sumOf(za.metrics.dnsUpstreamRequests)).toBeGreaterThanOrEqual(1);
      expect(
        await sumOf(za.metrics.dnsRequests, {
          source_workload: 'client',
          answered_by: 'ztunnel',
          rcode: 'NOERROR',
        }),
      ).toBeGreaterThanOrEqual(5);
      expect(await sumOf(za.metrics.dnsRequests, { answered_by: 'upstream' })).toBeGreaterThanOrEqual(1);
    });
  });

  describe('admin, metrics and readiness', () => {
    let socketPath: string;
    let metricsPort: number;
    let readyPort: number;

    beforeAll(async () => {
      socketPath = join(stateDir, 'ztunnel-admin.sock');
      const served = await serveEndpoints(za, {
        adminSocket: socketPath,
        metrics: { host: '127.0.0.1', port: 0 },
        readiness: { host: '127.0.0.1', port: 0 },
      });
      endpoints.push(...served);
      const [, metrics, ready] = served;
      metricsPort = splitHostPort(metrics!.address)!.port;
      readyPort = splitHostPort(ready!.address)!.port;
    });

    it('lists workloads, services and policies', async () => {
      const workloads = JSON.parse((await httpGet({ socketPath, path: '/workloads' })).body) as {
        name: string;
        protocol: string;
        captured: boolean;
      }[];
      expect(workloads.find((w) => w.name === 'client')).toMatchObject({ protocol: 'HBONE', captured: true });
      expect(workloads.find((w) => w.name === 'server')).toMatchObject({ captured: false });
      const services = JSON.parse((await httpGet({ socketPath, path: '/services' })).body) as {
        name: string;
        waypoint?: string;
        endpointsReady: number;
      }[];
      expect(services.find((s) => s.name === 'routed')).toMatchObject({
        waypoint: 'default/waypoint',
        endpointsReady: 1,
      });
      expect((await httpGet({ socketPath, path: '/policies' })).body.trim()).toBe('[]');
      const dump = JSON.parse((await httpGet({ socketPath, path: '/config_dump' })).body) as {
        version: string;
        pods: unknown[];
      };
      expect(dump.version).toBe(za.state.version);
      expect(dump.pods).toHaveLength(1);
    });

    it('shows certificates with identity, serial and expiry', async () => {
      const certs = JSON.parse((await httpGet({ socketPath, path: '/certs' })).body) as {
        kind: string;
        identity: string;
        serial: string;
        notAfter: string;
        expiresInSeconds: number;
      }[];
      const leaf = certs.find((c) => c.kind === 'leaf');
      expect(leaf?.identity).toBe(client().identity);
      expect(leaf?.serial).toMatch(/^[0-9a-f]+$/);
      expect(leaf?.expiresInSeconds).toBeGreaterThan(3600);
      expect(certs.filter((c) => c.kind === 'root')).toHaveLength(1);
    });

    it('shows live connections with their bytes', async () => {
      const socket = h.capture.connect(ip(11), { ip: ip(200), port: 80 });
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write('x'.repeat(1000));
      let got = 0;
      socket.on('data', (c: Buffer) => {
        got += c.length;
      });
      await eventually(() => got === 1000, { what: 'echo' });
      const view = JSON.parse((await httpGet({ socketPath, path: '/connections' })).body) as {
        connections: { destination: string; bytesSent: number; bytesReceived: number }[];
        pool: { peer: string; streams: number }[];
      };
      expect(view.connections.find((c) => c.destination === `${ip(200)}:80`)).toMatchObject({
        bytesSent: 1000,
        bytesReceived: 1000,
      });
      expect(view.pool.find((p) => p.peer === `${ip(21)}:15008`)?.streams).toBeGreaterThanOrEqual(1);
      socket.destroy();
    });

    it('is what `ambit ztunnel-config` prints, as a table or JSON', async () => {
      // Asynchronously: the admin server answering the CLI lives in this very process.
      const config = async (...args: string[]) => (await ambit(['ztunnel-config', ...args])).stdout;
      const table = await config('workloads', '--admin', socketPath);
      expect(table.split('\n')[0]).toMatch(/^NAMESPACE\s+POD NAME\s+ADDRESS\s+NODE\s+WAYPOINT\s+PROTOCOL$/);
      expect(table).toMatch(
        new RegExp(`default\\s+client\\s+${ip(11).replaceAll('.', '\\.')}\\s+node-a\\s+None\\s+HBONE`),
      );
      const services = JSON.parse(await config('services', '--admin', socketPath, '-o', 'json')) as {
        name: string;
      }[];
      expect(services.map((s) => s.name).sort()).toEqual(['routed', 'server', 'waypoint']);
      expect(await config('certificates', '--admin', socketPath)).toContain('ROOTCA');
    });

    it('reads and sets the log level', async () => {
      expect(JSON.parse((await httpGet({ socketPath, path: '/logging' })).body)).toEqual({ level: 'error' });
      expect((await httpGet({ socketPath, path: '/logging?level=chatty', method: 'POST' })).status).toBe(400);
      expect(
        JSON.parse((await httpGet({ socketPath, path: '/logging?level=warn', method: 'POST' })).body),
      ).toEqual({ level: 'warn' });
      await httpGet({ socketPath, path: '/logging?level=error', method: 'POST' });
      expect((await httpGet({ socketPath, path: '/nope' })).status).toBe(404);
    });

    it('serves Istio TCP metrics in Prometheus format, and readiness', async () => {
      const metrics = await httpGet({ host: '127.0.0.1', port: metricsPort, path: '/metrics' });
      expect(metrics.status).toBe(200);
      expect(metrics.body).toMatch(
        /istio_tcp_connections_opened_total\{reporter="source",source_workload="client",/,
      );
      expect(metrics.body).toContain(
        'ambit_ztunnel_certificate_expiry_seconds{identity="spiffe://cluster.local/ns/default/sa/client"}',
      );
      expect(metrics.body).toContain('istio_dns_requests_total');
      expect((await httpGet({ host: '127.0.0.1', port: readyPort, path: '/healthz/ready' })).status).toBe(
        200,
      );
    });
  });

  it('rotates certificates and the trust bundle without breaking live or new tunnels', async () => {
    const live = h.capture.connect(ip(11), { ip: ip(200), port: 80 });
    let echoed = 0;
    live.on('data', (c: Buffer) => {
      echoed += c.length;
    });
    await new Promise((resolve) => live.once('connect', resolve));
    live.write('before');
    await eventually(() => echoed === 6, { what: 'echo before rotation' });
    const serialBefore = (await za.certificates()).find((c) => c.kind === 'leaf')?.serial;

    const next = new TestCa('ambit test root 2');
    certsB.rotateRoot(next);
    certsA.rotateRoot(next);
    const after = await za.certificates();
    expect(after.find((c) => c.kind === 'leaf')?.serial).not.toBe(serialBefore);
    expect(after.filter((c) => c.kind === 'root')).toHaveLength(2);

    // The live tunnel keeps its TLS session.
    live.write('after!');
    await eventually(() => echoed === 12, { what: 'live tunnel across rotation' });
    // The HBONE listener now presents the renewed certificate, issued by the new root.
    const serverLeaf = (await zb.certificates()).find((c) => c.kind === 'leaf')!;
    const presented = await new Promise<string>((resolve, reject) => {
      const probe = tlsConnect({
        host: ip(21),
        port: 15008,
        servername: 'hbone.ambit.internal',
        ALPNProtocols: ['h2'],
        rejectUnauthorized: false,
      });
      probe.once('secureConnect', () => {
        resolve(probe.getPeerCertificate().serialNumber.toLowerCase());
        probe.destroy();
      });
      probe.once('error', reject);
    });
    expect(presented).toBe(serverLeaf.serial);
    // A new identity on node-a gets a certificate from the new root, and its tunnels work.
    const second = workload({ name: 'client2', ips: [ip(12)], node: 'node-a' });
    const grown = { ...base, version: 'grown', workloads: [...base.workloads, second] };
    za.applySnapshot(grown);
    zb.applySnapshot(grown);
    await za.addPod({ uid: second.uid, sockets: podSockets(ip(12)) });
    const fresh = await exchange(h.capture.connect(ip(12), { ip: ip(200), port: 80 }), 'rotated');
    expect(fresh).toEqual({ received: Buffer.from('rotated'), outcome: 'closed' });
    // And the old identity's pooled connection still carries new streams (both roots are trusted).
    expect(
      (await exchange(h.capture.connect(ip(11), { ip: ip(200), port: 80 }), 'old')).received.toString(),
    ).toBe('old');
    live.destroy();
  });
});
