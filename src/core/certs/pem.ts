/** Certificate helpers for the data plane. */
import { X509Certificate } from 'node:crypto';

/** The URI SANs of a certificate (its SPIFFE identity). */
export function uriSans(pem: string): string[] {
  const names = new X509Certificate(pem).subjectAltName ?? '';
  return names
    .split(', ')
    .filter((name) => name.startsWith('URI:'))
    .map((name) => name.slice(4));
}
