/**
 * A cluster's load balancer: the cluster's ready endpoints and its policy, with the state a policy needs
 * (the round-robin counter, the built ring or Maglev table). Built once per cluster per snapshot; the
 * requests-in-flight counts that least request reads live in `EndpointLoad`, which outlives snapshots.
 */
import type { Cluster, ClusterEndpoint } from '../../core/l7/types.ts';
import { buildMaglevTable, maglevLookup } from './maglev.ts';
import { leastRequestIndex, randomIndex, roundRobinIndex } from './pick.ts';
import { buildRing, type HashRing, ringLookup } from './ring-hash.ts';

/** Requests in flight per endpoint (`ip:port`), shared by every cluster that reaches the endpoint. */
export class EndpointLoad {
  readonly #active = new Map<string, number>();

  get(key: string): number {
    return this.#active.get(key) ?? 0;
  }

  /** Counts a request on `key` until the returned function is called (once). */
  begin(key: string): () => void {
    this.#active.set(key, this.get(key) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const left = this.get(key) - 1;
      if (left <= 0) this.#active.delete(key);
      else this.#active.set(key, left);
    };
  }
}

export function endpointKey(endpoint: ClusterEndpoint): string {
  // A hostname endpoint has no address until dialled: its name tells it apart.
  return `${endpoint.external?.resolve?.hostname ?? endpoint.ip}:${endpoint.port}`;
}

export interface PickInput {
  /** The request's consistent-hash value, when the policy hashes and the request has the key. */
  hash?: number | undefined;
  random: () => number;
}

export class ClusterBalancer {
  readonly cluster: Cluster;
  readonly ready: readonly ClusterEndpoint[];
  readonly #load: EndpointLoad;
  readonly #keys: string[];
  #counter = 0;
  readonly #activeAt = (index: number) => this.#load.get(this.#keys[index]!);
  #ring: HashRing | undefined;
  #maglev: Int32Array | undefined;

  /**
   * `serving` narrows the ready endpoints (outlier detection takes out the ejected ones); the balancer is
   * rebuilt when its answer changes.
   */
  constructor(
    cluster: Cluster,
    load: EndpointLoad,
    random: () => number = Math.random,
    serving: (ready: ClusterEndpoint[]) => ClusterEndpoint[] = (ready) => ready,
  ) {
    this.cluster = cluster;
    this.#load = load;
    // Sorted, so that every waypoint replica builds the same ring from the same endpoints.
    this.ready = serving(cluster.endpoints.filter((endpoint) => endpoint.ready)).sort(compareEndpoints);
    this.#keys = this.ready.map(endpointKey);
    // Start round robin at a random place, as Envoy does, so that replicas do not move in step.
    this.#counter = Math.floor(random() * Math.max(1, this.ready.length));
  }

  pick(input: PickInput): ClusterEndpoint | undefined {
    const count = this.ready.length;
    if (count === 0) return undefined;
    const policy = this.cluster.policy.loadBalancer;
    let index: number | undefined;
    switch (policy.kind) {
      case 'ROUND_ROBIN':
        index = roundRobinIndex(count, this.#counter++);
        break;
      case 'RANDOM':
      case 'PASSTHROUGH':
        index = randomIndex(count, input.random());
        break;
      case 'LEAST_REQUEST':
        index = leastRequestIndex(count, this.#activeAt, input.random(), input.random());
        break;
      case 'consistentHash':
        if (input.hash === undefined) index = randomIndex(count, input.random());
        else if (policy.table.kind === 'maglev') {
          this.#maglev ??= buildMaglevTable(this.#keys, policy.table.tableSize);
          index = maglevLookup(this.#maglev, input.hash);
        } else {
          this.#ring ??= buildRing(this.#keys, policy.table.minimumRingSize);
          index = ringLookup(this.#ring, input.hash);
        }
        break;
    }
    return index === undefined ? undefined : this.ready[index];
  }
}

function compareEndpoints(a: ClusterEndpoint, b: ClusterEndpoint): number {
  return a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : a.port - b.port;
}
