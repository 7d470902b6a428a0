/**
 * Issue 8, defect 2 (no limit on HBONE streams, and tunnels leak): a connection may carry at most 100
 * concurrent streams (advertised and enforced), a peer identity a bounded number over all its connections,
 * a source IP a bounded number of connections, handshakes in progress are bounded, a pod's open tunnels are
 * bounded, and an authenticated connection without streams is closed after its idle period. Every refusal is
 * counted. After a flood of tunnels whose peers vanish (sessions destroyed, streams reset mid-connect) the
 * node's `connections` view is empty and the app holds no socket: bookkeeping ends when the sockets close.
 */

import { type ClientHttp2Session, constants, connect as http2Connect } from 'node:http2';
import { type Server, type Socket, connect as tcpConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZTUNNEL_PORTS } from '../../src/core/ports.ts';
import type { Ztunnel } from '../../src/ztunnel/ztunnel.ts';
import { eventually } from '../support/eventually.ts';
import { sumOf } from '../support/metric-values.ts';
import { APP_PORT, startTwoNodeMesh, type TwoNodeMesh } from '../support/two-node-mesh.ts';

const CLIENT = 'spiffe://cluster.local/ns/default/sa/client';

/** An HBONE session to the pod at `podIp`, from `from`, presenting `identity`'s certificate. */
async function hboneSession(mesh: TwoNodeMesh, podIp: string, from: string, identity = CLIENT) {
  const cert = await mesh.certsA.get(identity);
  const session = http2Connect(`https://${podIp}:${ZTUNNEL_PORTS.hbone}`, {
    cert: cert.certPem,
    key: cert.keyPem,
    ca: mesh.certsA.trustBundle() as string[],
    servername: 'hbone.ambit.internal',
    checkServerIdentity: () => undefined,
    localAddress: from,
  } as Parameters<typeof http2Connect>[1]);
  session.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    session.once('remoteSettings', () => resolve());
    session.once('close', () => reject(new Error('session closed before its settings')));
  });
  return session;
}

/** Opens a CONNECT stream; resolves with the status, or the RST_STREAM code (negative) when refused. */
function tunnel(session: ClientHttp2Session, authority: string) {
  const stream = session.request({ ':method': 'CONNECT', ':authority': authority });
  stream.on('error', () => {});
  const outcome = new Promise<number>((resolve) => {
    stream.once('response', (headers) => resolve(Number(headers[':status'])));
    stream.once('close', () => resolve(-stream.rstCode));
  });
  return { stream, outcome };
}

function openConnections(server: Server): Promise<number> {
  return new Promise((resolve, reject) =>
    server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
  );
}

describe('defect 2: a flood of HBONE tunnels is bounded and leaves nothing behind', () => {
  let mesh: TwoNodeMesh;
  let zb: Ztunnel;
  let echo: Server;
  let target: string;

  beforeAll(async () => {
    mesh = await startTwoNodeMesh();
    zb = mesh.zb;
    target = `${mesh.ip(21)}:${APP_PORT}`;
    await eventually(() => zb.readiness().ready, { what: 'node-b ready' });
    echo = mesh.echo;
  });

  afterAll(async () => {
    await mesh?.close();
  });

  it('advertises SETTINGS_MAX_CONCURRENT_STREAMS 100', async () => {
    const session = await hboneSession(mesh, mesh.ip(21), mesh.ip(11));
    try {
      expect(session.remoteSettings.maxConcurrentStreams).toBe(100);
    } finally {
      session.destroy();
    }
  });

  it('releases every tunnel when its peers vanish: connections empty, no app socket held', async () => {
    const sessions = await Promise.all(
      Array.from({ length: 5 }, (_, i) => hboneSession(mesh, mesh.ip(21), mesh.ip(60 + i))),
    );
    // 500 live tunnels, each with a byte echoed through it.
    const tunnels = sessions.flatMap((session) => Array.from({ length: 100 }, () => tunnel(session, target)));
    expect(new Set(await Promise.all(tunnels.map((t) => t.outcome)))).toEqual(new Set([200]));
    await Promise.all(
      tunnels.map(
        ({ stream }) =>
          new Promise<void>((resolve) => {
            stream.once('data', () => resolve());
            stream.write('x');
          }),
      ),
    );
    expect(zb.connections().connections.length).toBe(500);
    // A second wave is reset while its app connections are being opened.
    const extra = await hboneSession(mesh, mesh.ip(21), mesh.ip(70));
    for (let i = 0; i < 100; i++) tunnel(extra, target).stream.close(constants.NGHTTP2_CANCEL);
    // The peers vanish without a goodbye.
    for (const session of [...sessions, extra]) (session.socket as Socket).destroy();
    await eventually(() => zb.connections().connections.length === 0, { what: 'no tracked tunnel left' });
    await eventually(async () => (await openConnections(echo)) === 0, { what: 'the app holds no socket' });
  });
});

