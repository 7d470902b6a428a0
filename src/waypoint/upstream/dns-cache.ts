/**
 * The waypoint's resolver for hostname endpoints (`resolution: DNS` / `DNS_ROUND_ROBIN` ServiceEntries), as
 * Envoy's DNS clusters resolve them: an answer is kept for its TTL (clamped, so a TTL of 0 does not turn every
 * connection into a query and a huge one does not pin an address for days), a failure for a short negative
 * TTL, and one query per name is in flight however many connections wait for it. The cache holds at most
 * `maxNames` names, evicting the one that expires first. Names come from pushed config, not from requests,
 * but a flood of requests to a name whose DNS is down still sends at most one query per negative TTL.
 * Names that come from requests (a `DYNAMIC_DNS` entry's) are looked up for a requester, within the bounds of
 * `lookup-limits.ts`; a lookup they refuse is never sent.
 */
import { Resolver } from 'node:dns/promises';
import { AmbitError } from '../../core/errors.ts';
import {
  isLookupOverflow,
  LookupLimiter,
  type LookupOverflow,
  type LookupRequester,
} from './lookup-limits.ts';

/** What a resolution yields: IPv4 addresses with their TTLs (seconds). */
export type ResolveA = (hostname: string) => Promise<{ address: string; ttl: number }[]>;

/**
 * Why a name gave no address (`ambit_waypoint_refused_total{reason="dns-<reason>"}`): the answer, a name not
 * under the entry's wildcard, or a bound on lookups (`LookupOverflow`).
 */
export type DnsRefusal = 'nxdomain' | 'no-address' | 'timeout' | 'error' | 'outside-entry' | LookupOverflow;

export class DnsLookupError extends AmbitError {
  readonly reason: DnsRefusal;

  constructor(hostname: string, reason: DnsRefusal, detail: string) {
    super('UNAVAILABLE', `${hostname} did not resolve (${reason}: ${detail})`);
    this.reason = reason;
  }

  /** Refused by a bound on lookups (Envoy's `UO`, as for its circuit breakers), not by DNS. */
  get overflow(): boolean {
    return isLookupOverflow(this.reason);
  }
}

export interface DnsCacheOptions {
  resolve?: ResolveA | undefined;
  /** Names kept at most (default 1024). */
  maxNames?: number | undefined;
  /** TTLs are clamped to this range (default 1 s to 1 h). */
  minTtlMs?: number | undefined;
  maxTtlMs?: number | undefined;
  /** How long a failure is remembered before the name is asked again (default 2 s). */
  negativeTtlMs?: number | undefined;
  now?: (() => number) | undefined;
  /** The bounds on lookups that requests cause (default: `DEFAULT_LOOKUP_LIMITS`, on `now`). */
  limiter?: LookupLimiter | undefined;
  /**
   * Called once per refused lookup (a connection that gets no address), with the reason and, for a name a
   * request chose, whom it was looked up for.
   */
  onRefusal?: ((reason: DnsRefusal, requester: LookupRequester | undefined) => void) | undefined;
}

type Entry =
  | { ok: true; addresses: string[]; expiresAt: number; next: number }
  | { ok: false; error: DnsLookupError; expiresAt: number };

/** The resolver of the process's `/etc/resolv.conf` (in a pod: the cluster DNS), A records with TTLs. */
export function systemResolveA(timeoutMs = 2_000): ResolveA {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
  return (hostname) => resolver.resolve4(hostname, { ttl: true });
}

export class DnsCache {
  readonly #resolve: ResolveA;
  readonly #maxNames: number;
  readonly #minTtlMs: number;
  readonly #maxTtlMs: number;
  readonly #negativeTtlMs: number;
  readonly #now: () => number;
  readonly #limiter: LookupLimiter;
  readonly #onRefusal: (reason: DnsRefusal, requester: LookupRequester | undefined) => void;
  readonly #entries = new Map<string, Entry>();
  readonly #inFlight = new Map<string, Promise<Entry>>();

  constructor(options: DnsCacheOptions = {}) {
    this.#resolve = options.resolve ?? systemResolveA();
    this.#maxNames = options.maxNames ?? 1024;
    this.#minTtlMs = options.minTtlMs ?? 1_000;
    this.#maxTtlMs = options.maxTtlMs ?? 3_600_000;
    this.#negativeTtlMs = options.negativeTtlMs ?? 2_000;
    this.#now = options.now ?? Date.now;
    this.#limiter = options.limiter ?? new LookupLimiter({}, this.#now);
    this.#onRefusal = options.onRefusal ?? (() => {});
  }

