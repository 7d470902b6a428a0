/**
 * The data plane's certificate manager (ztunnel, waypoint): one key and certificate per workload identity,
 * requested on demand from the control plane's CA, renewed at half-life with a fresh key, retried with
 * backoff when the CA refuses or is unreachable. It never hands out an expired certificate: until a valid
 * one exists, callers wait (and get the CA's error if the attempt fails). Keys live in memory only.
 */
import { createPublicKey, X509Certificate } from 'node:crypto';
import { type BackoffPolicy, backoffDelay } from '../backoff.ts';
import { type Clock, type ClockTimer, systemClock } from '../clock.ts';
import { AmbitError } from '../errors.ts';
import { parseSpiffeUri } from '../identity.ts';
import { createLogger, type Logger } from '../log.ts';
import { type WorkloadCertificate, workloadCertificate } from '../tls/certificates.ts';
import { uriSans } from '../tls/spiffe.ts';
import type { CertificateSigner } from './ca-client.ts';
import { createCsr, generateRsaKey } from './csr.ts';

export interface CertificateManagerOptions {
  signer: CertificateSigner;
  /** Lifetime to ask for (seconds); 0 leaves it to the CA (24 h by default). */
  ttlSeconds?: number | undefined;
  /** Fraction of the lifetime after which to renew (default 0.5). */
  renewFraction?: number | undefined;
  backoff?: BackoffPolicy | undefined;
  /** How long a caller waits for a first certificate before giving up (default 30 s). */
  requestTimeoutMs?: number | undefined;
  /** Roots to trust; until set, the roots that come with issued chains. */
  trustBundle?: string[] | undefined;
  log?: Logger | undefined;
  /** Time for expiry, renewal, backoff and request timeouts (tests pass a fake one). */
  clock?: Clock | undefined;
}

export const DEFAULT_CERT_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 30_000 };

/**
 * A certificate this close to expiry is treated as expired (a handshake must finish while it is valid):
 * 5 s, or a tenth of a shorter lifetime.
 */
const EXPIRY_MARGIN_MS = 5_000;

interface Waiter {
  resolve: (certificate: WorkloadCertificate) => void;
  reject: (error: Error) => void;
}

/** When a certificate was obtained (renewal is timed from then: CAs may backdate notBefore). */
const obtainedAt = new WeakMap<WorkloadCertificate, number>();

interface Entry {
  identity: string;
  current?: WorkloadCertificate | undefined;
  /** True while an attempt loop runs (one per identity). */
  fetching: boolean;
  waiters: Set<Waiter>;
  timer?: ClockTimer | undefined;
  wake?: (() => void) | undefined;
  lastError?: Error | undefined;
}

export class CertificateManager {
  private readonly options: CertificateManagerOptions;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly entries = new Map<string, Entry>();
  private roots: string[] | undefined;
  private readonly seenRoots = new Set<string>();
  private closed = false;

  constructor(options: CertificateManagerOptions) {
    this.options = options;
    this.log = options.log ?? createLogger('cert-manager');
    this.clock = options.clock ?? systemClock;
    this.roots = options.trustBundle;
  }

  /** A valid certificate for `identity` (a SPIFFE URI), from cache or requested now. */
  getCertificate(identity: string): Promise<WorkloadCertificate> {
    if (this.closed) return Promise.reject(new AmbitError('CANCELLED', 'certificate manager is closed'));
    if (!parseSpiffeUri(identity)) {
      return Promise.reject(
        new AmbitError('BAD_REQUEST', `not a SPIFFE identity: ${JSON.stringify(identity)}`),
      );
    }
    let entry = this.entries.get(identity);
    if (!entry) {
      entry = { identity, fetching: false, waiters: new Set() };
      this.entries.set(identity, entry);
    }
    if (entry.current && isValid(entry.current, this.clock.now())) return Promise.resolve(entry.current);
    const pending = entry;
    return new Promise<WorkloadCertificate>((resolve, reject) => {
      const timeoutMs = this.options.requestTimeoutMs ?? 30_000;
      const timer = this.clock.setTimeout(() => {
        pending.waiters.delete(waiter);
        reject(
          pending.lastError ??
            new AmbitError('TIMEOUT', `no certificate for ${identity} within ${timeoutMs} ms`),
        );
      }, timeoutMs);
      const waiter: Waiter = {
        resolve: (certificate) => {
          this.clock.clearTimeout(timer);
          resolve(certificate);
        },
        reject: (error) => {
          this.clock.clearTimeout(timer);
          reject(error);
        },
      };
      // A caller waits for the next attempt; it does not cut the backoff short, so that many connections
      // needing a refused identity do not hammer the CA.
      pending.waiters.add(waiter);
      this.ensureFetching(pending);
    });
  }

  /** Stops renewing `identity` (its last pod left the node) and drops its key. */
  forget(identity: string): void {
    const entry = this.entries.get(identity);
    if (!entry) return;
    this.entries.delete(identity);
    this.clock.clearTimeout(entry.timer);
    entry.wake?.();
    for (const waiter of entry.waiters)
      waiter.reject(new AmbitError('CANCELLED', `${identity} is no longer managed`));
  }

