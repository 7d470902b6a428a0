/**
 * Bounds on the DNS lookups clients can make the waypoint send. A `DYNAMIC_DNS` entry lets each request name
 * the host to resolve (its Host header, or its TLS ClientHello's SNI), so without bounds one client could
 * flood the resolver with names of its choice, push everyone else's answers out of the cache and hold every
 * query slot. Three bounds apply to lookups a client causes (names from pushed config are not charged):
 * - new names per client: a token bucket per client (its source identity, else its address) that a lookup of
 *   a name the cache does not hold, or holds as a failure, takes a token from; refreshing a name that
 *   resolved is free, since the cache's minimum TTL bounds how often one name is asked (but a failed one is
 *   charged again: random names fail, and re-asking them would otherwise cost nothing);
 * - lookups in flight per client: queries the client started that have not answered yet;
 * - lookups in flight, all clients together.
 * A lookup that would pass a bound is refused before it is sent, and says which bound refused it. The
 * decisions are pure functions of the counts and the time (`decideLookup`); `LookupLimiter` keeps the counts.
 */
import { KeyedRateLimiter } from '../../core/token-bucket.ts';

export interface LookupLimits {
  /** New names one client may have looked up at once before it waits for its bucket to refill. */
  newNamesPerClient: number;
  /** The time in which a client's bucket refills from empty to `newNamesPerClient`. */
  newNamesIntervalMs: number;
  /** Lookups one client may have in flight. */
  inFlightPerClient: number;
  /** Lookups in flight, all clients together. */
  inFlight: number;
}

/**
 * 64 new names a minute per client, 8 of its lookups in flight, 128 in all. Envoy's dynamic forward proxy
 * bounds only the pending lookups of the whole proxy (1,024 by default); a per-client share keeps one client
 * from taking all of them.
 */
export const DEFAULT_LOOKUP_LIMITS: LookupLimits = {
  newNamesPerClient: 64,
  newNamesIntervalMs: 60_000,
  inFlightPerClient: 8,
  inFlight: 128,
};

/** Which bound refused a lookup: the `reason` of `ambit_waypoint_dns_lookups_refused_total`. */
export type LookupOverflow = 'client-names' | 'client-in-flight' | 'in-flight';

const OVERFLOWS: ReadonlySet<string> = new Set<LookupOverflow>([
  'client-names',
  'client-in-flight',
  'in-flight',
]);

export function isLookupOverflow(reason: string): reason is LookupOverflow {
  return OVERFLOWS.has(reason);
}

/** Who a lookup is charged to, and the labels its refusals are counted with. */
export interface LookupRequester {
  /** What the per-client bounds are kept by. */
  key: string;
  labels: RequesterLabels;
}

export type RequesterLabels = Record<
  'source_workload' | 'source_workload_namespace' | 'source_principal',
  string
>;

/**
 * The requester of a request or connection: keyed by its source identity, as the waypoint's other
 * per-client limits are, else (a downstream client without one, at an ingress gateway) by its address.
 */
export function lookupRequester(
  identity: string | undefined,
  source: { canonicalName: string; namespace: string } | undefined,
  clientIp: string,
): LookupRequester {
  const principal = identity !== undefined && identity !== '' ? identity : undefined;
  return {
    key: principal ?? `ip:${clientIp}`,
    labels: {
      source_workload: source?.canonicalName ?? 'unknown',
      source_workload_namespace: source?.namespace ?? 'unknown',
      source_principal: principal ?? 'unknown',
    },
  };
}

/** What one lookup meets: the counts before it, and whether its name is new to the cache. */
export interface LookupLoad {
  newName: boolean;
  clientInFlight: number;
  inFlight: number;
}

/**
 * Whether a lookup may go: the in-flight bounds first (they cost nothing to check and refuse without
 * spending a token), then, for a new name, the client's bucket (`takeName` spends a token, or says it has
 * none).
 */
export function decideLookup(
  limits: LookupLimits,
  load: LookupLoad,
  takeName: () => boolean,
): LookupOverflow | undefined {
  if (load.inFlight >= limits.inFlight) return 'in-flight';
  if (load.clientInFlight >= limits.inFlightPerClient) return 'client-in-flight';
  if (load.newName && !takeName()) return 'client-names';
  return undefined;
}

/** Clients whose buckets are kept; beyond, the least recently used go (a forgotten bucket starts full). */
const MAX_CLIENTS = 16_384;

export class LookupLimiter {
  readonly #limits: LookupLimits;
  readonly #now: () => number;
  readonly #names: KeyedRateLimiter;
  /** Lookups in flight by client; a client leaves the map when its last one answers. */
  readonly #clientInFlight = new Map<string, number>();
  #inFlight = 0;

  constructor(limits: Partial<LookupLimits> = {}, now: () => number = Date.now) {
    this.#limits = { ...DEFAULT_LOOKUP_LIMITS, ...limits };
    const { newNamesPerClient, newNamesIntervalMs } = this.#limits;
    this.#names = new KeyedRateLimiter(
      { burst: newNamesPerClient, perSecond: (newNamesPerClient * 1000) / newNamesIntervalMs },
      MAX_CLIENTS,
    );
    this.#now = now;
  }

  /**
   * Admits one lookup of `requester`: a release to call once it answered, or the bound that refused it
   * (nothing is held or spent then, beyond the token a refused new name could not take).
   */
  admit(requester: LookupRequester, newName: boolean): { release: () => void } | { refused: LookupOverflow } {
    const { key } = requester;
    const clientInFlight = this.#clientInFlight.get(key) ?? 0;
    const refused = decideLookup(this.#limits, { newName, clientInFlight, inFlight: this.#inFlight }, () =>
      this.#names.take(key, this.#now()),
    );
    if (refused !== undefined) return { refused };
    this.#inFlight++;
    this.#clientInFlight.set(key, clientInFlight + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#inFlight--;
        const left = (this.#clientInFlight.get(key) ?? 1) - 1;
        if (left === 0) this.#clientInFlight.delete(key);
        else this.#clientInFlight.set(key, left);
      },
    };
  }

  /** Lookups in flight now (for tests and admin views). */
  get inFlight(): number {
    return this.#inFlight;
  }
}
