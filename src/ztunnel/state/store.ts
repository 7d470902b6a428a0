/**
 * The ztunnel's state: the accepted resources (workloads, services, policies), indexed for the questions the
 * data path asks per connection ("who is at this IP?", "which service has this VIP?", "which policies select
 * this workload?"). A whole snapshot is validated before it replaces the current one; a delta
 * (`applyChanges`) is validated by what it brings, once, and applied to the indexes of what it touches only,
 * so a change costs the ztunnel in proportion to the change. A refused snapshot or delta changes nothing. The
 * snapshot as a whole (admin, `explain`) is assembled only when asked, and kept until the next change.
 */

import { refuseIfProblems } from '../../core/discovery/refusal.ts';
import type { EndpointChange, NodeSnapshotChanges } from '../../core/discovery/resources.ts';
import type {
  L4Policy,
  NodeSnapshot,
  OutboundTrafficPolicy,
  PeerAuthPolicy,
  Service,
  ServicePort,
  WaypointRef,
  Workload,
} from '../../core/model/index.ts';
import { type CidrBlock, canonicalIp, cidrContains, parseCidr, parseIp } from '../../core/net/ip.ts';
import { policyApplies } from '../../core/policy/scope.ts';
import { type AuthorizationResult, authorize, type ConnectionAttributes } from './authorize.ts';
import { type EffectiveMtlsMode, type MtlsResolution, resolveMtls, resolveMtlsMode } from './peer-auth.ts';
import { changeProblems, snapshotProblems } from './validate.ts';
import { guardingWaypoints } from './waypoint-guard.ts';

/** Told the version of every accepted snapshot or delta (`snapshot` assembles the whole, if needed). */
export type StateListener = (version: string) => void;

const namespaced = (item: { namespace: string; name: string }) => `${item.namespace}/${item.name}`;

function byName<T>(items: Iterable<[string, T]>): T[] {
  return [...items].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, item]) => item);
}

/** `list` with `item` in its place by `key` (lists stay in name order, however they were built). */
function insertSorted<T>(list: T[], item: T, key: (item: T) => string): void {
  const name = key(item);
  let at = list.length;
  while (at > 0 && key(list[at - 1]!) > name) at--;
  list.splice(at, 0, item);
}

export class StateStore {
  #version = '';
  #accepted = false;
  readonly #workloads = new Map<string, Workload>();
  /** By `<namespace>/<name>`, how waypoint references name their service. */
  readonly #services = new Map<string, Service>();
  readonly #policies = new Map<string, L4Policy>();
  readonly #peerAuthentications = new Map<string, PeerAuthPolicy>();
  #trustBundle: string[] = [];
  #outboundTrafficPolicy: OutboundTrafficPolicy | undefined;
  readonly #workloadsByIp = new Map<string, Workload>();
  /** Per node, its workloads by uid. */
  readonly #workloadsByNode = new Map<string, Map<string, Workload>>();
  readonly #servicesByVip = new Map<string, Service>();
  readonly #servicesByHostname = new Map<string, Service>();
  /** The services each workload is an endpoint of, in name order. */
  readonly #servicesByWorkload = new Map<string, Service[]>();
  /** ServiceEntry address ranges (CIDR blocks) by service, for destinations that are no VIP. */
  readonly #entryRanges = new Map<string, { block: CidrBlock; service: Service }[]>();
  /** Per destination workload, the uids of the waypoint instances bound to it (computed on first use). */
  #waypointsByWorkload = new Map<string, ReadonlySet<string>>();
  /** The L4 policies that select each workload (computed on first use). */
  #policiesByWorkload = new Map<string, L4Policy[]>();
  #policyList: L4Policy[] = [];
  #peerAuthList: PeerAuthPolicy[] = [];
  /** The snapshot as a whole, assembled when asked. */
  #snapshot: NodeSnapshot | undefined;
  /** Round-robin cursors per service, kept across snapshots so that a push does not reset the spread. */
  readonly #cursors = new Map<string, number>();
  readonly #listeners = new Set<StateListener>();