  /** Certificates currently held (for admin endpoints), without keys. */
  certificates(): Omit<WorkloadCertificate, 'keyPem'>[] {
    return [...this.entries.values()].flatMap((entry) => {
      if (!entry.current) return [];
      const { keyPem: _, ...rest } = entry.current;
      return [rest];
    });
  }

  /** The roots peers' certificates must chain to. */
  trustBundle(): string[] {
    return this.roots ?? [...this.seenRoots];
  }

  /** Sets the trusted roots (from the control plane's snapshot); several during a CA rotation. */
  setTrustBundle(roots: readonly string[]): void {
    this.roots = [...roots];
  }

  close(): void {
    this.closed = true;
    for (const identity of [...this.entries.keys()]) this.forget(identity);
  }

  private ensureFetching(entry: Entry): void {
    if (entry.fetching) return;
    entry.fetching = true;
    this.fetchLoop(entry).finally(() => {
      entry.fetching = false;
    });
  }

  private managed(entry: Entry): boolean {
    return !this.closed && this.entries.get(entry.identity) === entry;
  }

  private async fetchLoop(entry: Entry): Promise<void> {
    for (let attempt = 0; this.managed(entry); attempt++) {
      try {
        const certificate = await this.request(entry.identity);
        if (!this.managed(entry)) return;
        entry.current = certificate;
        entry.lastError = undefined;
        for (const waiter of entry.waiters) waiter.resolve(certificate);
        entry.waiters.clear();
        this.scheduleRenewal(entry, certificate);
        this.log.info('certificate obtained', {
          identity: entry.identity,
          notAfter: certificate.notAfter.toISOString(),
        });
        return;
      } catch (error) {
        const failure = error instanceof Error ? error : new Error(String(error));
        entry.lastError = failure;
        for (const waiter of entry.waiters) waiter.reject(failure);
        entry.waiters.clear();
        const delay = backoffDelay(attempt, this.options.backoff ?? DEFAULT_CERT_BACKOFF);
        this.log.warn('certificate request failed; retrying', {
          identity: entry.identity,
          error: failure.message,
          retryInMs: delay,
        });
        await new Promise<void>((resolve) => {
          entry.timer = this.clock.setTimeout(resolve, delay);
          entry.timer.unref();
          entry.wake = () => {
            this.clock.clearTimeout(entry.timer);
            resolve();
          };
        });
        entry.wake = undefined;
      }
    }
  }

  private scheduleRenewal(entry: Entry, certificate: WorkloadCertificate): void {
    this.clock.clearTimeout(entry.timer);
    const obtained = obtainedAt.get(certificate) ?? this.clock.now();
    const renewAt =
      obtained + (certificate.notAfter.getTime() - obtained) * (this.options.renewFraction ?? 0.5);
    entry.timer = this.clock.setTimeout(
      () => this.ensureFetching(entry),
      Math.max(0, renewAt - this.clock.now()),
    );
    entry.timer.unref();
  }

  private async request(identity: string): Promise<WorkloadCertificate> {
    const key = await generateRsaKey();
    const csr = createCsr(identity, key);
    const pems = await this.options.signer.createCertificate(csr, this.options.ttlSeconds ?? 0);
    const [certPem, ...chain] = pems;
    if (!certPem) throw new AmbitError('CERT_INVALID', 'the CA returned no certificate');
    const leaf = new X509Certificate(certPem);
    const sans = uriSans(leaf.subjectAltName);
    if (sans.length !== 1 || sans[0] !== identity) {
      throw new AmbitError(
        'CERT_INVALID',
        `the CA returned a certificate for ${sans.join(', ') || 'no identity'}, not ${identity}`,
      );
    }
    const ours = createPublicKey(key.publicKeyPem).export({ type: 'spki', format: 'der' });
    if (!leaf.publicKey.export({ type: 'spki', format: 'der' }).equals(ours)) {
      throw new AmbitError('CERT_INVALID', 'the CA returned a certificate for another key');
    }
    const issuers = [...chain, ...(this.roots ?? [])].map((pem) => new X509Certificate(pem));
    if (!issuers.some((issuer) => leaf.checkIssued(issuer) && leaf.verify(issuer.publicKey))) {
      throw new AmbitError(
        'CERT_INVALID',
        'the certificate does not chain to the returned chain or the trust bundle',
      );
    }
    const certificate = workloadCertificate(identity, certPem, key.privateKeyPem, chain);
    obtainedAt.set(certificate, this.clock.now());
    if (!isValid(certificate, this.clock.now()))
      throw new AmbitError('CERT_INVALID', `the CA returned a certificate that expires at ${leaf.validTo}`);
    const root = chain.at(-1);
    if (root) this.seenRoots.add(root);
    return certificate;
  }
}

function isValid(certificate: WorkloadCertificate, now: number): boolean {
  const lifetime =
    certificate.notAfter.getTime() - (obtainedAt.get(certificate) ?? certificate.notBefore.getTime());
  const margin = Math.min(EXPIRY_MARGIN_MS, lifetime / 10);
  return now < certificate.notAfter.getTime() - margin && now >= certificate.notBefore.getTime();
}
