/**
 * The control plane's CA as the ztunnel's `CertificateProvider`: certificates come from the data plane's
 * `CertificateManager` (requested with the node's credential, renewed at half-life), the trust bundle from
 * the accepted snapshots. The manager does not announce renewals, so held certificates are compared on a
 * slow timer and listeners told when one changed (they then install it); a new trust bundle is told at once.
 */

import { isDeepStrictEqual } from 'node:util';
import type { CertificateManager } from '../certs/manager.ts';
import type { CertificateProvider, WorkloadCertificate } from './certificates.ts';

/** How often held certificates are checked for renewal (renewal is at half of a lifetime of hours). */
const RENEWAL_CHECK_MS = 10_000;

export class ManagedCertificates implements CertificateProvider {
  readonly #manager: CertificateManager;
  readonly #listeners = new Set<() => void>();
  readonly #timer: NodeJS.Timeout;
  #seen = '';

  constructor(manager: CertificateManager) {
    this.#manager = manager;
    this.#timer = setInterval(() => this.#checkRenewals(), RENEWAL_CHECK_MS);
    this.#timer.unref();
  }

  get(identity: string): Promise<WorkloadCertificate> {
    return this.#manager.getCertificate(identity);
  }

  trustBundle(): readonly string[] {
    return this.#manager.trustBundle();
  }

  /** Installs the snapshot's roots (an empty list keeps the current ones); listeners hear only of changes. */
  setTrustBundle(roots: readonly string[]): void {
    if (roots.length === 0 || isDeepStrictEqual([...roots], this.#manager.trustBundle())) return;
    this.#manager.setTrustBundle(roots);
    this.#notify();
  }

  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    clearInterval(this.#timer);
    this.#manager.close();
  }

  #checkRenewals(): void {
    const held = this.#manager
      .certificates()
      .map((certificate) => `${certificate.identity} ${certificate.notBefore.getTime()}`)
      .sort()
      .join('\n');
    if (held === this.#seen) return;
    const first = this.#seen === '';
    this.#seen = held;
    if (!first) this.#notify();
  }

  #notify(): void {
    for (const listener of this.#listeners) listener();
  }
}