  /** Validates and installs a whole snapshot; throws SNAPSHOT_INVALID (the caller NACKs) and keeps the old one. */
  apply(snapshot: NodeSnapshot): void {
    refuseIfProblems(`snapshot ${JSON.stringify(snapshot.version)}`, snapshotProblems(snapshot));
    const replace = <T>(held: ReadonlyMap<string, T>, items: readonly T[], key: (item: T) => string) => {
      const names = new Set(items.map(key));
      return { set: [...items], removed: [...held.keys()].filter((name) => !names.has(name)) };
    };
    this.#install({
      version: snapshot.version,
      workloads: replace(this.#workloads, snapshot.workloads, (workload) => workload.uid),
      services: replace(this.#services, snapshot.services, namespaced),
      policies: replace(this.#policies, snapshot.policies, namespaced),
      peerAuthentications: replace(this.#peerAuthentications, snapshot.peerAuthentications, namespaced),
      trustBundle: snapshot.trustBundle,
      outboundTrafficPolicy: snapshot.outboundTrafficPolicy ?? null,
    });
  }

  /**
   * Validates what a delta brings and applies it to what the store holds; throws SNAPSHOT_INVALID (the caller
   * NACKs) and keeps everything as it was.
   */
  applyChanges(changes: NodeSnapshotChanges): void {
    // An endpoint change to a Service the store does not hold is that Service set whole (checked whole).
    const orphans = (changes.serviceEndpoints ?? []).filter(
      ({ service }) => !this.#services.has(namespaced(service)),
    );
    const checked =
      orphans.length === 0
        ? changes
        : {
            ...changes,
            services: {
              set: [...changes.services.set, ...orphans.map(({ service }) => service)],
              removed: changes.services.removed,
            },
            serviceEndpoints: changes.serviceEndpoints!.filter((change) => !orphans.includes(change)),
          };
    refuseIfProblems(`delta ${JSON.stringify(changes.version)}`, changeProblems(checked));
    this.#install(checked);
  }

  #install(changes: NodeSnapshotChanges): void {
    for (const uid of changes.workloads.removed) this.#unindexWorkload(uid);
    for (const workload of changes.workloads.set) {
      this.#unindexWorkload(workload.uid);
      this.#indexWorkload(workload);
    }
    for (const name of changes.services.removed) this.#unindexService(name);
    for (const service of changes.services.set) {
      const name = namespaced(service);
      this.#unindexService(name);
      this.#indexService(name, service);
    }
    const endpointChanges = changes.serviceEndpoints ?? [];
    for (const change of endpointChanges) this.#replaceEndpoints(change);
    const policiesChanged = changes.policies.set.length + changes.policies.removed.length > 0;
    for (const name of changes.policies.removed) this.#policies.delete(name);
    for (const policy of changes.policies.set) this.#policies.set(namespaced(policy), policy);
    if (policiesChanged) this.#policyList = byName(this.#policies);
    if (changes.peerAuthentications.set.length + changes.peerAuthentications.removed.length > 0) {
      for (const name of changes.peerAuthentications.removed) this.#peerAuthentications.delete(name);
      for (const policy of changes.peerAuthentications.set)
        this.#peerAuthentications.set(namespaced(policy), policy);
      this.#peerAuthList = byName(this.#peerAuthentications);
    }
    if (changes.trustBundle !== undefined) this.#trustBundle = changes.trustBundle;
    if (changes.outboundTrafficPolicy !== undefined)
      this.#outboundTrafficPolicy = changes.outboundTrafficPolicy ?? undefined;
    // Lazy answers follow what changed: policies by workload, waypoints by workload (any service or workload).
    if (policiesChanged) this.#policiesByWorkload = new Map();
    else for (const workload of changes.workloads.set) this.#policiesByWorkload.delete(workload.uid);
    if (
      changes.services.set.length +
        changes.services.removed.length +
        endpointChanges.length +
        changes.workloads.removed.length >
      0
    )
      this.#waypointsByWorkload = new Map();
    else for (const workload of changes.workloads.set) this.#waypointsByWorkload.delete(workload.uid);
    this.#version = changes.version;
    this.#accepted = true;
    this.#snapshot = undefined;
    for (const listener of this.#listeners) listener(changes.version);
  }

  #indexWorkload(workload: Workload): void {
    this.#workloads.set(workload.uid, workload);
    for (const ip of workload.ips) this.#workloadsByIp.set(canonicalIp(ip) ?? ip, workload);
    let onNode = this.#workloadsByNode.get(workload.node);
    if (!onNode) {
      onNode = new Map();
      this.#workloadsByNode.set(workload.node, onNode);
    }
    onNode.set(workload.uid, workload);
  }

  #unindexWorkload(uid: string): void {
    const workload = this.#workloads.get(uid);
    if (!workload) return;
    this.#workloads.delete(uid);
    for (const ip of workload.ips) {
      const key = canonicalIp(ip) ?? ip;
      if (this.#workloadsByIp.get(key) === workload) this.#workloadsByIp.delete(key);
    }
    const onNode = this.#workloadsByNode.get(workload.node);
    onNode?.delete(uid);
    if (onNode?.size === 0) this.#workloadsByNode.delete(workload.node);
  }

  #indexService(name: string, service: Service): void {
    this.#services.set(name, service);
    for (const vip of service.vips) this.#servicesByVip.set(canonicalIp(vip) ?? vip, service);
    this.#servicesByHostname.set(service.hostname.toLowerCase(), service);
    const ranges = (service.serviceEntry?.ranges ?? []).flatMap((range) => {
      const block = parseCidr(range);
      return block ? [{ block, service }] : [];
    });
    if (ranges.length > 0) this.#entryRanges.set(name, ranges);
    for (const endpoint of service.endpoints) {
      const services = this.#servicesByWorkload.get(endpoint.workloadUid);
      if (services === undefined) this.#servicesByWorkload.set(endpoint.workloadUid, [service]);
      else if (!services.includes(service)) insertSorted(services, service, namespaced);
    }
  }

