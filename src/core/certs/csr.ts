/**
 * Workload keys and certificate signing requests. Keys are RSA-2048 from Node's native crypto (node-forge has
 * no ECDSA, and its own RSA key generation is ~25x slower); the CSR carries exactly one SAN, the SPIFFE URI of
 * the identity it asks for, which is what the CA checks.
 */
import { generateKeyPair, generateKeyPairSync } from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { nativeRsaSigner } from './native-signer.ts';

const generateKeyPairAsync = promisify(generateKeyPair);

export interface KeyPair {
  privateKeyPem: string;
  publicKeyPem: string;
}

const RSA_KEY_OPTIONS = {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
} as const;

/** Generates an RSA-2048 key pair off the main thread (libuv's thread pool). */
export async function generateRsaKey(): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPairAsync('rsa', RSA_KEY_OPTIONS);
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/** The same, blocking: for the CA's own keys, made once at start-up before anything is served. */
export function generateRsaKeySync(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', RSA_KEY_OPTIONS);
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/** A PEM CSR for `spiffeId` (its only SAN), signed with `key`. */
export function createCsr(spiffeId: string, key: KeyPair): string {
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(key.publicKeyPem);
  csr.setSubject([]);
  csr.setAttributes([
    {
      name: 'extensionRequest',
      extensions: [{ name: 'subjectAltName', critical: true, altNames: [{ type: 6, value: spiffeId }] }],
    },
  ]);
  csr.sign(
    nativeRsaSigner(key.privateKeyPem) as unknown as forge.pki.rsa.PrivateKey,
    forge.md.sha256.create(),
  );
  return forge.pki.certificationRequestToPem(csr);
}
