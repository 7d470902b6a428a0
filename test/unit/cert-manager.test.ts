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
import { eventually } from '../support/eventually.ts';
import { FakeClock } from '../support/fake-clock.ts';
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

const managers: CertificateManager[] = [];
afterEach(() => {
  for (const manager of managers.splice(0)) manager.close();
});
/** A manager on fake time: nothing renews, retries or times out until the test moves `clock`. */
function manager(
  signer: CertificateSigner,
  options: Partial<ConstructorParameters<typeof CertificateManager>[0]> = {},
) {
  const clock = new FakeClock();
  const created = new CertificateManager({
    signer,
    log: silentLogger,
    backoff: { initialMs: 50, maxMs: 200, jitter: 0 },
    clock,
    ...options,
  });
  managers.push(created);
  return { certs: created, clock };
}

describe('certificate manager', () => {
  it('requests a certificate on demand, for exactly the identity, chained to the root, and caches it', async () => {
    const signer = new SwitchableSigner();
    const { certs } = manager(signer);
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
    const { certs, clock } = manager(signer, { ttlSeconds: 3600 });
    const first = await certs.getCertificate(IDENTITY);
    const halfLife = (first.notAfter.getTime() - clock.now()) / 2;
    await clock.advance(halfLife - 1000);
    expect(await certs.getCertificate(IDENTITY)).toBe(first);
    expect(signer.requests).toBe(1);
    await clock.advance(1000);
    // The renewal runs (real key generation and signing); the old certificate serves until it lands.
    expect(await certs.getCertificate(IDENTITY)).toBe(first);
    const renewed = await eventually(
      async () => {
        const current = await certs.getCertificate(IDENTITY);
        return current !== first && current;
      },
      { what: 'the renewed certificate' },
    );
    expect(signer.requests).toBe(2);
    expect(renewed.keyPem).not.toBe(first.keyPem);
    expect(renewed.notAfter.getTime()).toBeGreaterThanOrEqual(first.notAfter.getTime());
    // The next renewal is timed from the renewal: half of the new lifetime later, not sooner.
    await clock.advance((renewed.notAfter.getTime() - clock.now()) / 2 - 1000);
    expect(signer.requests).toBe(2);
  });

  it('retries with backoff: the first caller gets the CA error, a later one the certificate', async () => {
    const signer = new SwitchableSigner();
    signer.failNext = 2;
    const { certs, clock } = manager(signer);
    await expect(certs.getCertificate(IDENTITY)).rejects.toThrow('CA unavailable');
    expect(signer.requests).toBe(1);
    // The first retry waits the initial backoff (50 ms) and not a millisecond less.
    await clock.advance(49);
    expect(signer.requests).toBe(1);
    await clock.advance(1);
    await eventually(() => signer.requests === 2 && clock.pending === 1, { what: 'the first retry to fail' });
    // The second retry backs off twice as long (100 ms); a caller waiting meanwhile gets its certificate.
    const later = certs.getCertificate(IDENTITY);
    await clock.advance(99);
    expect(signer.requests).toBe(2);
    await clock.advance(1);
    const certificate = await later;
    expect(new X509Certificate(certificate.certPem).subjectAltName).toBe(`URI:${IDENTITY}`);
  });

  it('never serves an expired certificate: once it expires and renewal fails, callers get the error', async () => {
    const signer = new SwitchableSigner();
    // A request timeout far beyond the retries: `tickUntil` moves fake time while key generation takes real
    // time, so on a loaded machine a short timeout could fall due before the CA's own error comes back.
    const { certs, clock } = manager(signer, { ttlSeconds: 60, requestTimeoutMs: 600_000 });
    const certificate = await certs.getCertificate(IDENTITY);
    signer.failAlways = true;
    await clock.advance(certificate.notAfter.getTime() - clock.now() + 1);
    let outcome: unknown;
    certs.getCertificate(IDENTITY).then(
      (served) => {
        outcome = served;
      },
      (error: unknown) => {
        outcome = error;
      },
    );
    await clock.tickUntil(() => outcome !== undefined, 'the caller to be answered');
    expect(outcome).toBeInstanceOf(Error);
    expect((outcome as Error).message).toBe('CA unavailable');
    expect(signer.requests).toBeGreaterThan(1);
  });

  it('times a caller out when no attempt answers within the request timeout', async () => {
    let release: (() => void) | undefined;
    const hung: CertificateSigner = {
      createCertificate: () =>
        new Promise((_resolve, reject) => {
          release = () => reject(new Error('released'));
        }),
    };
    const { certs, clock } = manager(hung, { requestTimeoutMs: 2000 });
    const waiting = certs.getCertificate(IDENTITY);
    await eventually(() => release !== undefined, { what: 'the request to reach the CA' });
    const refused = expect(waiting).rejects.toMatchObject({ code: 'TIMEOUT' });
    await clock.advance(1999);
    expect(clock.pending).toBe(1);
    await clock.advance(1);
    await refused;
    release!();
  });

  it('refuses identities that are not SPIFFE IDs, and certificates for another identity', async () => {
    const { certs } = manager(new SwitchableSigner());
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
    await expect(manager(liar).certs.getCertificate(IDENTITY)).rejects.toThrow(
      'the CA returned a certificate for spiffe://cluster.local/ns/x/sa/y, not spiffe://cluster.local/ns/shop/sa/cart',
    );
  });

  it('stops renewing a forgotten identity', async () => {
    const signer = new SwitchableSigner();
    const { certs, clock } = manager(signer, { ttlSeconds: 60 });
    await certs.getCertificate(IDENTITY);
    expect(clock.pending).toBe(1);
    certs.forget(IDENTITY);
    expect(clock.pending).toBe(0);
    await clock.advance(120_000);
    expect(signer.requests).toBe(1);
    expect(certs.certificates()).toEqual([]);
  });
});