  #unindexService(name: string): void {
    const service = this.#services.get(name);
    if (!service) return;
    this.#services.delete(name);
    for (const vip of service.vips) {
      const key = canonicalIp(vip) ?? vip;
      if (this.#servicesByVip.get(key) === service) this.#servicesByVip.delete(key);
    }
    const hostname = service.hostname.toLowerCase();
    if (this.#servicesByHostname.get(hostname) === service) this.#servicesByHostname.delete(hostname);
    this.#entryRanges.delete(name);
    for (const endpoint of service.endpoints) {
      const services = this.#servicesByWorkload.get(endpoint.workloadUid);
      if (!services) continue;
      const at = services.indexOf(service);
      if (at >= 0) services.splice(at, 1);
      if (services.length === 0) this.#servicesByWorkload.delete(endpoint.workloadUid);
    }
  }

  /**
   * A held Service replaced by the same spec with other endpoints: the indexes of its spec point at the new
   * object, and those by workload change for the endpoints that came and went; the rest keep their place.
   */
  #replaceEndpoints({ service, removed }: EndpointChange): void {
    const name = namespaced(service);
    const old = this.#services.get(name)!;
    this.#services.set(name, service);
    for (const vip of service.vips) {
      const key = canonicalIp(vip) ?? vip;
      if (this.#servicesByVip.get(key) === old) this.#servicesByVip.set(key, service);
    }
    const hostname = service.hostname.toLowerCase();
    if (this.#servicesByHostname.get(hostname) === old) this.#servicesByHostname.set(hostname, service);
    const ranges = this.#entryRanges.get(name);
    if (ranges !== undefined)
      this.#entryRanges.set(
        name,
        ranges.map(({ block }) => ({ block, service })),
      );
    for (const endpoint of removed) {
      const services = this.#servicesByWorkload.get(endpoint.workloadUid);
      const at = services?.indexOf(old) ?? -1;
      if (at >= 0) services!.splice(at, 1);
      if (services?.length === 0) this.#servicesByWorkload.delete(endpoint.workloadUid);
    }
    for (const endpoint of service.endpoints) {
      const services = this.#servicesByWorkload.get(endpoint.workloadUid);
      if (services === undefined) {
        this.#servicesByWorkload.set(endpoint.workloadUid, [service]);
        continue;
      }
      const at = services.indexOf(old);
      if (at >= 0) services[at] = service;
      else if (!services.includes(service)) insertSorted(services, service, namespaced);
    }
  }

  /** Called after every accepted snapshot or delta; returns an unsubscribe function. */
  subscribe(listener: StateListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The whole accepted state as one snapshot (lists in name order), assembled on first use after a change. */
  get snapshot(): NodeSnapshot {
    this.#snapshot ??= {
      version: this.#version,
      workloads: byName(this.#workloads),
      services: byName(this.#services),
      policies: this.#policyList,
      peerAuthentications: this.#peerAuthList,
      trustBundle: this.#trustBundle,
      ...(this.#outboundTrafficPolicy !== undefined
        ? { outboundTrafficPolicy: this.#outboundTrafficPolicy }
        : {}),
    };
    return this.#snapshot;
  }

  get version(): string {
    return this.#version;
  }

  /** Whether any snapshot has been accepted yet (readiness). */
  get hasSnapshot(): boolean {
    return this.#accepted;
  }

  get trustBundle(): readonly string[] {
    return this.#trustBundle;
  }

  /** How many workloads, services and policies the store holds (for logs, without assembling the snapshot). */
  get counts(): { workloads: number; services: number; policies: number } {
    return { workloads: this.#workloads.size, services: this.#services.size, policies: this.#policies.size };
  }

  workloadByUid(uid: string): Workload | undefined {
    return this.#workloads.get(uid);
  }

  workloadByIp(ip: string): Workload | undefined {
    return this.#workloadsByIp.get(canonicalIp(ip) ?? ip);
  }

  workloadsOnNode(node: string): readonly Workload[] {
    return byName(this.#workloadsByNode.get(node) ?? new Map<string, Workload>());
  }

  serviceByVip(ip: string): Service | undefined {
    return this.#servicesByVip.get(canonicalIp(ip) ?? ip);
  }

  /** The ServiceEntry service whose address ranges (CIDR `addresses`) hold `ip`, if any. */
  serviceEntryByRange(ip: string): Service | undefined {
    const address = parseIp(ip);
    if (!address) return undefined;
    for (const ranges of this.#entryRanges.values()) {
      const found = ranges.find(({ block }) => cidrContains(block, address));
      if (found) return found.service;
    }
    return undefined;
  }

  /** What to do with destinations outside the registry (the mesh config; ALLOW_ANY by default). */
  get outboundTrafficPolicy(): OutboundTrafficPolicy {
    return this.#outboundTrafficPolicy ?? 'ALLOW_ANY';
  }

  serviceByHostname(hostname: string): Service | undefined {
    return this.#servicesByHostname.get(hostname.toLowerCase());
  }

  /**
   * The service whose VIPs the DNS proxy answers for `name`: its own, else the most specific wildcard host
   * above it that has VIPs (`*.b.example.com`, then `*.example.com`), as Istio's DNS proxy expands them.
   */
  serviceForDnsName(name: string): Service | undefined {
    const lower = name.toLowerCase();
    const exact = this.#servicesByHostname.get(lower);
    if (exact !== undefined) return exact;
    for (let dot = lower.indexOf('.'); dot >= 0; dot = lower.indexOf('.', dot + 1)) {
      const wildcard = this.#servicesByHostname.get(`*${lower.slice(dot)}`);
      if (wildcard !== undefined && wildcard.vips.length > 0) return wildcard;
    }
    return undefined;
  }

  /**
   * Whether `peer` is an instance of a waypoint bound to `destination`: the destination workload's own or
   * one of its services'. Only such a peer may speak for the original client (`forwarded`); any other
   * workload, a waypoint of something else included, is the client itself.
   */
  isWaypointFor(peer: Workload, destination: Workload): boolean {
    let waypoints = this.#waypointsByWorkload.get(destination.uid);
    if (waypoints === undefined) {
      const refs = [destination, ...(this.#servicesByWorkload.get(destination.uid) ?? [])].flatMap((x) =>
        x.waypoint ? [x.waypoint] : [],
      );
      const uids = new Set<string>();
      for (const ref of refs) {
        for (const endpoint of this.waypointService(ref)?.endpoints ?? []) uids.add(endpoint.workloadUid);
      }
      waypoints = uids;
      this.#waypointsByWorkload.set(destination.uid, waypoints);
    }
    return waypoints.has(peer.uid);
  }

  /**
   * The waypoint that a connection to `destination` on `port` from `peer` goes around, if it does: the
   * port is bound to waypoints (see waypoint-guard.ts) and the peer is an instance of none of them.
   */
  bypassedWaypoint(peer: Workload | undefined, destination: Workload, port: number): WaypointRef | undefined {
    const refs = guardingWaypoints(destination, this.#servicesByWorkload.get(destination.uid) ?? [], port);
    if (refs.length === 0) return undefined;
    const isInstance = (ref: WaypointRef) =>
      peer !== undefined &&
      (this.waypointService(ref)?.endpoints.some((endpoint) => endpoint.workloadUid === peer.uid) ?? false);
    return refs.some(isInstance) ? undefined : refs[0];
  }

  /** The L4 policies that select the workload (computed once per workload until it or a policy changes). */
  policiesFor(workload: Workload): readonly L4Policy[] {
    let policies = this.#policiesByWorkload.get(workload.uid);
    if (policies === undefined) {
      policies = this.#policyList.filter((policy) => policyApplies(policy, workload));
      this.#policiesByWorkload.set(workload.uid, policies);
    }
    return policies;
  }

  authorize(workload: Workload, connection: ConnectionAttributes): AuthorizationResult {
    return authorize(this.policiesFor(workload), workload, connection);
  }

  mtlsMode(workload: Workload, port: number): EffectiveMtlsMode {
    return resolveMtlsMode(this.#peerAuthList, workload, port);
  }

  /** The mode with the PeerAuthentication that set it and those that apply (for explain and the dashboard). */
  mtlsResolution(workload: Workload, port: number): MtlsResolution {
    return resolveMtls(this.#peerAuthList, workload, port);
  }

  get peerAuthentications(): readonly PeerAuthPolicy[] {
    return this.#peerAuthList;
  }

  /** The service a waypoint reference names. */
  waypointService(ref: WaypointRef): Service | undefined {
    return this.#services.get(`${ref.namespace}/${ref.name}`);
  }

  /**
   * One ready endpoint of the service, round robin, with the service port mapped to its target port.
   * Undefined when the port is not a port of the service or no endpoint is ready.
   */
  pickEndpoint(service: Service, port: number): PickedEndpoint | undefined {
    const servicePort = service.ports.find((p) => p.port === port);
    if (!servicePort) return undefined;
    return this.#pickReady(service, servicePort);
  }

  /** A ready waypoint instance for the reference, round robin. */
  pickWaypoint(ref: WaypointRef): PickedEndpoint | undefined {
    const service = this.waypointService(ref);
    if (!service) return undefined;
    return this.#pickReady(service, undefined);
  }

  #pickReady(service: Service, servicePort: ServicePort | undefined): PickedEndpoint | undefined {
    const ready = service.endpoints.filter((endpoint) => endpoint.ready);
    if (ready.length === 0) return undefined;
    const key = `${service.namespace}/${service.name}`;
    const cursor = this.#cursors.get(key) ?? 0;
    this.#cursors.set(key, (cursor + 1) % 0x7fffffff);
    const endpoint = ready[cursor % ready.length]!;
    const targetPort = servicePort
      ? (endpoint.targetPorts?.[servicePort.port] ?? (servicePort.targetPort || servicePort.port))
      : 0;
    return { ip: endpoint.ip, port: targetPort, workload: this.workloadByUid(endpoint.workloadUid) };
  }

  /**
   * Resolves once the workload is in the config (new pods may be captured before their config arrives);
   * undefined after `timeoutMs`.
   */
  waitForWorkload(uid: string, timeoutMs: number): Promise<Workload | undefined> {
    const known = this.workloadByUid(uid);
    if (known || timeoutMs <= 0) return Promise.resolve(known);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        unsubscribe();
        resolve(undefined);
      }, timeoutMs);
      const unsubscribe = this.subscribe(() => {
        const workload = this.workloadByUid(uid);
        if (!workload) return;
        clearTimeout(timer);
        unsubscribe();
        resolve(workload);
      });
    });
  }
}

export interface PickedEndpoint {
  ip: string;
  /** The target port (0 when picking a waypoint instance: the caller uses the HBONE port). */
  port: number;
  workload: Workload | undefined;
}
