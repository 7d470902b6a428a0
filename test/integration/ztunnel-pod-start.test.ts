/**
 * When the ztunnel takes a pod that its configuration knows, it serves the pod fully before it says so:
 * the enrollment is acknowledged when `addPod` resolves, and the pod then starts and receives mesh traffic,
 * so the inbound HBONE listener (15008) must be up by then. Without a certificate it refuses the pod (the
 * runtime retries the start) rather than acknowledging a pod whose inbound traffic would be reset.
 */
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ztunnel } from '../../src/ztunnel/ztunnel.ts';
import { quietLogs } from '../support/logging.ts';
import { snapshot, workload } from '../support/mesh-fixtures.ts';
import { TestCa, type TestCertificateProvider } from '../support/test-ca.ts';
import { createHarness, type Harness, podSockets } from '../support/ztunnel-harness.ts';

describe('ztunnel: a pod is served fully before addPod resolves', () => {
  let h: Harness;
  let certificates: TestCertificateProvider;
  let ztunnel: Ztunnel;
  const server = (ip: string) => workload({ name: 'server', ips: [ip], node: 'node-b' });

  beforeAll(() => {
    quietLogs();
    h = createHarness(new TestCa());
    certificates = h.certificates();
    ztunnel = h.ztunnel('node-b', { certificates });
    ztunnel.applySnapshot(snapshot({ workloads: [server(h.ip(21))] }));
  });

  afterAll(() => h?.close());

  /** Whether 15008 of the pod completes a TLS handshake now. */
  const hboneAnswers = (ip: string) =>
    new Promise<boolean>((resolve) => {
      const probe = tlsConnect({
        host: ip,
        port: 15008,
        servername: 'hbone.ambit.internal',
        ALPNProtocols: ['h2'],
        rejectUnauthorized: false,
      });
      probe.once('secureConnect', () => {
        probe.destroy();
        resolve(true);
      });
      probe.once('error', () => resolve(false));
    });

  it('refuses the pod while its certificate cannot be had, and serves nothing of it', async () => {
    const { uid } = server(h.ip(21));
    certificates.failNext = 1;
    await expect(ztunnel.addPod({ uid, sockets: podSockets(h.ip(21)) })).rejects.toThrow(
      'the CA is unreachable',
    );
    expect(ztunnel.configDump()).toMatchObject({ pods: [] });
    expect(await hboneAnswers(h.ip(21))).toBe(false);
    expect(ztunnel.readiness()).toEqual({ ready: true });
  });

  it('once the certificate comes, answers on 15008 as soon as addPod resolves', async () => {
    const { uid } = server(h.ip(21));
    await ztunnel.addPod({ uid, sockets: podSockets(h.ip(21)) });
    // No waiting: the runtime starts the pod right after this acknowledgement.
    expect(await hboneAnswers(h.ip(21))).toBe(true);
    expect(ztunnel.configDump()).toMatchObject({ pods: [{ uid, hboneReady: true }] });
  });
});
