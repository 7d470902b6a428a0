/**
 * What the waypoint knows of the mesh: the last accepted `WaypointSnapshot`, indexed for the questions the
 * request path asks ("which served port is VIP:port?", "which cluster is this name?", "who is at this IP?").
 * Replaced whole on every push, so a request sees one consistent version from start to end.
 */

import { systemClock } from '../core/clock.ts';
import { servedEntries } from '../core/l7/match.ts';
import type {
  Cluster,
  ClusterEndpoint,
  L7AuthorizationPolicy,
  ServedPort,
  ServedService,
} from '../core/l7/types.ts';
import type { Service, WaypointSnapshot, Workload } from '../core/model/index.ts';
import { ClusterBalancer, type EndpointLoad, endpointKey } from './balance/balancer.ts';
import { l4Policies } from './pipeline/l4-policies.ts';
import { OutlierTracker, outlierConfig, servingEndpoints } from './resilience/outlier.ts';

export interface ServedTarget {
  service: ServedService;
  port: ServedPort;
}

export class WaypointState {
  readonly snapshot: WaypointSnapshot;
  readonly #targets = new Map<string, ServedTarget>();
  readonly #clusters = new Map<string, Cluster>();
  readonly #workloadsByIp = new Map<string, Workload>();
  readonly #workloadsByUid = new Map<string, Workload>();
  readonly #externalWorkloads = new Map<string, Workload>();
  readonly #servicesByHostname = new Map<string, Service>();
  readonly #balancers = new Map<string, { balancer: ClusterBalancer; outlierVersion: number }>();
  readonly #load: EndpointLoad;
  readonly outliers: OutlierTracker;
  /** The authorization policies as they apply to traffic proxied as bytes. */
  readonly l4Authorization: L7AuthorizationPolicy[];

  /** `outliers` outlives snapshots, as `load` does (a push must not bring an ejected endpoint back). */
  constructor(snapshot: WaypointSnapshot, load: EndpointLoad, outliers = new OutlierTracker(systemClock)) {
    this.snapshot = snapshot;
    this.#load = load;
    this.outliers = outliers;
    this.l4Authorization = l4Policies(snapshot.authorization);
    // A served workload is indexed as a service whose VIPs are its pod IPs: a pod IP is never a VIP.
    for (const service of servedEntries(snapshot)) {
      for (const port of service.ports) {
        for (const vip of service.vips) this.#targets.set(`${vip}|${port.port}`, { service, port });
        this.#targets.set(`${service.hostname}|${port.port}`, { service, port });
      }
    }
    for (const cluster of snapshot.clusters) this.#clusters.set(cluster.name, cluster);
    for (const workload of snapshot.workloads) {
      this.#workloadsByUid.set(workload.uid, workload);
      for (const ip of workload.ips) this.#workloadsByIp.set(ip, workload);
    }
    for (const service of snapshot.services) this.#servicesByHostname.set(service.hostname, service);
  }

  /** The served service or workload and port a request is addressed to (by VIP, pod IP or hostname). */
  target(host: string, port: number): ServedTarget | undefined {
    return this.#targets.get(`${host}|${port}`);
  }

  cluster(name: string): Cluster | undefined {
    return this.#clusters.get(name);
  }

  /** The cluster of a Service port without subset: where traffic proxied as bytes goes. */
  defaultCluster(hostname: string, port: number): Cluster | undefined {
    for (const cluster of this.snapshot.clusters) {
      if (cluster.hostname === hostname && cluster.port === port && cluster.subset === '') return cluster;
    }
    return undefined;
  }

  /**
   * The cluster's balancer, built on first use and kept for this snapshot's lifetime, or until outlier
   * detection ejects an endpoint or brings one back.
   */
  balancer(cluster: Cluster): ClusterBalancer {
    const outlierVersion = this.outliers.version;
    const cached = this.#balancers.get(cluster.name);
    if (cached !== undefined && cached.outlierVersion === outlierVersion) return cached.balancer;
    const detection = cluster.policy.outlierDetection;
    const balancer =
      detection === undefined
        ? new ClusterBalancer(cluster, this.#load)
        : new ClusterBalancer(cluster, this.#load, Math.random, (ready) =>
            servingEndpoints(
              ready,
              (endpoint) => this.outliers.ejectedUntil(cluster.name, endpointKey(endpoint)) !== undefined,
              outlierConfig(detection).minHealthPercent,
            ),
          );
    this.#balancers.set(cluster.name, { balancer, outlierVersion });
    return balancer;
  }

  workloadByIp(ip: string): Workload | undefined {
    return this.#workloadsByIp.get(ip);
  }

  workloadByUid(uid: string): Workload | undefined {
    return this.#workloadsByUid.get(uid);
  }

  /**
   * Who is at a cluster's endpoint: its pod's workload, or for an address outside the mesh one that names
   * the cluster's host (no identity: it is reached without HBONE), so metrics and logs name the entry.
   */
  endpointWorkload(cluster: Cluster, endpoint: ClusterEndpoint): Workload | undefined {
    if (endpoint.external === undefined) return this.#workloadsByUid.get(endpoint.workloadUid);
    const key = `${cluster.hostname}|${endpoint.ip}`;
    let workload = this.#externalWorkloads.get(key);
    if (workload === undefined) {
      workload = {
        uid: '',
        name: cluster.hostname,
        namespace: this.#servicesByHostname.get(cluster.hostname)?.namespace ?? 'unknown',
        node: '',
        ips: [endpoint.ip],
        serviceAccount: '',
        identity: '',
        labels: {},
        enrolled: false,
        canonicalName: cluster.hostname,
        canonicalRevision: 'latest',
      };
      this.#externalWorkloads.set(key, workload);
    }
    return workload;
  }

  service(hostname: string): Service | undefined {
    return this.#servicesByHostname.get(hostname);
  }
}
