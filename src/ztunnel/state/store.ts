/**
 * The ztunnel's state: the last accepted `NodeSnapshot`, indexed for the questions the data path asks per
 * connection ("who is at this IP?", "which service has this VIP?", "which policies select this workload?").
 * A snapshot is validated as a whole before it replaces the current one; a refused snapshot changes nothing.
 */
import { refuseIfProblems } from '../../core/discovery/refusal.ts';
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
import { snapshotProblems } from './validate.ts';
import { guardingWaypoints } from './waypoint-guard.ts';

interface Indexes {
  snapshot: NodeSnapshot;
  workloadsByUid: Map<string, Workload>;
  workloadsByIp: Map<string, Workload>;
  workloadsByNode: Map<string, Workload[]>;
  servicesByVip: Map<string, Service>;
  servicesByHostname: Map<string, Service>;
  /** `<namespace>/<name>`, how waypoint references name their service. */
  servicesByName: Map<string, Service>;
  /** The services each workload is an endpoint of. */
  servicesByWorkload: Map<string, Service[]>;
  /** Per destination workload, the uids of the waypoint instances bound to it (computed on first use). */
  waypointsByWorkload: Map<string, ReadonlySet<string>>;
  policiesByWorkload: Map<string, L4Policy[]>;
  /** ServiceEntry address ranges (CIDR blocks), for destinations that are no VIP. */
  entryRanges: { block: CidrBlock; service: Service }[];
}

export type StateListener = (snapshot: NodeSnapshot) => void;

const EMPTY_SNAPSHOT: NodeSnapshot = {
  version: '',
  workloads: [],
  services: [],
  policies: [],
  peerAuthentications: [],
  trustBundle: [],
};

export class StateStore {
  #state: Indexes = buildIndexes(EMPTY_SNAPSHOT);
  #accepted = false;
  /** Round-robin cursors per service, kept across snapshots so that a push does not reset the spread. */
  readonly #cursors = new Map<string, number>();
  readonly #listeners = new Set<StateListener>();

