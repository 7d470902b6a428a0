/**
 * Leader election among control-plane replicas: the writes only one replica may make at a time (status
 * written back to a config source, allocations that are stored rather than computed) are made by the
 * holder of a lease. The record has the fields of a Kubernetes `coordination.k8s.io/v1` Lease spec, and
 * `LeaderLease` is all the control plane sees, so that on Kubernetes a Lease object can implement it
 * (renewed with an update on its resourceVersion instead of under a file lock); locally `FileLease` keeps
 * the record in `<state>/leader.json`, written under the state lock.
 *
 * A holder renews every third of the duration. A holder that dies (kill -9) stops renewing, and another
 * replica takes the lease once the duration has passed since the last renewal: the cost of a kill is at
 * most one duration without a leader, never two leaders, since taking and renewing are read-modify-writes
 * under one lock.
 */
import { join } from 'node:path';
import type { Logger } from '../../core/log.ts';
import type { StateLock } from './lock.ts';
import { SharedStateFile } from './shared-file.ts';

/** The Kubernetes Lease spec's fields (times as RFC 3339 text, as the API server writes them). */
export interface LeaseRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime: string;
  renewTime: string;
  leaseTransitions: number;
}

export interface LeaderLease {
  /** This replica's identity, what `holderIdentity` names when it leads. */
  readonly identity: string;
  /** True while this replica holds an unexpired lease. */
  leading(): boolean;
  /** The record as last seen (undefined before the first look). */
  record(): LeaseRecord | undefined;
  /** Called with `leading()` whenever it changes. */
  onChange(listener: (leading: boolean) => void): void;
  start(): void;
  /** Stops renewing and gives the lease up, so that another replica need not wait for it to expire. */
  stop(): void;
}

/** What a replica does with the lease it finds at `now`: the record it writes, or undefined to leave it. */
export function nextLease(
  current: LeaseRecord | undefined,
  identity: string,
  durationSeconds: number,
  now: Date,
): LeaseRecord | undefined {
  const at = now.toISOString();
  if (current?.holderIdentity === identity) return { ...current, renewTime: at };
  const expired =
    current === undefined ||
    current.holderIdentity === '' ||
    Date.parse(current.renewTime) + current.leaseDurationSeconds * 1000 <= now.getTime();
  if (!expired) return undefined;
  return {
    holderIdentity: identity,
    leaseDurationSeconds: durationSeconds,
    acquireTime: at,
    renewTime: at,
    leaseTransitions: (current?.leaseTransitions ?? -1) + 1,
  };
}

/** Whether `record` is held by `identity` and not expired at `now`. */
export function holds(record: LeaseRecord | undefined, identity: string, now: Date): boolean {
  return (
    record?.holderIdentity === identity &&
    Date.parse(record.renewTime) + record.leaseDurationSeconds * 1000 > now.getTime()
  );
}

export const DEFAULT_LEASE_SECONDS = 15;

/** The local lease: `<state>/leader.json`, read and written under the state lock. */
export class FileLease implements LeaderLease {
  readonly identity: string;
  readonly #file: SharedStateFile;
  readonly #durationSeconds: number;
  readonly #log: Logger;
  readonly #listeners: ((leading: boolean) => void)[] = [];
  #record: LeaseRecord | undefined;
  #leading = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: {
    stateDir: string;
    lock: StateLock;
    identity: string;
    log: Logger;
    durationSeconds?: number;
  }) {
    this.identity = options.identity;
    this.#file = new SharedStateFile(join(options.stateDir, 'leader.json'), options.lock);
    this.#durationSeconds = options.durationSeconds ?? DEFAULT_LEASE_SECONDS;
    this.#log = options.log;
  }

  leading(): boolean {
    return this.#leading && holds(this.#record, this.identity, new Date());
  }

  record(): LeaseRecord | undefined {
    return this.#record;
  }

  onChange(listener: (leading: boolean) => void): void {
    this.#listeners.push(listener);
  }

  start(): void {
    this.#tick();
    this.#timer = setInterval(() => this.#tick(), (this.#durationSeconds * 1000) / 3);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    if (!this.#leading) return;
    try {
      this.#file.exclusive(
        () => {},
        () => {
          const current = this.#file.readJson<LeaseRecord>();
          if (current?.holderIdentity !== this.identity) return;
          this.#file.save(JSON.stringify({ ...current, holderIdentity: '' }), 0o600);
        },
      );
    } catch (error) {
      this.#log.warn('could not give the leader lease up; it expires by itself', { error: String(error) });
    }
    this.#set(false);
  }

  #tick(): void {
    try {
      this.#file.exclusive(
        () => {},
        () => {
          const current = this.#file.readJson<LeaseRecord>();
          const next = nextLease(current, this.identity, this.#durationSeconds, new Date());
          if (next) this.#file.save(JSON.stringify(next), 0o600);
          this.#record = next ?? current;
        },
      );
    } catch (error) {
      // Not renewed: lead no longer than the lease allows (`leading()` checks the expiry as well).
      this.#log.warn('leader lease not renewed', { error: String(error) });
    }
    this.#set(holds(this.#record, this.identity, new Date()));
  }

  #set(leading: boolean): void {
    if (leading === this.#leading) return;
    this.#leading = leading;
    this.#log.info(leading ? 'leading: this replica makes the single-writer changes' : 'no longer leading', {
      identity: this.identity,
    });
    for (const listener of this.#listeners) listener(leading);
  }
}
