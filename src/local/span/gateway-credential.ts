/**
 * The node gateway's TLS credential: a self-signed certificate for its SPIFFE identity, made at `up` on the
 * control plane host and carried to the other hosts in the join bundle, which pin it (trust it alone), as a
 * kubeadm join pins the cluster CA by the hash in its token. The cluster lives no longer than its state
 * directory, and so does this certificate.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import forge from 'node-forge';
import { generateRsaKeySync } from '../../core/certs/csr.ts';
import { nativeRsaSigner } from '../../core/certs/native-signer.ts';
import { writeFileAtomic } from '../../core/files.ts';
import { controlPlaneStateDir } from '../mesh/control-plane.ts';
import type { ClusterState } from '../types.ts';
import { NODE_GATEWAY_IDENTITY } from './span.ts';

const LIFETIME_DAYS = 365;

export interface GatewayCredential {
  certFile: string;
  keyFile: string;
}

export function gatewayCredentialFiles(cluster: Pick<ClusterState, 'stateDir'>): GatewayCredential {
  const dir = join(controlPlaneStateDir(cluster), 'node-gateway');
  return { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') };
}

/** Makes the credential unless it exists; returns the certificate (PEM). */
export function ensureGatewayCredential(cluster: Pick<ClusterState, 'stateDir'>): string {
  const files = gatewayCredentialFiles(cluster);
  if (existsSync(files.certFile) && existsSync(files.keyFile)) return readFileSync(files.certFile, 'utf8');
  const key = generateRsaKeySync();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(key.publicKeyPem);
  cert.serialNumber = `01${forge.util.bytesToHex(forge.random.getBytesSync(15))}`;
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 5 * 60_000);
  cert.validity.notAfter = new Date(now + LIFETIME_DAYS * 86_400_000);
  const name = [{ name: 'commonName', value: 'ambit-node-gateway' }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    // Its own anchor (the joining hosts trust it alone), so it may sign: itself.
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, keyCertSign: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: [{ type: 6, value: NODE_GATEWAY_IDENTITY }] },
  ]);
  // forge's types want its own key; it only calls `sign` on what it is given (see native-signer.ts).
  cert.sign(
    nativeRsaSigner(key.privateKeyPem) as unknown as forge.pki.rsa.PrivateKey,
    forge.md.sha256.create(),
  );
  const certPem = forge.pki.certificateToPem(cert);
  mkdirSync(join(files.certFile, '..'), { recursive: true, mode: 0o700 });
  writeFileAtomic(files.keyFile, key.privateKeyPem, 0o600);
  writeFileAtomic(files.certFile, certPem, 0o644);
  return certPem;
}
