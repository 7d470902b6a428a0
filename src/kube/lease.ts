/**
 * Leader election with a `coordination.k8s.io/v1` Lease, as client-go's leaderelection does it, through
 * `@kubernetes/client-node`'s CoordinationV1Api: a candidate takes the Lease when it is absent or when its
 * record (holder and renew time) has not changed for `leaseDurationSeconds` as this process observed it
 * (local time only, so clock skew between replicas does not matter); the holder renews it every
 * `renewMs`; every write carries the read resourceVersion, so two candidates racing for it cannot both win
 * (one gets a 409 Conflict). A holder that cannot renew within the lease duration stops leading on its own,
 * before another may take over.
 */
import { hostname } from 'node:os';
import { ApiException, CoordinationV1Api, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { type Clock, systemClock } from '../core/clock.ts';
import { errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';

export interface LeaseSettings {
  namespace: string;
  name: string;
  /** This candidate (default: host name and pid: a pod's name is its host name). */
  identity?: string | undefined;
  leaseDurationSeconds?: number | undefined;
  /** How often the holder renews and a candidate retries (default: a third of the lease duration). */
  renewMs?: number | undefined;
}

export interface LeadershipHandlers {
  /** Now leading: start acting. */
  started(): void;
  /** No longer leading: stop acting at once. */
  stopped(): void;
}

export class LeaderElector {
  readonly identity: string;
  readonly #api: CoordinationV1Api;
  readonly #settings: Required<LeaseSettings>;
  readonly #handlers: LeadershipHandlers;
  readonly #clock: Clock;
  readonly #log: Logger;
  #observed: { record: string; at: number } | undefined;
  #leading = false;
  /** When this holder last renewed: past the lease duration without a renewal, it must stop. */
  #renewedAt = 0;
  #timer: NodeJS.Timeout | undefined;
  /** The try to acquire or renew under way (or the last one). */
  #ticking: Promise<void> | undefined;
  #stopped = false;

  constructor(
    config: KubeConfig,
    settings: LeaseSettings,
    handlers: LeadershipHandlers,
    log: Logger,
    clock: Clock = systemClock,
  ) {
    const leaseDurationSeconds = settings.leaseDurationSeconds ?? 15;
    this.identity = settings.identity ?? `${hostname()}_${process.pid}`;
    this.#settings = {
      ...settings,
      identity: this.identity,
      leaseDurationSeconds,
      renewMs: settings.renewMs ?? Math.round((leaseDurationSeconds * 1000) / 3),
    };
    this.#api = config.makeApiClient(CoordinationV1Api);
    this.#handlers = handlers;
    this.#clock = clock;
    this.#log = log;
  }

  get leading(): boolean {
    return this.#leading;
  }

  start(): void {
    this.#ticking = this.#tick();
  }

  /** Stops campaigning; a holder gives the Lease up (empty holder), so another takes over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    if (this.#leading) this.#setLeading(false);
    // A renewal under way would race the release and win it (both carry the resourceVersion they read, so
    // the release got a 409 and the others waited out the whole lease): it is let finish first. It may
    // have taken the Lease just now, so whether to release is read from the Lease, not from `leading`.
    await this.#ticking;
    try {
      const lease = await this.#read();
      if (lease?.spec?.holderIdentity === this.identity) {
        await this.#write(lease, { ...lease.spec, holderIdentity: '' });
      }
    } catch (error) {
      this.#log.warn('cannot release the lease', { error: errorMessage(error) });
    }
  }

  async #tick(): Promise<void> {
    try {
      await this.#tryAcquireOrRenew();
    } catch (error) {
      this.#log.warn('lease update failed', { lease: this.#settings.name, error: errorMessage(error) });
    }
    const durationMs = this.#settings.leaseDurationSeconds * 1000;
    if (this.#leading && this.#clock.now() - this.#renewedAt > durationMs) this.#setLeading(false);
    if (!this.#stopped)
      this.#timer = setTimeout(() => {
        this.#ticking = this.#tick();
      }, this.#settings.renewMs);
  }

  async #tryAcquireOrRenew(): Promise<void> {
    const now = this.#clock.now();
    const lease = await this.#read();
    const spec = {
      holderIdentity: this.identity,
      leaseDurationSeconds: this.#settings.leaseDurationSeconds,
      renewTime: new Date(now),
    };
    if (lease === undefined) {
      await this.#api.createNamespacedLease({
        namespace: this.#settings.namespace,
        body: {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.#settings.name, namespace: this.#settings.namespace },
          spec: { ...spec, acquireTime: new Date(now), leaseTransitions: 0 },
        },
      });
      this.#won(now);
      return;
    }
    const holder = lease.spec?.holderIdentity ?? '';
    const record = `${holder} ${lease.spec?.renewTime ? new Date(lease.spec.renewTime).getTime() : ''}`;
    if (this.#observed?.record !== record) this.#observed = { record, at: now };
    const held = holder !== '' && holder !== this.identity;
    const expired = now - this.#observed.at > (lease.spec?.leaseDurationSeconds ?? 15) * 1000;
    if (held && !expired) {
      if (this.#leading) this.#setLeading(false);
      return;
    }
    const transition = holder !== this.identity;
    await this.#write(lease, {
      ...lease.spec,
      ...spec,
      ...(transition
        ? { acquireTime: new Date(now), leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + 1 }
        : {}),
    });
    this.#won(now);
  }

  #won(now: number): void {
    this.#renewedAt = now;
    // Won by a renewal that was under way when `stop` was called: released there, never acted on.
    if (!this.#leading && !this.#stopped) this.#setLeading(true);
  }

  #setLeading(leading: boolean): void {
    this.#leading = leading;
    this.#log.info(leading ? 'leading' : 'no longer leading', {
      lease: `${this.#settings.namespace}/${this.#settings.name}`,
      identity: this.identity,
    });
    if (leading) this.#handlers.started();
    else this.#handlers.stopped();
  }

  async #read(): Promise<V1Lease | undefined> {
    try {
      return await this.#api.readNamespacedLease({
        name: this.#settings.name,
        namespace: this.#settings.namespace,
      });
    } catch (error) {
      if (error instanceof ApiException && error.code === 404) return undefined;
      throw error;
    }
  }

  /** Replaces the Lease carrying the resourceVersion read: a concurrent writer makes this a 409. */
  #write(lease: V1Lease, spec: NonNullable<V1Lease['spec']>): Promise<V1Lease> {
    return this.#api.replaceNamespacedLease({
      name: this.#settings.name,
      namespace: this.#settings.namespace,
      body: { ...lease, spec },
    });
  }
}