describe('defect 2: every HBONE limit refuses what is over it, and counts it', () => {
  let mesh: TwoNodeMesh;
  let zb: Ztunnel;
  let target: string;
  const refused = (reason: string) => sumOf(zb.metrics.hboneRefused, { reason });

  beforeAll(async () => {
    mesh = await startTwoNodeMesh({
      nodeB: {
        limits: {
          maxStreamsPerIdentity: 30,
          maxConnectionsPerSourceIp: 2,
          maxHandshakes: 3,
          tunnelsPerPod: 40,
          sessionIdleMs: 300,
        },
        timeouts: { handshakeMs: 1_000 },
      },
    });
    zb = mesh.zb;
    target = `${mesh.ip(21)}:${APP_PORT}`;
    await eventually(() => zb.readiness().ready, { what: 'node-b ready' });
  });

  afterAll(async () => {
    await mesh?.close();
  });

  it('refuses streams of one identity over its limit across connections (REFUSED_STREAM)', async () => {
    const before = await refused('identity-stream-limit');
    const sessions = [
      await hboneSession(mesh, mesh.ip(21), mesh.ip(80)),
      await hboneSession(mesh, mesh.ip(21), mesh.ip(81)),
    ];
    try {
      const outcomes = await Promise.all(
        sessions.flatMap((session) => Array.from({ length: 20 }, () => tunnel(session, target).outcome)),
      );
      expect(outcomes.filter((o) => o === 200).length).toBe(30);
      expect(outcomes.filter((o) => o === -constants.NGHTTP2_REFUSED_STREAM).length).toBe(10);
      expect(await refused('identity-stream-limit')).toBe(before + 10);
    } finally {
      for (const session of sessions) session.destroy();
    }
    await eventually(() => zb.connections().connections.length === 0, { what: 'tunnels released' });
  });

  it('refuses tunnels of one pod over its limit with 503', async () => {
    const before = await sumOf(zb.metrics.connectionsRefused, {
      listener: 'hbone',
      reason: 'pod-tunnel-limit',
    });
    // Three identities, each within its own stream limit, together over the pod's 40 tunnels.
    const identities = ['client', 'other', 'third'].map((sa) => `spiffe://cluster.local/ns/default/sa/${sa}`);
    const sessions = await Promise.all(
      identities.map((identity, i) => hboneSession(mesh, mesh.ip(21), mesh.ip(90 + i), identity)),
    );
    try {
      const outcomes = await Promise.all(
        sessions.flatMap((session) => Array.from({ length: 15 }, () => tunnel(session, target).outcome)),
      );
      expect(outcomes.filter((o) => o === 200).length).toBe(40);
      expect(outcomes.filter((o) => o === 503).length).toBe(5);
      expect(
        await sumOf(zb.metrics.connectionsRefused, { listener: 'hbone', reason: 'pod-tunnel-limit' }),
      ).toBe(before + 5);
    } finally {
      for (const session of sessions) session.destroy();
    }
    await eventually(() => zb.connections().connections.length === 0, { what: 'tunnels released' });
  });

  it('refuses connections from one source IP over its limit, and handshakes over theirs', async () => {
    const beforeSource = await refused('connection-limit');
    const beforeHandshakes = await refused('handshake-limit');
    const silent = (from: string) => {
      const socket = tcpConnect({ host: mesh.ip(21), port: ZTUNNEL_PORTS.hbone, localAddress: from });
      socket.on('error', () => {});
      return socket;
    };
    // Three silent connections from one address: two are let in, the third is over the source's limit.
    const fromOne = Array.from({ length: 3 }, () => silent(mesh.ip(100)));
    await eventually(async () => (await refused('connection-limit')) === beforeSource + 1, {
      what: 'the third connection from one IP refused',
    });
    // Two from elsewhere: the first is the third handshake under way, the second over the handshake limit.
    const elsewhere = [silent(mesh.ip(101)), silent(mesh.ip(102))];
    await eventually(async () => (await refused('handshake-limit')) === beforeHandshakes + 1, {
      what: 'a handshake over the limit refused',
    });
    for (const socket of [...fromOne, ...elsewhere]) socket.destroy();
    // Once they are gone, that source connects again: the counts were given back.
    await eventually(
      async () => {
        (await hboneSession(mesh, mesh.ip(21), mesh.ip(100))).destroy();
        return true;
      },
      { what: 'a new connection from the same IP accepted' },
    );
  });

  it('closes an authenticated connection that opens no stream, and one whose streams are done', async () => {
    const silentPeer = await hboneSession(mesh, mesh.ip(21), mesh.ip(110));
    const finished = await hboneSession(mesh, mesh.ip(21), mesh.ip(111));
    const { stream, outcome } = tunnel(finished, target);
    expect(await outcome).toBe(200);
    stream.end();
    await Promise.all(
      [silentPeer, finished].map((session) => new Promise((resolve) => session.once('close', resolve))),
    );
  });
});
