/**
 * TLS settings of HBONE, both ends: TLS 1.3 only, ALPN `h2`, both sides present a workload certificate that
 * chains to the mesh trust bundle, and the client checks that the server is the identity it meant to reach.
 * Secure contexts are built once per (identity, certificate, bundle) and shared by every connection.
 */
import {
  createSecureContext,
  type PeerCertificate,
  type SecureContext,
  type SecureContextOptions,
} from 'node:tls';
import type { CertificateProvider, WorkloadCertificate } from './certificates.ts';
import { identityOfCertificate } from './spiffe.ts';

/** AES-128-GCM first: the fastest suite with AES-NI; both are what Istio's ztunnel allows. */
const CIPHERSUITES = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384';
export const HBONE_ALPN = 'h2';
/**
 * Peers are dialled by IP and their certificates carry only a URI SAN, so the client sends a fixed, non-IP
 * server name (an IP would be refused as SNI) and checks the SPIFFE identity itself.
 */
export const HBONE_SERVER_NAME = 'hbone.ambit.internal';

/** The certificate/key/roots part of the TLS options for an identity, on either end of a tunnel. */
export function secureContextOptions(
  cert: WorkloadCertificate,
  trustBundle: readonly string[],
): SecureContextOptions {
  return {
    cert: [cert.certPem, ...cert.chain].join('\n'),
    key: cert.keyPem,
    ca: [...trustBundle],
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    ciphers: CIPHERSUITES,
  };
}

/** Server-side TLS options for `http2.createSecureServer` / `setSecureContext`. */
export function hboneServerOptions(cert: WorkloadCertificate, trustBundle: readonly string[]) {
  return {
    ...secureContextOptions(cert, trustBundle),
    requestCert: true,
    rejectUnauthorized: true,
    ALPNProtocols: [HBONE_ALPN],
  };
}

/**
 * `checkServerIdentity` for a client that expects the peer to be `expected` (a SPIFFE URI): the chain was
 * already verified against the trust bundle; this checks who the certificate is for.
 */
export function expectIdentity(expected: string, trustDomains: ReadonlySet<string>) {
  return (_hostname: string, cert: PeerCertificate): Error | undefined => {
    const result = identityOfCertificate(cert, trustDomains);
    if (!result.ok) return new Error(result.reason);
    if (result.identity !== expected) {
      return new Error(`peer identity ${result.identity} is not the expected ${expected}`);
    }
    return undefined;
  };
}

/**
 * Secure contexts per workload identity, rebuilt when the provider renews a certificate or rotates the
 * trust bundle (it tells us through `subscribe`).
 */
export class SecureContextCache {
  readonly #provider: CertificateProvider;
  readonly #contexts = new Map<string, Promise<SecureContext>>();
  readonly #unsubscribe: () => void;

  constructor(provider: CertificateProvider) {
    this.#provider = provider;
    this.#unsubscribe = provider.subscribe(() => this.#contexts.clear());
  }

  /** The context for the identity's current certificate (what a client presents). */
  get(identity: string): Promise<SecureContext> {
    let context = this.#contexts.get(identity);
    if (!context) {
      context = this.#provider
        .get(identity)
        .then((cert) => createSecureContext(secureContextOptions(cert, this.#provider.trustBundle())));
      // A failed fetch is not cached: the next connection tries again.
      context.catch(() => {
        if (this.#contexts.get(identity) === context) this.#contexts.delete(identity);
      });
      this.#contexts.set(identity, context);
    }
    return context;
  }

  close(): void {
    this.#unsubscribe();
    this.#contexts.clear();
  }
}