  /** Validates and installs a snapshot; throws SNAPSHOT_INVALID (the caller NACKs) and keeps the old one. */
  apply(snapshot: NodeSnapshot): void {
    refuseIfProblems(`snapshot ${JSON.stringify(snapshot.version)}`, snapshotProblems(snapshot));
    this.#state = buildIndexes(snapshot);
    this.#accepted = true;
    for (const listener of this.#listeners) listener(snapshot);
  }

  /** Called after every accepted snapshot; returns an unsubscribe function. */
  subscribe(listener: StateListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get snapshot(): NodeSnapshot {
    return this.#state.snapshot;
  }

  get version(): string {
    return this.#state.snapshot.version;
  }

  /** Whether any snapshot has been accepted yet (readiness). */
  get hasSnapshot(): boolean {
    return this.#accepted;
  }

  workloadByUid(uid: string): Workload | undefined {
    return this.#state.workloadsByUid.get(uid);
  }

  workloadByIp(ip: string): Workload | undefined {
    return this.#state.workloadsByIp.get(canonicalIp(ip) ?? ip);
  }

  workloadsOnNode(node: string): readonly Workload[] {
    return this.#state.workloadsByNode.get(node) ?? [];
  }

  serviceByVip(ip: string): Service | undefined {
    return this.#state.servicesByVip.get(canonicalIp(ip) ?? ip);
  }

  /** The ServiceEntry service whose address ranges (CIDR `addresses`) hold `ip`, if any. */
  serviceEntryByRange(ip: string): Service | undefined {
    const address = parseIp(ip);
    if (!address) return undefined;
    return this.#state.entryRanges.find(({ block }) => cidrContains(block, address))?.service;
  }

  /** What to do with destinations outside the registry (the mesh config; ALLOW_ANY by default). */
  get outboundTrafficPolicy(): OutboundTrafficPolicy {
    return this.#state.snapshot.outboundTrafficPolicy ?? 'ALLOW_ANY';
  }

  serviceByHostname(hostname: string): Service | undefined {
    return this.#state.servicesByHostname.get(hostname.toLowerCase());
  }

  /**
   * Whether `peer` is an instance of a waypoint bound to `destination`: the destination workload's own or
   * one of its services'. Only such a peer may speak for the original client (`forwarded`); any other
   * workload, a waypoint of something else included, is the client itself.
   */
  isWaypointFor(peer: Workload, destination: Workload): boolean {
    const state = this.#state;
    let waypoints = state.waypointsByWorkload.get(destination.uid);
    if (waypoints === undefined) {
      const refs = [destination, ...(state.servicesByWorkload.get(destination.uid) ?? [])].flatMap((x) =>
        x.waypoint ? [x.waypoint] : [],
      );
      const uids = new Set<string>();
      for (const ref of refs) {
        for (const endpoint of this.waypointService(ref)?.endpoints ?? []) uids.add(endpoint.workloadUid);
      }
      waypoints = uids;
      state.waypointsByWorkload.set(destination.uid, waypoints);
    }
    return waypoints.has(peer.uid);
  }

  /**
   * The waypoint that a connection to `destination` on `port` from `peer` goes around, if it does: the
   * port is bound to waypoints (see waypoint-guard.ts) and the peer is an instance of none of them.
   */
  bypassedWaypoint(peer: Workload | undefined, destination: Workload, port: number): WaypointRef | undefined {
    const refs = guardingWaypoints(
      destination,
      this.#state.servicesByWorkload.get(destination.uid) ?? [],
      port,
    );
    if (refs.length === 0) return undefined;
    const isInstance = (ref: WaypointRef) =>
      peer !== undefined &&
      (this.waypointService(ref)?.endpoints.some((endpoint) => endpoint.workloadUid === peer.uid) ?? false);
    return refs.some(isInstance) ? undefined : refs[0];
  }

  /** The L4 policies that select the workload (computed once per workload per snapshot). */
  policiesFor(workload: Workload): readonly L4Policy[] {
    const state = this.#state;
    let policies = state.policiesByWorkload.get(workload.uid);
    if (policies === undefined) {
      policies = state.snapshot.policies.filter((policy) => policyApplies(policy, workload));
      state.policiesByWorkload.set(workload.uid, policies);
    }
    return policies;
  }

  authorize(workload: Workload, connection: ConnectionAttributes): AuthorizationResult {
    return authorize(this.policiesFor(workload), workload, connection);
  }

  mtlsMode(workload: Workload, port: number): EffectiveMtlsMode {
    return resolveMtlsMode(this.#state.snapshot.peerAuthentications, workload, port);
  }

  /** The mode with the PeerAuthentication that set it and those that apply (for explain and the dashboard). */
  mtlsResolution(workload: Workload, port: number): MtlsResolution {
    return resolveMtls(this.#state.snapshot.peerAuthentications, workload, port);
  }

  get peerAuthentications(): readonly PeerAuthPolicy[] {
    return this.#state.snapshot.peerAuthentications;
  }

  /** The service a waypoint reference names. */
  waypointService(ref: WaypointRef): Service | undefined {
    return this.#state.servicesByName.get(`${ref.namespace}/${ref.name}`);
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

function buildIndexes(snapshot: NodeSnapshot): Indexes {
  const indexes: Indexes = {
    snapshot,
    workloadsByUid: new Map(),
    workloadsByIp: new Map(),
    workloadsByNode: new Map(),
    servicesByVip: new Map(),
    servicesByHostname: new Map(),
    servicesByName: new Map(),
    servicesByWorkload: new Map(),
    waypointsByWorkload: new Map(),
    policiesByWorkload: new Map(),
    entryRanges: [],
  };
  for (const workload of snapshot.workloads) {
    indexes.workloadsByUid.set(workload.uid, workload);
    for (const ip of workload.ips) indexes.workloadsByIp.set(canonicalIp(ip) ?? ip, workload);
    const onNode = indexes.workloadsByNode.get(workload.node);
    if (onNode) onNode.push(workload);
    else indexes.workloadsByNode.set(workload.node, [workload]);
  }
  for (const service of snapshot.services) {
    for (const vip of service.vips) indexes.servicesByVip.set(canonicalIp(vip) ?? vip, service);
    indexes.servicesByHostname.set(service.hostname.toLowerCase(), service);
    for (const range of service.serviceEntry?.ranges ?? []) {
      const block = parseCidr(range);
      if (block) indexes.entryRanges.push({ block, service });
    }
    indexes.servicesByName.set(`${service.namespace}/${service.name}`, service);
    for (const endpoint of service.endpoints) {
      const services = indexes.servicesByWorkload.get(endpoint.workloadUid);
      if (services === undefined) indexes.servicesByWorkload.set(endpoint.workloadUid, [service]);
      else if (!services.includes(service)) services.push(service);
    }
  }
  return indexes;
}
