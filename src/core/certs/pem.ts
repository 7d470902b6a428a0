/** PEM helpers shared by the CA and the certificate manager. */
import { X509Certificate } from 'node:crypto';

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of a PEM bundle, each as its own PEM string (with a trailing newline). */
export function splitCertificates(bundle: string): string[] {
  return (bundle.match(PEM_BLOCK) ?? []).map((block) => `${block}\n`);
}

export function certificateNotAfter(pem: string): Date {
  return new Date(new X509Certificate(pem).validTo);
}

/** The URI SANs of a certificate (its SPIFFE identity). */
export function uriSans(pem: string): string[] {
  const names = new X509Certificate(pem).subjectAltName ?? '';
  return names
    .split(', ')
    .filter((name) => name.startsWith('URI:'))
    .map((name) => name.slice(4));
}
