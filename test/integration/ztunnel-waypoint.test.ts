/**
 * The ztunnel and waypoints: traffic for a service bound to a waypoint goes to the waypoint, with the
 * VIP:port as authority; the destination trusts `forwarded` only from the waypoint bound to it, and takes
 * traffic for a port the waypoint serves from nobody else; a waypoint presenting the wrong identity is
 * refused.
 */
import { connect as tcpConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HbonePool } from '../../src/core/hbone/pool.ts';
import { HboneServer, respond } from '../../src/core/hbone/server.ts';
import { DEFAULT_HBONE_TIMEOUTS, DEFAULT_POOL } from '../../src/core/hbone/settings.ts';
import type { NodeSnapshot, Workload } from '../../src/core/model/index.ts';
import { splice } from '../../src/core/net/splice.ts';
import { SecureContextCache } from '../../src/core/tls/contexts.ts';
import type { Ztunnel } from '../../src/ztunnel/ztunnel.ts';
import type { TestCertificateProvider } from '../support/test-ca.ts';
import { startTwoNodeMesh, type TwoNodeMesh, WHOAMI_PORT } from '../support/two-node-mesh.ts';
import { exchange, type Harness, listen } from '../support/ztunnel-harness.ts';

describe('ztunnel with a waypoint', () => {
  let mesh: TwoNodeMesh;
  let h: Harness;
  let ip: (host: number) => string;
  let za: Ztunnel;
  let base: NodeSnapshot;
  let certsA: TestCertificateProvider;
  let waypoint: HboneServer;
  let waypointPool: HbonePool;
  const seenByWaypoint: { authority: string; peer: string }[] = [];
  const client = () => mesh.workload('client');
  const server = () => mesh.workload('server');

  /**
   * Asks `target`'s whoami over HBONE from `localIp` as `sourceIdentity`, claiming in `forwarded` to speak
   * for another client; resolves to the answer, which starts with the client address the app saw.
   */
  const forgedWhoami = async (
    pool: HbonePool,
    sourceIdentity: string,
    target: Workload,
    sourceKey: string,
    localIp: string,
  ): Promise<string> => {
    const [targetIp] = target.ips as [string];
    const stream = await pool.connect({
      sourceIdentity,
      peerIdentity: target.identity,
      peerIp: targetIp,
      peerPort: 15008,
      sourceKey,
      authority: `${targetIp}:${WHOAMI_PORT}`,
      headers: { forwarded: `for="${ip(77)}:1234"` },
      dial: () => tcpConnect({ host: targetIp, port: 15008, localAddress: localIp }),
    });
    let text = '';
    stream.on('data', (c: Buffer) => {
      text += c.toString();
    });
    await new Promise((resolve) => stream.once('end', resolve));
    stream.end();
    return text;
  };

  beforeAll(async () => {
    mesh = await startTwoNodeMesh();
    ({ h, ip, za, base, certsA } = mesh);
    const serverW = server();
    const waypointW = mesh.workload('waypoint');
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
    await mesh?.close();
  });

  it('sends traffic for a service with a waypoint to the waypoint, with the VIP:port as authority', async () => {
    const result = await exchange(h.capture.connect(ip(11), { ip: ip(202), port: 81 }), '');
    expect(result.outcome).toBe('closed');
    expect(seenByWaypoint).toContainEqual({ authority: `${ip(202)}:81`, peer: client().identity });
    // The destination trusted the waypoint's `forwarded` and dialled the app from the original client.
    expect(result.received.toString().split(':')[0]).toBe(ip(11));
  });

  it('ignores `forwarded` from a peer that is not a waypoint, and refuses it on a port the waypoint serves', async () => {
    const pool = new HbonePool({
      contexts: new SecureContextCache(certsA),
      trustDomains: new Set(['cluster.local']),
      settings: DEFAULT_POOL,
      timeouts: DEFAULT_HBONE_TIMEOUTS,
    });
    try {
      const text = await forgedWhoami(pool, client().identity, mesh.workload('unbound'), 'forger', ip(11));
      expect(text.split(':')[0]).toBe(ip(11));
      // server's whoami port is the target of `routed`, which its waypoint serves: only the waypoint gets in.
      await expect(forgedWhoami(pool, client().identity, server(), 'forger', ip(11))).rejects.toThrow(/403/);
    } finally {
      pool.close();
    }
  });

  it('ignores `forwarded` from a waypoint that is not bound to the destination', async () => {
    const text = await forgedWhoami(
      waypointPool,
      mesh.workload('waypoint').identity,
      mesh.workload('unbound'),
      'waypoint-forger',
      ip(41),
    );
    // The app sees the waypoint itself as the client, not the address it claimed to speak for.
    expect(text.split(':')[0]).toBe(ip(41));
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
});
