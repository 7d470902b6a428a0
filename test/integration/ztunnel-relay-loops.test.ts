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
import { Netns, startTcpConnect } from '../../src/core/sys/netns-socket.ts';
import { redirectedDestination } from '../../src/ztunnel/app.ts';
import { ZtunnelCaptureHandler } from '../../src/ztunnel/inpod/capture-handler.ts';
import type { Ztunnel } from '../../src/ztunnel/ztunnel.ts';
import { eventually } from '../support/eventually.ts';
import { quietLogs } from '../support/logging.ts';
import { snapshot, workload } from '../support/mesh-fixtures.ts';
import { sumOf } from '../support/metric-values.ts';
import { createNetnsPair, type NetnsPair, nsExec } from '../support/netns-fixture.ts';
import { canRunNetnsTests } from '../support/privileges.ts';
import { TestCa, type TestCertificateProvider } from '../support/test-ca.ts';
import { startTwoNodeMesh, type TwoNodeMesh } from '../support/two-node-mesh.ts';
import { createHarness, exchange, type Harness } from '../support/ztunnel-harness.ts';

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

describe.runIf(canRunNetnsTests())(
  'defect 1 in a real pod namespace: the kernel original destination',
  () => {
    let pair: NetnsPair;
    let harness: Harness;
    let ztunnel: Ztunnel;
    const handles: Netns[] = [];
    const open = () => {
      const netns = Netns.open(pair.podPath);
      handles.push(netns);
      return netns;
    };

    beforeAll(async () => {
      quietLogs();
      pair = createNetnsPair('zl');
      // A REDIRECT rule (for a documentation address nothing dials) makes the pod's netns track connections,
      // as our capture rules do: from then on SO_ORIGINAL_DST answers for connections that were never
      // redirected too, with their own address (an empty NAT chain is not enough: ENOENT).
      await nsExec(
        pair.pod,
        ['nft', '-f', '-'],
        'table ip zl {\n  chain out {\n    type nat hook output priority -100;\n    ip daddr 192.0.2.1 tcp dport 9 redirect to :15001\n  }\n}\n',
      );
      harness = createHarness(new TestCa());
      ztunnel = harness.ztunnel('node-a', { originalDestination: redirectedDestination });
      ztunnel.applySnapshot(snapshot({ workloads: [workload({ name: 'app', ips: [pair.podIp] })] }));
      await new ZtunnelCaptureHandler(ztunnel, { workloadWaitMs: 2_000 }).addPod(
        {
          uid: 'default/app',
          name: 'app',
          namespace: 'default',
          serviceAccount: 'app',
          ips: [pair.podIp],
          netns: pair.podPath,
        },
        open(),
      );
    });

    afterAll(async () => {
      await harness?.close();
      for (const netns of handles) netns.close();
      pair?.destroy();
    });

    it.each([
      ['the pod address', () => pair.podIp],
      ['loopback', () => '127.0.0.1'],
    ])('refuses the app dialling 15001 at %s itself, once', async (_what, address) => {
      const before = await sumOf(ztunnel.metrics.connectionsRefused, {
        listener: 'outbound',
        reason: 'not-redirected',
      });
      // The refusal may reset it before its connect is even reported: the exchange sees either.
      const socket = startTcpConnect(open(), {
        address: address(),
        port: ZTUNNEL_PORTS.outbound,
        allowHalfOpen: true,
      });
      const result = await exchange(socket, 'hello\n');
      expect(result.received.length).toBe(0);
      await eventually(
        async () =>
          (await sumOf(ztunnel.metrics.connectionsRefused, {
            listener: 'outbound',
            reason: 'not-redirected',
          })) ===
          before + 1,
        { what: 'one not-redirected refusal counted' },
      );
      expect(ztunnel.tracker.list()).toEqual([]);
      expect(ztunnel.pool.connections()).toEqual([]);
    });
  },
);
