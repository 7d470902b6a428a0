/**
 * A self-signed certificate for one host, made with openssl for tests that need a TLS server outside the
 * mesh's CA (an ingress listener's Secret, a passthrough backend, an outside HTTPS server): the PEM files,
 * readable by the unprivileged users pods run as.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export function selfSignedCertificate(dir: string, host: string): { cert: string; key: string } {
  const cert = join(dir, `${host}.crt`);
  const key = join(dir, `${host}.key`);
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${host}`].concat([
      '-addext',
      `subjectAltName=DNS:${host}`,
      '-keyout',
      key,
      '-out',
      cert,
    ]),
    { stdio: 'ignore' },
  );
  execFileSync('chmod', ['0644', cert, key]);
  return { cert, key };
}
