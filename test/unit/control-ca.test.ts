/**
 * The mesh CA: root generation and persistence, workload certificates (chain, exact SAN, lifetime), and the
 * CSRs it refuses. Certificates are checked with Node's own X509Certificate, not with the code that made them.
 */
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';
import { afterAll, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/control/ca/authority.ts';
import { RotatingServerCertificate } from '../../src/control/ca/server-certificate.ts';
import { nodeMayHold } from '../../src/control/ca/service.ts';
import { ReportedPods } from '../../src/control/pods/pod-source.ts';
import { createCsr, generateRsaKey } from '../../src/core/certs/csr.ts';
import { nativeRsaSigner } from '../../src/core/certs/native-signer.ts';
import { silentLogger } from '../support/logging.ts';

const dir = mkdtempSync(join(tmpdir(), 'ambit-ca-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function authority(
  name: string,
  extra: Partial<Parameters<typeof CertificateAuthority.loadOrCreate>[0]> = {},
) {
  return CertificateAuthority.loadOrCreate({
    trustDomain: 'cluster.local',
    keyFile: join(dir, name, 'root-key.pem'),
    certFile: join(dir, name, 'root-cert.pem'),
    ...extra,
  });
}

/** A CSR with arbitrary SANs, for the cases the data plane's own CSR builder never makes. */
function csrWith(altNames: { type: number; value: string }[], bits = 2048): string {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: bits,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(publicKey);
  csr.setAttributes([{ name: 'extensionRequest', extensions: [{ name: 'subjectAltName', altNames }] }]);
  csr.sign(nativeRsaSigner(privateKey) as unknown as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return forge.pki.certificationRequestToPem(csr);
}

const ca = authority('main', { maxTtlSeconds: 48 * 3600 });
const root = new X509Certificate(ca.rootCertPem);

describe('root CA', () => {
  it('is a self-signed CA certificate, persisted with a 0600 key, and reloaded on the next start', () => {
    expect(root.ca).toBe(true);
    expect(root.checkIssued(root)).toBe(true);
    expect(root.verify(root.publicKey)).toBe(true);
    expect(statSync(join(dir, 'main', 'root-key.pem')).mode & 0o777).toBe(0o600);
    expect(authority('main').rootCertPem).toBe(ca.rootCertPem);
    expect(ca.trustBundle()).toEqual([ca.rootCertPem]);
  });

  it('loads an operator-provided CA and refuses a key that does not match it', () => {
    const provided = authority('provided-src');
    const keyFile = join(dir, 'provided-src', 'root-key.pem');
    const certFile = join(dir, 'provided-src', 'root-cert.pem');
    const loaded = authority('provided', { providedCertFile: certFile, providedKeyFile: keyFile });
    expect(loaded.rootCertPem).toBe(provided.rootCertPem);
    expect(readFileSync(join(dir, 'provided', 'root-cert.pem'), 'utf8')).toBe(provided.rootCertPem);
    expect(() =>
      authority('mismatch', {
        providedCertFile: certFile,
        providedKeyFile: join(dir, 'main', 'root-key.pem'),
      }),
    ).toThrow(/the CA key does not match the certificate/);
    expect(() => authority('half', { providedCertFile: certFile })).toThrow(
      /--ca-cert and --ca-key go together/,
    );
  });
});

describe('workload certificates', () => {
  const identity = 'spiffe://cluster.local/ns/shop/sa/cart';

  it('chain to the root, carry exactly the SPIFFE SAN, and live 24 h by default', async () => {
    const key = await generateRsaKey();
    const now = new Date();
    const issued = ca.issue(ca.inspect(createCsr(identity, key)), 0, now);
    const leaf = new X509Certificate(issued.certPem);
    expect(leaf.checkIssued(root)).toBe(true);
    expect(leaf.verify(root.publicKey)).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(leaf.subjectAltName).toBe(`URI:${identity}`);
    expect(leaf.publicKey.export({ type: 'spki', format: 'pem' })).toBe(key.publicKeyPem);
    expect(issued.chain).toEqual([ca.rootCertPem]);
    const lifetime = new Date(leaf.validTo).getTime() - now.getTime();
    expect(Math.abs(lifetime - 24 * 3600_000)).toBeLessThan(2000);
    expect(leaf.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']));
  });

  it('honour a requested lifetime and cap it at the maximum', async () => {
    const request = ca.inspect(createCsr(identity, await generateRsaKey()));
    const now = new Date();
    const lifetime = (ttl: number) =>
      new Date(new X509Certificate(ca.issue(request, ttl, now).certPem).validTo).getTime() - now.getTime();
    expect(Math.abs(lifetime(3600) - 3600_000)).toBeLessThan(2000);
    expect(Math.abs(lifetime(30 * 24 * 3600) - 48 * 3600_000)).toBeLessThan(2000);
  });

  it.each([
    [
      'two SANs',
      () =>
        csrWith([
          { type: 6, value: 'spiffe://cluster.local/ns/a/sa/b' },
          { type: 6, value: 'spiffe://cluster.local/ns/a/sa/c' },
        ]),
      'the CSR must have exactly one SAN (the SPIFFE ID), it has 2',
    ],
    ['no SAN', () => csrWith([]), 'the CSR must have exactly one SAN (the SPIFFE ID), it has 0'],
    [
      'a DNS SAN',
      () => csrWith([{ type: 2, value: 'cart.shop.svc' }]),
      'the CSR SAN must be a URI (the SPIFFE ID)',
    ],
    [
      'another trust domain',
      () => csrWith([{ type: 6, value: 'spiffe://evil.org/ns/a/sa/b' }]),
      'the CSR asks for trust domain evil.org; this CA signs for cluster.local',
    ],
    [
      'a non-Istio SPIFFE path',
      () => csrWith([{ type: 6, value: 'spiffe://cluster.local/workload/x' }]),
      'the CSR SAN "spiffe://cluster.local/workload/x" is not a SPIFFE ID of the form spiffe://<trust domain>/ns/<ns>/sa/<sa>',
    ],
    [
      'a 1024-bit key',
      () => csrWith([{ type: 6, value: 'spiffe://cluster.local/ns/a/sa/b' }], 1024),
      'the CSR key must be RSA of at least 2048 bits',
    ],
    ['garbage', () => 'not a csr', 'cannot parse the CSR: Invalid PEM formatted message.'],
  ])('refuses a CSR with %s', (_name, make, message) => {
    expect(() => ca.inspect(make())).toThrow(message);
  });

  it('refuses a CSR whose signature does not verify', async () => {
    const csr = forge.pki.certificationRequestFromPem(
      createCsr(identity, await generateRsaKey()),
    ) as forge.pki.CertificateSigningRequest & {
      signature: string;
    };
    // Flip a bit of the signature: it no longer matches what was signed.
    const last = csr.signature.length - 1;
    csr.signature = csr.signature.slice(0, last) + String.fromCharCode(csr.signature.charCodeAt(last) ^ 1);
    expect(() => ca.inspect(forge.pki.certificationRequestToPem(csr))).toThrow(
      'the CSR signature does not verify',
    );
  });
});

describe('node authorization', () => {
  it('allows a node only the service accounts of pods it runs', async () => {
    const pods = new ReportedPods(join(dir, 'pods.json'));
    const record = {
      uid: 'shop/cart-1',
      name: 'cart-1',
      namespace: 'shop',
      node: 'node-a',
      ips: ['10.0.0.1'],
      serviceAccount: 'cart',
      labels: {},
      ready: true,
      ports: [],
    };
    pods.upsert(record);
    const cart = { trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'cart' };
    expect(nodeMayHold(pods, 'node-a', cart)).toBe(true);
    expect(nodeMayHold(pods, 'node-b', cart)).toBe(false);
    expect(nodeMayHold(pods, 'node-a', { ...cart, serviceAccount: 'payments' })).toBe(false);
    expect(nodeMayHold(pods, 'node-a', { ...cart, namespace: 'other' })).toBe(false);
    // Reported pods persist (in the background; shutdown flushes): a restarted control plane still knows them.
    pods.flush();
    expect(new ReportedPods(join(dir, 'pods.json')).list()).toEqual([record]);
  });
});

describe('the control plane server certificate', () => {
  it('is rotated at half-life and handed to listeners', async () => {
    const provider = new RotatingServerCertificate(
      ca,
      {
        spiffeId: 'spiffe://cluster.local/ns/istio-system/sa/ambit-control',
        dnsNames: ['ambit-control.istio-system.svc'],
        ips: ['127.0.0.1'],
      },
      2,
      silentLogger,
    );
    try {
      const updates: string[] = [];
      provider.addIdentityCertificateListener((update) => updates.push(update!.certificate.toString()));
      await new Promise((resolve) => setTimeout(resolve, 1300));
      expect(updates).toHaveLength(2);
      expect(updates[1]).not.toBe(updates[0]);
      const cert = new X509Certificate(updates[1]!);
      expect(cert.verify(root.publicKey)).toBe(true);
      expect(cert.subjectAltName).toBe(
        'URI:spiffe://cluster.local/ns/istio-system/sa/ambit-control, DNS:ambit-control.istio-system.svc, IP Address:127.0.0.1',
      );
    } finally {
      provider.stop();
    }
  });
});