  /** Names cached now (for admin output and tests). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The address to dial for `hostname`: with `all`, each call takes the next address of the answer (the
   * connections spread over them); with `first`, the answer's first address. With a `requester` (the name
   * came from a request), a lookup it causes is charged to it and refused beyond its bounds. Rejects with a
   * `DnsLookupError` when the name has no address.
   */
  async address(hostname: string, use: 'all' | 'first', requester?: LookupRequester): Promise<string> {
    const entry = await this.#entry(hostname, requester);
    if (!entry.ok) {
      this.#onRefusal(entry.error.reason, requester);
      throw entry.error;
    }
    if (use === 'first') return entry.addresses[0]!;
    const address = entry.addresses[entry.next % entry.addresses.length]!;
    entry.next = (entry.next + 1) % entry.addresses.length;
    return address;
  }

  /** Refuses a name that must not be looked up at all (counted as any refusal is). */
  refuse(hostname: string, reason: DnsRefusal, detail: string, requester?: LookupRequester): never {
    this.#onRefusal(reason, requester);
    throw new DnsLookupError(hostname, reason, detail);
  }

  /**
   * The name's entry: cached, or the query in flight for it (joining one costs nothing), or a new query,
   * which a requester's bounds must admit (a refusal is an entry that is not stored: it says nothing of
   * the name).
   */
  #entry(hostname: string, requester: LookupRequester | undefined): Promise<Entry> | Entry {
    const cached = this.#entries.get(hostname);
    if (cached !== undefined && cached.expiresAt > this.#now()) return cached;
    const pending = this.#inFlight.get(hostname);
    if (pending !== undefined) return pending;
    let release: (() => void) | undefined;
    if (requester !== undefined) {
      // A name that failed last time is charged again: random names fail, and their refreshes must not be
      // free (a client cycling through the names it once spent its allowance on).
      const admitted = this.#limiter.admit(requester, cached === undefined || !cached.ok);
      if ('refused' in admitted)
        return this.#failure(hostname, admitted.refused, `too many lookups for ${requester.key}`);
      release = admitted.release;
    }
    const query = this.#query(hostname).then((entry) => {
      release?.();
      this.#inFlight.delete(hostname);
      this.#store(hostname, entry);
      return entry;
    });
    this.#inFlight.set(hostname, query);
    return query;
  }

  async #query(hostname: string): Promise<Entry> {
    try {
      const answers = await this.#resolve(hostname);
      if (answers.length === 0) return this.#failure(hostname, 'no-address', 'empty answer');
      const ttlMs = Math.min(...answers.map((answer) => answer.ttl)) * 1000;
      return {
        ok: true,
        addresses: answers.map((answer) => answer.address),
        expiresAt: this.#now() + Math.min(this.#maxTtlMs, Math.max(this.#minTtlMs, ttlMs)),
        next: 0,
      };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const reason: DnsRefusal =
        code === 'ENOTFOUND'
          ? 'nxdomain'
          : code === 'ENODATA'
            ? 'no-address'
            : code === 'ETIMEOUT'
              ? 'timeout'
              : 'error';
      return this.#failure(hostname, reason, code ?? (error as Error).message);
    }
  }

  #failure(hostname: string, reason: DnsRefusal, detail: string): Entry {
    return {
      ok: false,
      error: new DnsLookupError(hostname, reason, detail),
      expiresAt: this.#now() + this.#negativeTtlMs,
    };
  }

  #store(hostname: string, entry: Entry): void {
    this.#entries.delete(hostname);
    if (this.#entries.size >= this.#maxNames) this.#evict();
    this.#entries.set(hostname, entry);
  }

  /** Drops what has expired, or else the entry that expires first. */
  #evict(): void {
    const now = this.#now();
    let soonest: { name: string; at: number } | undefined;
    for (const [name, entry] of this.#entries) {
      if (entry.expiresAt <= now) this.#entries.delete(name);
      else if (soonest === undefined || entry.expiresAt < soonest.at) soonest = { name, at: entry.expiresAt };
    }
    if (this.#entries.size >= this.#maxNames && soonest !== undefined) this.#entries.delete(soonest.name);
  }
}
