/**
 * The control plane's own TLS certificate, rotated: issued by the mesh CA at start and again at half-life,
 * handed to gRPC as a certificate provider so that new connections get the new certificate without a restart
 * (existing connections keep the one they negotiated).
 */
import type { experimental } from '@grpc/grpc-js';
import type { Logger } from '../../core/log.ts';
import type { CertificateAuthority } from './authority.ts';

type IdentityListener = (update: experimental.IdentityCertificateUpdate | null) => void;

export interface ServerIdentity {
  spiffeId: string;
  dnsNames: readonly string[];
  ips: readonly string[];
}

export class RotatingServerCertificate implements experimental.CertificateProvider {
  private readonly ca: CertificateAuthority;
  private readonly identity: ServerIdentity;
  private readonly lifetimeSeconds: number;
  private readonly log: Logger;
  private readonly listeners = new Set<IdentityListener>();
  private current: experimental.IdentityCertificateUpdate;
  private timer: NodeJS.Timeout | undefined;

  constructor(ca: CertificateAuthority, identity: ServerIdentity, lifetimeSeconds: number, log: Logger) {
    this.ca = ca;
    this.identity = identity;
    this.lifetimeSeconds = lifetimeSeconds;
    this.log = log;
    this.current = this.issue();
  }

  private issue(): experimental.IdentityCertificateUpdate {
    const { certPem, keyPem } = this.ca.issueServerCertificate(
      this.identity.spiffeId,
      this.identity.dnsNames,
      this.identity.ips,
      this.lifetimeSeconds,
    );
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.rotate(), (this.lifetimeSeconds * 1000) / 2);
    this.timer.unref();
    return { certificate: Buffer.from(certPem), privateKey: Buffer.from(keyPem) };
  }

  private rotate(): void {
    this.current = this.issue();
    this.log.info('server certificate rotated');
    for (const listener of this.listeners) listener(this.current);
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.listeners.add(listener);
    // Asynchronously: grpc-js registers its own watcher only after adding this listener, and would miss a
    // synchronous first update (then drop every connection as having no certificate).
    queueMicrotask(() => {
      if (this.listeners.has(listener)) listener(this.current);
    });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.listeners.delete(listener);
  }

  // The control plane does not ask clients for certificates: they authenticate with node tokens.
  addCaCertificateListener(): void {}
  removeCaCertificateListener(): void {}
}
