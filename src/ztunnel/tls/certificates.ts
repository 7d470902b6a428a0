/**
 * Where the ztunnel's workload certificates come from. The ztunnel asks for the certificate of each identity
 * whose pods it serves; the provider (the control plane's certificate manager in production, a test CA in
 * tests) fetches, caches and renews them, and says when anything changed so that listeners pick it up.
 */
import { X509Certificate } from 'node:crypto';
import { spiffeIdentitiesOfSan } from './spiffe.ts';

export interface WorkloadCertificate {
  /** The SPIFFE URI the certificate was issued for. */
  identity: string;
  /** The leaf certificate (PEM). */
  certPem: string;
  /** Its private key (PEM). */
  keyPem: string;
  /** Intermediates between the leaf and a root of the trust bundle, leaf first (PEM), if any. */
  chainPem?: readonly string[] | undefined;
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
