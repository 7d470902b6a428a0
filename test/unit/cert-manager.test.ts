/**
 * The data plane's certificate manager against the real CA (in process: the CA's gRPC front is exercised by
 * the integration suite). Failures are injected in front of the CA to exercise retries and expiry.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/control/ca/authority.ts';
import type { CertificateSigner } from '../../src/core/certs/ca-client.ts';
import { CertificateManager } from '../../src/core/certs/manager.ts';
import { silentLogger } from '../support/logging.ts';

const dir = mkdtempSync(join(tmpdir(), 'ambit-certmgr-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ca = CertificateAuthority.loadOrCreate({
  trustDomain: 'cluster.local',
  keyFile: join(dir, 'k.pem'),
  certFile: join(dir, 'c.pem'),
});
const IDENTITY = 'spiffe://cluster.local/ns/shop/sa/cart';

/** The real CA behind a switch that can make it fail, counting requests. */
class SwitchableSigner implements CertificateSigner {
  requests = 0;
  failNext = 0;
  failAlways = false;
  async createCertificate(csrPem: string, ttlSeconds: number): Promise<string[]> {
    this.requests++;
    if (this.failAlways || this.failNext > 0) {
      this.failNext = Math.max(0, this.failNext - 1);
      throw new Error('CA unavailable');
    }
    const issued = ca.issue(ca.inspect(csrPem), ttlSeconds);
    return [issued.certPem, ...issued.chain];
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const managers: CertificateManager[] = [];
afterEach(() => {
  for (const manager of managers.splice(0)) manager.close();
});
function manager(
  signer: CertificateSigner,
  options: Partial<ConstructorParameters<typeof CertificateManager>[0]> = {},
) {
  const created = new CertificateManager({
    signer,
    log: silentLogger,
    backoff: { initialMs: 50, maxMs: 200 },
    ...options,
  });
  managers.push(created);
  return created;
}

describe('certificate manager', () => {
  it('requests a certificate on demand, for exactly the identity, chained to the root, and caches it', async () => {
    const signer = new SwitchableSigner();
    const certs = manager(signer);
    const [a, b] = await Promise.all([certs.getCertificate(IDENTITY), certs.getCertificate(IDENTITY)]);
    expect(a).toBe(b);
    expect(signer.requests).toBe(1);
    const leaf = new X509Certificate(a.certPem);
    expect(leaf.subjectAltName).toBe(`URI:${IDENTITY}`);
    expect(leaf.checkPrivateKey(await import('node:crypto').then((c) => c.createPrivateKey(a.keyPem)))).toBe(
      true,
    );
    expect(leaf.verify(new X509Certificate(a.chain[0]!).publicKey)).toBe(true);
    expect(await certs.getCertificate(IDENTITY)).toBe(a);
    expect(signer.requests).toBe(1);
    expect(certs.trustBundle()).toEqual([ca.rootCertPem]);
    expect(certs.certificates().map((c) => c.identity)).toEqual([IDENTITY]);
    expect(Object.keys(certs.certificates()[0]!)).not.toContain('keyPem');
  });

  it('renews at half-life with a fresh key, and serves the old certificate meanwhile', async () => {
    const signer = new SwitchableSigner();
    const certs = manager(signer, { ttlSeconds: 4 });
    const first = await certs.getCertificate(IDENTITY);
    await sleep(1000);
    expect(await certs.getCertificate(IDENTITY)).toBe(first);
    await sleep(1500);
    const renewed = await certs.getCertificate(IDENTITY);
    expect(signer.requests).toBe(2);
    expect(renewed).not.toBe(first);
    expect(renewed.keyPem).not.toBe(first.keyPem);
    expect(renewed.notAfter.getTime()).toBeGreaterThan(first.notAfter.getTime());
  });

  it('retries with backoff: the first caller gets the CA error, a later one the certificate', async () => {
    const signer = new SwitchableSigner();
    signer.failNext = 2;
    const certs = manager(signer);
    await expect(certs.getCertificate(IDENTITY)).rejects.toThrow('CA unavailable');
    await sleep(400);
    const certificate = await certs.getCertificate(IDENTITY);
    expect(signer.requests).toBe(3);
    expect(new X509Certificate(certificate.certPem).subjectAltName).toBe(`URI:${IDENTITY}`);
  });

  it('never serves an expired certificate: once it expires and renewal fails, callers get the error', async () => {
    const signer = new SwitchableSigner();
    const certs = manager(signer, { ttlSeconds: 2, requestTimeoutMs: 5000 });
    const certificate = await certs.getCertificate(IDENTITY);
    signer.failAlways = true;
    await sleep(certificate.notAfter.getTime() - Date.now() + 50);
    await expect(certs.getCertificate(IDENTITY)).rejects.toThrow('CA unavailable');
    expect(signer.requests).toBeGreaterThan(1);
  });

  it('refuses identities that are not SPIFFE IDs, and certificates for another identity', async () => {
    const certs = manager(new SwitchableSigner());
    await expect(certs.getCertificate('cluster.local/ns/a/sa/b')).rejects.toThrow('not a SPIFFE identity');
    const liar: CertificateSigner = {
      async createCertificate() {
        const other = await new CertificateManager({
          signer: new SwitchableSigner(),
          log: silentLogger,
        }).getCertificate('spiffe://cluster.local/ns/x/sa/y');
        return [other.certPem, ...other.chain];
      },
    };
    await expect(manager(liar, { requestTimeoutMs: 2000 }).getCertificate(IDENTITY)).rejects.toThrow(
      'the CA returned a certificate for spiffe://cluster.local/ns/x/sa/y, not spiffe://cluster.local/ns/shop/sa/cart',
    );
  });

  it('stops renewing a forgotten identity', async () => {
    const signer = new SwitchableSigner();
    const certs = manager(signer, { ttlSeconds: 2 });
    await certs.getCertificate(IDENTITY);
    certs.forget(IDENTITY);
    await sleep(1500);
    expect(signer.requests).toBe(1);
    expect(certs.certificates()).toEqual([]);
  });
});
