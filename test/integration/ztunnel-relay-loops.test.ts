/**
 * Issue 8, defect 1 (relay loops): the ztunnel never treats its own listeners as a destination. A
 * connection dialled straight at 15001/15006 (never redirected: the kernel's original destination is the
 * listener itself), a captured connection to a mesh pod's ztunnel port, and an HBONE CONNECT for the pod's
 * own 15001/15006/15008 are each refused once and counted, and nothing is left behind: no tracked
 * connection, no pooled HBONE connection. Before the fix each of these made the ztunnel dial itself again
 * and again.
 */

import { connect as http2Connect } from 'node:http2';
import type { Socket } from 'node:net';
import { connect as tcpConnect } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ZTUNNEL_PORTS } from '../../src/core/ports.ts';
import type { Ztunnel } from '../../src/ztunnel/ztunnel.ts';
import { eventually } from '../support/eventually.ts';
import { sumOf } from '../support/metric-values.ts';
import type { TestCertificateProvider } from '../support/test-ca.ts';
import { startTwoNodeMesh, type TwoNodeMesh } from '../support/two-node-mesh.ts';
import { exchange, type Harness } from '../support/ztunnel-harness.ts';

describe('defect 1: no relay loops through the ztunnel own listeners', () => {
  let mesh: TwoNodeMesh;
  let h: Harness;
  let za: Ztunnel;
  let zb: Ztunnel;
  let ip: (host: number) => string;
  let certs: TestCertificateProvider;

  beforeAll(async () => {
    mesh = await startTwoNodeMesh();
    ({ h, ip, za, zb } = mesh);
    certs = mesh.certsA;
    await eventually(() => za.readiness().ready && zb.readiness().ready, { what: 'both nodes ready' });
  });

  afterAll(async () => {
    await mesh?.close();
  });

  afterEach(async () => {
    // Whatever a case made, nothing of it lives on: no relayed connection, no tunnel to ourselves.
    for (const z of [za, zb]) {
      await eventually(() => z.tracker.list().length === 0, { what: `${z.node} tracks no connection` });
    }
  });

  const refusals = (z: Ztunnel, listener: string, reason: string) =>
    sumOf(z.metrics.connectionsRefused, { listener, reason });

  /** Dials `port` of the pod at `podIp` straight (no capture mapping), sends a line, waits for the close. */
  async function dialStraight(podIp: string, port: number, from = podIp) {
    const socket: Socket = tcpConnect({ host: podIp, port, localAddress: from, allowHalfOpen: true });
    return exchange(socket, 'hello\n');
  }

  it.each([
    ['outbound 15001 dialled by the app itself', ZTUNNEL_PORTS.outbound, 'outbound'],
    [
      'inbound plaintext 15006 dialled by a client outside the mesh',
      ZTUNNEL_PORTS.inboundPlaintext,
      'inbound-plaintext',
    ],
  ] as const)(
    'refuses a connection to %s (never redirected) once, and counts it',
    async (_what, port, listener) => {
      const before = await refusals(za, listener, 'not-redirected');
      const outsider = port === ZTUNNEL_PORTS.outbound ? ip(11) : ip(99);
      const result = await dialStraight(ip(11), port, outsider);
      expect(result.received.length).toBe(0);
      await eventually(async () => (await refusals(za, listener, 'not-redirected')) === before + 1, {
        what: 'one not-redirected refusal counted',
      });
      expect(za.pool.connections()).toEqual([]);
    },
  );

  it.each([ZTUNNEL_PORTS.outbound, ZTUNNEL_PORTS.inboundPlaintext, ZTUNNEL_PORTS.hbone, ZTUNNEL_PORTS.dns])(
    'refuses a captured connection to a mesh pod ztunnel port %i at the source',
    async (port) => {
      const before = await refusals(za, 'outbound', 'own-listener');
      const result = await exchange(h.capture.connect(ip(11), { ip: ip(21), port }), 'hello\n');
      expect(result.received.length).toBe(0);
      await eventually(async () => (await refusals(za, 'outbound', 'own-listener')) === before + 1, {
        what: 'one own-listener refusal counted',
      });
      expect(za.pool.connections()).toEqual([]);
    },
  );

  it('refuses a captured plaintext connection whose original destination is the pod 15001', async () => {
    const before = await refusals(za, 'inbound-plaintext', 'own-listener');
    const socket = h.capture.connect(
      ip(11),
      { ip: ip(11), port: ZTUNNEL_PORTS.outbound },
      ZTUNNEL_PORTS.inboundPlaintext,
      ip(98),
    );
    const result = await exchange(socket, 'hello\n');
    expect(result.received.length).toBe(0);
    await eventually(async () => (await refusals(za, 'inbound-plaintext', 'own-listener')) === before + 1, {
      what: 'one own-listener refusal counted',
    });
  });

  it.each([ZTUNNEL_PORTS.outbound, ZTUNNEL_PORTS.inboundPlaintext, ZTUNNEL_PORTS.hbone])(
    'answers 400 to an HBONE CONNECT for the pod own port %i and counts it',
    async (port) => {
      const before = await refusals(zb, 'hbone', 'own-listener');
      const cert = await certs.get('spiffe://cluster.local/ns/default/sa/client');
      const session = http2Connect(`https://${ip(21)}:${ZTUNNEL_PORTS.hbone}`, {
        cert: cert.certPem,
        key: cert.keyPem,
        ca: certs.trustBundle() as string[],
        servername: 'hbone.ambit.internal',
        checkServerIdentity: () => undefined,
      });
      session.on('error', () => {});
      try {
        const status = await new Promise<number>((resolve) => {
          const stream = session.request({ ':method': 'CONNECT', ':authority': `${ip(21)}:${port}` });
          stream.on('response', (headers) => resolve(Number(headers[':status'])));
          stream.on('error', () => resolve(-1));
        });
        expect(status).toBe(400);
      } finally {
        session.destroy();
      }
      expect(await refusals(zb, 'hbone', 'own-listener')).toBe(before + 1);
    },
  );

  it('still relays an ordinary captured connection', async () => {
    const result = await exchange(h.capture.connect(ip(11), { ip: ip(200), port: 80 }), 'still here');
    expect(result.received.toString()).toBe('still here');
  });
});
