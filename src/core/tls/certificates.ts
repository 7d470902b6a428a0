/**
 * Where the ztunnel's workload certificates come from. The ztunnel asks for the certificate of each identity
 * whose pods it serves; the provider (the control plane's certificate manager in production, a test CA in
 * tests) fetches, caches and renews them, and says when anything changed so that listeners pick it up.
 */
import { X509Certificate } from 'node:crypto';
import { spiffeIdentitiesOfSan } from './spiffe.ts';

/** A workload's certificate and key, as the data plane holds and presents it. */
export interface WorkloadCertificate {
  /** The SPIFFE URI the certificate was issued for. */
  identity: string;
  /** The leaf certificate (PEM). */
  certPem: string;
  /** Its private key (PEM). */
  keyPem: string;
  /** The certificates above the leaf, towards a root of the trust bundle, nearest first (PEM); may be empty. */
  chain: readonly string[];
  notBefore: Date;
  notAfter: Date;
}

/** A `WorkloadCertificate` from its PEMs, with the validity read from the leaf. */
export function workloadCertificate(
  identity: string,
  certPem: string,
  keyPem: string,
  chain: readonly string[] = [],
): WorkloadCertificate {
  const leaf = new X509Certificate(certPem);
  return {
    identity,
    certPem,
    keyPem,
    chain,
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
  };
}

export interface CertificateProvider {
  /** The current certificate for a workload identity; fetches or renews it when needed. */
  get(identity: string): Promise<WorkloadCertificate>;
  /** The PEM roots peers are verified against (several while the CA rotates). */
  trustBundle(): readonly string[];
  /** Calls the listener after any certificate was renewed or the trust bundle changed. Returns unsubscribe. */
  subscribe(listener: () => void): () => void;
}

/** What `/certs` shows of a certificate. */
export interface CertificateInfo {
  identity: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  /** Seconds until expiry (negative once expired). */
  expiresInSeconds: number;
  sanIdentities: string[];
}

export function describeCertificate(identity: string, certPem: string, now = Date.now()): CertificateInfo {
  const cert = new X509Certificate(certPem);
  const notAfter = new Date(cert.validTo);
  return {
    identity,
    serial: cert.serialNumber.toLowerCase(),
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: notAfter.toISOString(),
    expiresInSeconds: Math.round((notAfter.getTime() - now) / 1000),
    sanIdentities: spiffeIdentitiesOfSan(cert.subjectAltName),
  };
}
