/**
 * A small certificate authority for tests and benchmarks: a root (or several, for rotation), workload
 * certificates with SPIFFE URI SANs, and deliberately bad ones (expired, foreign CA, wrong SAN). Keys are
 * RSA-2048 from Node's crypto; certificates are built with node-forge, as the control plane's CA does.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';
import {
  type CertificateProvider,
  type WorkloadCertificate,
  workloadCertificate,
} from '../../src/core/tls/certificates.ts';

export interface IssuedCertificate {
  certPem: string;
  keyPem: string;
}

export interface IssueOptions {
  /** URI SANs; default: the identity. */
  uris?: string[];
  dnsNames?: string[];
  /** IP SANs (a server dialled by address, like an API server in a test's netns). */
  ips?: string[];
  notBefore?: Date;
  notAfter?: Date;
}

function rsaKeyPair(): {
  publicKey: forge.pki.PublicKey;
  privateKey: forge.pki.rsa.PrivateKey;
  keyPem: string;
} {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return {
    publicKey: forge.pki.publicKeyFromPem(publicKey),
    privateKey: forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey,
    keyPem: privateKey,
  };
}

function serialNumber(): string {
  // Positive (high bit clear) 16-byte serial.
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}

export class TestCa {
  readonly certPem: string;
  readonly keyPem: string;
  readonly #cert: forge.pki.Certificate;
  readonly #key: forge.pki.rsa.PrivateKey;

  /** A new root, or (with `existing`) the root another process made, so that both issue for one mesh. */
  constructor(commonName = 'ambit test root', existing?: { certPem: string; keyPem: string }) {
    if (existing) {
      this.#cert = forge.pki.certificateFromPem(existing.certPem);
      this.#key = forge.pki.privateKeyFromPem(existing.keyPem) as forge.pki.rsa.PrivateKey;
      this.certPem = existing.certPem;
      this.keyPem = existing.keyPem;
      return;
    }
    const keys = rsaKeyPair();
    const cert = forge.pki.createCertificate();
    cert.publicKey = keys.publicKey;
    cert.serialNumber = serialNumber();
    cert.validity.notBefore = new Date(Date.now() - 60_000);
    cert.validity.notAfter = new Date(Date.now() + 10 * 365 * 24 * 3600_000);
    const subject = [
      { name: 'commonName', value: commonName },
      { name: 'organizationName', value: 'ambit' },
    ];
    cert.setSubject(subject);
    cert.setIssuer(subject);
    cert.setExtensions([
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      { name: 'subjectKeyIdentifier' },
    ]);
    cert.sign(keys.privateKey, forge.md.sha256.create());
    this.#cert = cert;
    this.#key = keys.privateKey;
    this.certPem = forge.pki.certificateToPem(cert);
    this.keyPem = keys.keyPem;
  }

  /** A workload certificate for a SPIFFE identity (or whatever SANs the options say). */
  issue(identity: string, options: IssueOptions = {}): IssuedCertificate {
    const keys = rsaKeyPair();
    const cert = forge.pki.createCertificate();
    cert.publicKey = keys.publicKey;
    cert.serialNumber = serialNumber();
    cert.validity.notBefore = options.notBefore ?? new Date(Date.now() - 60_000);
    cert.validity.notAfter = options.notAfter ?? new Date(Date.now() + 24 * 3600_000);
    cert.setSubject([]);
    cert.setIssuer(this.#cert.subject.attributes);
    const altNames = [
      ...(options.uris ?? [identity]).map((value) => ({ type: 6, value })),
      ...(options.dnsNames ?? []).map((value) => ({ type: 2, value })),
      ...(options.ips ?? []).map((ip) => ({ type: 7, ip })),
    ];
    cert.setExtensions([
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      // An empty subject makes the SAN extension critical (RFC 5280), as Istio's workload certificates do.
      { name: 'subjectAltName', altNames, critical: true },
      { name: 'authorityKeyIdentifier', keyIdentifier: this.#cert.generateSubjectKeyIdentifier().getBytes() },
    ]);
    cert.sign(this.#key, forge.md.sha256.create());
    return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.keyPem };
  }
}

/**
 * A `CertificateProvider` backed by test CAs: issues a certificate per identity on first use, can renew them
 * and rotate the root, and notifies subscribers like the real certificate manager.
 */
export class TestCertificateProvider implements CertificateProvider {
  ca: TestCa;
  #bundle: string[];
  readonly #certs = new Map<string, WorkloadCertificate>();
  readonly #listeners = new Set<() => void>();
  /** How many certificates were issued (tests check caching). */
  issued = 0;
  /** How many requests to refuse, as an unreachable CA would, before issuing again. */
  failNext = 0;

  constructor(ca = new TestCa()) {
    this.ca = ca;
    this.#bundle = [ca.certPem];
  }

  async get(identity: string): Promise<WorkloadCertificate> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('the CA is unreachable');
    }
    let cert = this.#certs.get(identity);
    if (!cert) {
      cert = this.#issue(identity);
      this.issued++;
      this.#certs.set(identity, cert);
    }
    return cert;
  }

  #issue(identity: string): WorkloadCertificate {
    const { certPem, keyPem } = this.ca.issue(identity);
    return workloadCertificate(identity, certPem, keyPem);
  }

  trustBundle(): readonly string[] {
    return this.#bundle;
  }

  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Re-issues every certificate (from the current CA) and tells subscribers. */
  renewAll(): void {
    for (const identity of this.#certs.keys()) {
      this.#certs.set(identity, this.#issue(identity));
      this.issued++;
    }
    this.#notify();
  }

  /** Starts trusting a new root alongside the old one and issues from it from now on (a CA rotation). */
  rotateRoot(next = new TestCa('ambit test root 2')): void {
    this.ca = next;
    this.#bundle = [...this.#bundle, next.certPem];
    this.renewAll();
  }

  #notify(): void {
    for (const listener of this.#listeners) listener();
  }
}
