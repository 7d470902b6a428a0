/**
 * Certificate and trust-bundle rotation under live traffic: live tunnels keep their TLS sessions, new
 * connections present the renewed certificate, new identities get certificates from the new root, and
 * pooled connections of the old identity keep carrying streams.
 */
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeSnapshot } from '../../src/core/model/index.ts';
import type { Ztunnel } from '../../src/ztunnel/ztunnel.ts';
import { eventually } from '../support/eventually.ts';
import { workload } from '../support/mesh-fixtures.ts';
import { TestCa, type TestCertificateProvider } from '../support/test-ca.ts';
import { startTwoNodeMesh, type TwoNodeMesh } from '../support/two-node-mesh.ts';
import { exchange, type Harness, podSockets } from '../support/ztunnel-harness.ts';

describe('ztunnel certificate rotation', () => {
  let mesh: TwoNodeMesh;
  let h: Harness;
  let ip: (host: number) => string;
  let za: Ztunnel;
  let zb: Ztunnel;
  let base: NodeSnapshot;
  let certsA: TestCertificateProvider;
  let certsB: TestCertificateProvider;

  beforeAll(async () => {
    mesh = await startTwoNodeMesh();
    ({ h, ip, za, zb, base, certsA, certsB } = mesh);
  });

  afterAll(() => mesh?.close());

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
