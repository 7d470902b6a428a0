/**
 * How snapshots travel: each snapshot is a set of named, typed resources (one per workload, service,
 * policy...), each encoded once as JSON and versioned by a hash of that encoding. The control plane sends
 * only resources whose version the client does not hold, and names the ones it should drop; the client
 * reassembles the snapshot. Shared by both ends so that they cannot disagree.
 */
import { hash } from 'node:crypto';
import { AmbitError } from '../errors.ts';
import { ROUTE_TABLE_FORMAT } from '../l7/types.ts';
import type {
  Endpoint,
  L4Policy,
  NodeSnapshot,
  OutboundTrafficPolicy,
  PeerAuthPolicy,
  Service,
  WaypointRef,
  WaypointSnapshot,
  Workload,
} from '../model/index.ts';

export type SubscriberKind = 'ztunnel' | 'waypoint';

export type AnySnapshot = NodeSnapshot | WaypointSnapshot;

/** A resource as the client holds it and the server tracks it. */
export interface EncodedResource {
  type: string;
  name: string;
  version: string;
  body: Buffer;
}

export interface ResourceItem {
  type: string;
  name: string;
  value: unknown;
}

/** The single resource that carries the trust bundle. */
export const TRUST_BUNDLE_TYPE = 'trustbundle';
const TRUST_BUNDLE_NAME = 'roots';
const GATEWAY_TYPE = 'gateway';
/** A waypoint's resolved telemetry (`core/observe/telemetry-config.ts`), one resource; its format is in the type. */
const TELEMETRY_TYPE = 'telemetry.v1';
const TELEMETRY_NAME = 'proxy';
/** A ztunnel's mesh-wide settings (the mesh config's outboundTrafficPolicy), one resource. */
const MESH_SETTINGS_TYPE = 'meshsettings';
const MESH_SETTINGS_NAME = 'mesh';
const OUTBOUND_POLICIES: readonly string[] = ['ALLOW_ANY', 'REGISTRY_ONLY'];

interface Named {
  name: string;
  namespace: string;
}

const namespaced = (item: Named) => `${item.namespace}/${item.name}`;

/** The resource type of a workload. */
export const WORKLOAD_TYPE = 'workload';

const workloadList = {
  type: WORKLOAD_TYPE,
  field: 'workloads',
  name: (item: { uid: string }) => item.uid,
} as const;
/** The resource type of a Service. */
export const SERVICE_TYPE = 'service';
const serviceList = { type: SERVICE_TYPE, field: 'services', name: namespaced } as const;

/**
 * Which lists of a snapshot become which resource types, and each item's name. Workloads and services (with
 * the trust bundle) are the same in every subscriber's view: the control plane encodes and diffs them once
 * for all (`sharedResources`); the rest is each subscriber's own.
 */
const OWN_LISTS = {
  ztunnel: [
    { type: 'policy', field: 'policies', name: namespaced },
    { type: 'peerauth', field: 'peerAuthentications', name: namespaced },
  ],
  waypoint: [
    // The compiled route table; its format version is part of each type name, so a waypoint that does not
    // know a format NACKs it (unknown resource type) instead of misreading it.
    { type: `l7.${ROUTE_TABLE_FORMAT}.service`, field: 'servedServices', name: namespaced },
    {
      type: `l7.${ROUTE_TABLE_FORMAT}.workload`,
      field: 'servedWorkloads',
      name: (item: { uid: string }) => item.uid,
    },
    {
      type: `l7.${ROUTE_TABLE_FORMAT}.cluster`,
      field: 'clusters',
      name: (item: { name: string }) => item.name,
    },
    { type: `l7.${ROUTE_TABLE_FORMAT}.authorization`, field: 'authorization', name: namespaced },
    {
      type: `l7.${ROUTE_TABLE_FORMAT}.listener`,
      field: 'listeners',
      name: (item: { name: string }) => item.name,
    },
  ],
} as const;

const LISTS = {
  ztunnel: [workloadList, serviceList, ...OWN_LISTS.ztunnel],
  waypoint: [workloadList, serviceList, ...OWN_LISTS.waypoint],
} as const;

/** The part of every view that all subscribers share. */
export interface SharedView {
  workloads: readonly unknown[];
  services: readonly unknown[];
  trustBundle: readonly string[];
}

export function resourceKey(type: string, name: string): string {
  return `${type}/${name}`;
}

export function encodeResource(item: ResourceItem): EncodedResource {
  const body = Buffer.from(JSON.stringify(item.value));
  return { type: item.type, name: item.name, version: hash('sha1', body, 'base64url'), body };
}

function listResources(
  lists: readonly { type: string; field: string; name: unknown }[],
  view: object,
  items: ResourceItem[],
): void {
  const record = view as Record<string, unknown>;
  for (const list of lists) {
    // A list the view lacks (an optional one, `servedWorkloads`) has no resources.
    for (const value of (record[list.field] as unknown[] | undefined) ?? []) {
      items.push({ type: list.type, name: (list.name as (item: unknown) => string)(value), value });
    }
  }
}

/** Workloads as resources (a ztunnel's own node's workloads, which override the shared remote forms). */
export function workloadResources(workloads: readonly unknown[]): ResourceItem[] {
  const items: ResourceItem[] = [];
  listResources([workloadList], { workloads }, items);
  return items;
}

/** The resources every subscriber's view holds alike: workloads, services and the trust bundle. */
export function sharedResources(view: SharedView): ResourceItem[] {
  const items: ResourceItem[] = [];
  listResources([workloadList], view, items);
  for (const service of view.services as Service[]) items.push(...serviceResources(service));
  items.push(trustBundleResource(view.trustBundle));
  return items;
}

/**
 * Endpoint shards: a large Service travels as its spec (`endpoints` empty, `endpointShards` their count)
 * and that many `endpoints` resources (`<namespace>/<name>#<i>`), each the endpoints of the workloads whose
 * uid hashes to it, so that a pod that comes, goes or changes resends its shard and not the whole Service.
 * The count is a power of two that grows with the endpoints (about `SHARD_ENDPOINTS` to a shard), so a pod
 * keeps its shard until the Service doubles or halves. The client joins the shards back (`joinService`):
 * in shard order, then stably by workload uid, which gives back the Service's own order, since only a
 * Service whose endpoints are in uid order is sharded (every one that selects pods).
 */
export const ENDPOINTS_TYPE = 'endpoints';
const SHARD_ENDPOINTS = 16;

/** A Service as the wire carries a sharded one: `endpointShards` tells how many shards to join. */
type ServiceSpec = Service & { endpointShards?: number };

interface EndpointShard {
  endpoints: Endpoint[];
}

const byWorkloadUid = (a: Endpoint, b: Endpoint) =>
  a.workloadUid < b.workloadUid ? -1 : a.workloadUid > b.workloadUid ? 1 : 0;

/** How many shards a Service's endpoints travel in (1: in the Service itself, not sharded). */
export function endpointShardCount(service: Service): number {
  const { endpoints } = service;
  if (endpoints.length <= 2 * SHARD_ENDPOINTS) return 1;
  for (let i = 1; i < endpoints.length; i++)
    if (endpoints[i - 1]!.workloadUid > endpoints[i]!.workloadUid) return 1;
  return 2 ** Math.ceil(Math.log2(endpoints.length / SHARD_ENDPOINTS));
}

/** FNV-1a of a workload uid: which shard its endpoints go to. */
function shardOf(uid: string, shards: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < uid.length; i++) hash = Math.imul(hash ^ uid.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % shards;
}

export function endpointShardName(serviceName: string, shard: number): string {
  return `${serviceName}#${shard}`;
}

/** A Service as its resources: itself, or (large) its spec and its endpoint shards. */
export function serviceResources(service: Service): ResourceItem[] {
  const name = namespaced(service);
  const shards = endpointShardCount(service);
  if (shards === 1) return [{ type: SERVICE_TYPE, name, value: service }];
  const split: EndpointShard[] = Array.from({ length: shards }, () => ({ endpoints: [] }));
  for (const endpoint of service.endpoints)
    split[shardOf(endpoint.workloadUid, shards)]!.endpoints.push(endpoint);
  const spec: ServiceSpec = { ...service, endpoints: [], endpointShards: shards };
  return [
    { type: SERVICE_TYPE, name, value: spec },
    ...split.map((value, i) => ({ type: ENDPOINTS_TYPE, name: endpointShardName(name, i), value })),
  ];
}

/**
 * The Service a received spec stands for, its shards joined (`shard` looks one up by resource name); a
 * Service sent whole is itself. Throws (NACK) when a shard is missing.
 */
export function joinService(spec: ServiceSpec, shard: (name: string) => ResourceItem | undefined): Service {
  const { endpointShards, ...service } = spec;
  if (endpointShards === undefined) return spec;
  const name = namespaced(spec);
  const endpoints: Endpoint[] = [];
  for (let i = 0; i < endpointShards; i++) {
    const item = shard(endpointShardName(name, i));
    if (item === undefined) throw new ResourceError(`service ${name}: endpoint shard ${i} is missing`);
    endpoints.push(...(item.value as EndpointShard).endpoints);
  }
  endpoints.sort(byWorkloadUid);
  return { ...service, endpoints };
}

/** Whether a resource of `type` is an endpoint shard, what `serviceOfShard` names the Service of. */
export const isEndpointShard = (type: string) => type === ENDPOINTS_TYPE;

function serviceOfShard(name: string): string {
  return name.slice(0, name.lastIndexOf('#'));
}

/**
 * A sharded Service whose spec the client already held, as the endpoint shards that changed make it: the
 * joined Service with those shards' endpoints replaced, and the endpoints that came and went, so that a
 * store checks and indexes those alone instead of the whole Service again.
 */
export interface EndpointChange {
  service: Service;
  added: readonly Endpoint[];
  removed: readonly Endpoint[];
}

/**
 * `base` (a joined Service) with the endpoints of the workloads in `gone` dropped and `added` merged in, in
 * uid order, as `joinService` orders them: one pass over the Service, no sort of it.
 */
function replaceEndpoints(
  base: Service,
  gone: ReadonlySet<string>,
  added: Endpoint[],
): { endpoints: Endpoint[]; removed: Endpoint[] } {
  added.sort(byWorkloadUid);
  const endpoints: Endpoint[] = [];
  const removed: Endpoint[] = [];
  let next = 0;
  for (const endpoint of base.endpoints) {
    if (gone.has(endpoint.workloadUid)) {
      removed.push(endpoint);
      continue;
    }
    while (next < added.length && added[next]!.workloadUid < endpoint.workloadUid)
      endpoints.push(added[next++]!);
    endpoints.push(endpoint);
  }
  while (next < added.length) endpoints.push(added[next++]!);
  return { endpoints, removed };
}

/**
 * A response as changes of whole Services, for a store that takes them so (the ztunnel's): each Service
 * whose spec or shards the response changed, in place of its spec and shards; the shards' removals left out
 * (a gone Service's own removal is in the response). A Service whose spec came is joined from what the
 * response brings over what the client held (`held`, by resource key); one whose shards alone changed, over
 * the Service the client last joined (`joined`, by name), is an `EndpointChange` with those shards'
 * endpoints replaced.
 */
export function joinChangedServices(
  changed: readonly ResourceItem[],
  removed: readonly { type: string; name: string }[],
  held: (key: string) => ResourceItem | undefined,
  joined: (name: string) => Service | undefined = () => undefined,
): {
  changed: ResourceItem[];
  removed: { type: string; name: string }[];
  endpointChanges: EndpointChange[];
} {
  const sharded = (item: ResourceItem) =>
    item.type === SERVICE_TYPE && (item.value as ServiceSpec).endpointShards !== undefined;
  /** Per touched Service, the shards the response brings (or removes). */
  const touched = new Map<string, ResourceItem[]>();
  const touch = (name: string) => {
    let shards = touched.get(name);
    if (shards === undefined) {
      shards = [];
      touched.set(name, shards);
    }
    return shards;
  };
  let shardRemoved = false;
  for (const item of changed) {
    if (isEndpointShard(item.type)) touch(serviceOfShard(item.name)).push(item);
    else if (sharded(item)) touch(item.name);
  }
  for (const item of removed)
    if (isEndpointShard(item.type)) {
      touch(serviceOfShard(item.name));
      shardRemoved = true;
    }
  if (touched.size === 0) return { changed: [...changed], removed: [...removed], endpointChanges: [] };
  const brought = new Map(changed.map((item) => [resourceKey(item.type, item.name), item]));
  const dropped = new Set(removed.map((item) => resourceKey(item.type, item.name)));
  const now = (key: string) => brought.get(key) ?? (dropped.has(key) ? undefined : held(key));
  const out: ResourceItem[] = [];
  const endpointChanges: EndpointChange[] = [];
  for (const item of changed) if (!isEndpointShard(item.type) && !sharded(item)) out.push(item);
  for (const [name, shards] of touched) {
    const specKey = resourceKey(SERVICE_TYPE, name);
    const spec = now(specKey);
    // Gone, or sent whole again (then among `out` as it came).
    if (spec === undefined || !sharded(spec)) continue;
    const base = brought.has(specKey) || shardRemoved ? undefined : joined(name);
    const gone = new Set<string>();
    const added: Endpoint[] = [];
    let incremental = base !== undefined;
    for (const shard of shards) {
      const before = held(resourceKey(ENDPOINTS_TYPE, shard.name));
      if (before === undefined) incremental = false;
      if (!incremental) break;
      for (const endpoint of (before!.value as EndpointShard).endpoints) gone.add(endpoint.workloadUid);
      added.push(...(shard.value as EndpointShard).endpoints);
    }
    if (incremental) {
      const { endpoints, removed: left } = replaceEndpoints(base!, gone, added);
      endpointChanges.push({ service: { ...base!, endpoints }, added, removed: left });
      continue;
    }
    const service = joinService(spec.value as ServiceSpec, (shard) =>
      now(resourceKey(ENDPOINTS_TYPE, shard)),
    );
    out.push({ type: SERVICE_TYPE, name, value: service });
  }
  return { changed: out, removed: removed.filter((item) => !isEndpointShard(item.type)), endpointChanges };
}

export function trustBundleResource(trustBundle: readonly string[]): ResourceItem {
  return { type: TRUST_BUNDLE_TYPE, name: TRUST_BUNDLE_NAME, value: trustBundle };
}

/** The resources of a subscriber's view that are its own (policies; a waypoint's route table and gateway). */
export function ownResources(
  kind: SubscriberKind,
  view:
    | Pick<NodeSnapshot, 'policies' | 'peerAuthentications' | 'outboundTrafficPolicy'>
    | Omit<WaypointSnapshot, 'version'>,
): ResourceItem[] {
  const items: ResourceItem[] = [];
  listResources(OWN_LISTS[kind], view, items);
  if (kind === 'waypoint') {
    const gateway = (view as Omit<WaypointSnapshot, 'version'>).gateway;
    if (gateway) items.push({ type: GATEWAY_TYPE, name: namespaced(gateway), value: gateway });
    const telemetry = (view as Omit<WaypointSnapshot, 'version'>).telemetry;
    if (telemetry) items.push({ type: TELEMETRY_TYPE, name: TELEMETRY_NAME, value: telemetry });
  }
  const outbound = (view as Pick<NodeSnapshot, 'outboundTrafficPolicy'>).outboundTrafficPolicy;
  if (kind === 'ztunnel' && outbound !== undefined) {
    items.push({
      type: MESH_SETTINGS_TYPE,
      name: MESH_SETTINGS_NAME,
      value: { outboundTrafficPolicy: outbound },
    });
  }
  return items;
}

/** The resources of a snapshot (without its version), as the control plane enumerates a subscriber's view. */
export function snapshotResources(
  kind: SubscriberKind,
  view: Omit<NodeSnapshot, 'version'> | Omit<WaypointSnapshot, 'version'>,
): ResourceItem[] {
  return [...sharedResources(view), ...ownResources(kind, view)];
}

/** A resource the client cannot make sense of: the response that carried it is NACKed. */
export class ResourceError extends AmbitError {
  constructor(message: string) {
    super('SNAPSHOT_INVALID', message);
    this.name = 'ResourceError';
  }
}

/** Decodes a resource body and checks that it names itself as the resource does. */
export function decodeResource(kind: SubscriberKind, resource: EncodedResource): ResourceItem {
  let value: unknown;
  try {
    value = JSON.parse(resource.body.toString('utf8'));
  } catch (error) {
    throw new ResourceError(
      `${resource.type} ${resource.name}: body is not JSON (${(error as Error).message})`,
    );
  }
  if (resource.type === TRUST_BUNDLE_TYPE) {
    if (
      !Array.isArray(value) ||
      !value.every((pem) => typeof pem === 'string' && pem.includes('BEGIN CERTIFICATE'))
    ) {
      throw new ResourceError('trust bundle: expected a list of PEM certificates');
    }
    return { type: resource.type, name: resource.name, value };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ResourceError(`${resource.type} ${resource.name}: expected an object`);
  }
  if (resource.type === ENDPOINTS_TYPE) {
    // The endpoints themselves are checked where the joined Service is (the ztunnel's store).
    if (!Array.isArray((value as Partial<EndpointShard>).endpoints) || !resource.name.includes('#'))
      throw new ResourceError(
        `endpoints ${resource.name}: expected {endpoints: [...]} named <service>#<shard>`,
      );
    return { type: resource.type, name: resource.name, value };
  }
  if (resource.type === SERVICE_TYPE) {
    const shards = (value as ServiceSpec).endpointShards;
    if (shards !== undefined && !(Number.isInteger(shards) && shards > 0 && shards <= 1 << 16))
      throw new ResourceError(`service ${resource.name}: endpointShards must be a positive integer`);
  }
  if (resource.type === MESH_SETTINGS_TYPE && kind === 'ztunnel') {
    const policy = (value as { outboundTrafficPolicy?: unknown }).outboundTrafficPolicy;
    if (typeof policy !== 'string' || !OUTBOUND_POLICIES.includes(policy)) {
      throw new ResourceError(
        `mesh settings: outboundTrafficPolicy must be one of ${OUTBOUND_POLICIES.join(', ')}`,
      );
    }
    return { type: resource.type, name: resource.name, value };
  }
  const list = LISTS[kind].find((candidate) => candidate.type === resource.type);
  const nameOf = list
    ? (list.name as (item: unknown) => string)
    : resource.type === GATEWAY_TYPE && kind === 'waypoint'
      ? namespaced
      : resource.type === TELEMETRY_TYPE && kind === 'waypoint'
        ? () => TELEMETRY_NAME
        : undefined;
  if (!nameOf)
    throw new ResourceError(`unknown resource type ${JSON.stringify(resource.type)} for a ${kind}`);
  if (nameOf(value as Named) !== resource.name) {
    throw new ResourceError(
      `${resource.type} ${resource.name}: body names ${JSON.stringify(nameOf(value as Named))}`,
    );
  }
  return { type: resource.type, name: resource.name, value };
}

/**
 * Reassembles a snapshot from decoded resources (lists sorted by name, so snapshots compare equal). A
 * waypoint's snapshot also carries its own name, which the client knows.
 */
export function assembleSnapshot(
  kind: SubscriberKind,
  version: string,
  items: Iterable<ResourceItem>,
  waypoint?: WaypointRef,
): AnySnapshot {
  const received = [...items];
  const shards = new Map(
    received.filter((item) => isEndpointShard(item.type)).map((item) => [item.name, item]),
  );
  // Joined into new items: the received ones stay as the client holds them.
  const joined =
    shards.size === 0
      ? received
      : received.map((item) =>
          item.type === SERVICE_TYPE
            ? { ...item, value: joinService(item.value as ServiceSpec, (name) => shards.get(name)) }
            : item,
        );
  const sorted = joined.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const snapshot: Record<string, unknown> = { version };
  for (const list of LISTS[kind])
    snapshot[list.field] = sorted.filter((item) => item.type === list.type).map((item) => item.value);
  snapshot.trustBundle = sorted.find((item) => item.type === TRUST_BUNDLE_TYPE)?.value ?? [];
  if (kind === 'ztunnel') {
    const settings = sorted.find((item) => item.type === MESH_SETTINGS_TYPE)?.value as
      | { outboundTrafficPolicy: string }
      | undefined;
    if (settings) snapshot.outboundTrafficPolicy = settings.outboundTrafficPolicy;
  }
  if (kind === 'waypoint') {
    snapshot.waypoint = waypoint;
    snapshot.gateway = sorted.find((item) => item.type === GATEWAY_TYPE)?.value;
    snapshot.telemetry = sorted.find((item) => item.type === TELEMETRY_TYPE)?.value;
  }
  return snapshot as unknown as AnySnapshot;
}

/** Items to set (added or replaced) and names to drop, of one list of a snapshot. */
export interface ListChanges<T> {
  set: T[];
  removed: string[];
}

/**
 * A ztunnel's response as changes to what it holds, list by list (names as resources name them: a workload's
 * uid, `namespace/name` for the rest), for a store that applies them without reassembling its snapshot.
 * `trustBundle` and `outboundTrafficPolicy` are set when they changed (`null`: removed, the default applies).
 */
export interface NodeSnapshotChanges {
  version: string;
  workloads: ListChanges<Workload>;
  services: ListChanges<Service>;
  /** Sharded Services the store holds whose shards alone changed: it checks and indexes what came and went. */
  serviceEndpoints?: readonly EndpointChange[] | undefined;
  policies: ListChanges<L4Policy>;
  peerAuthentications: ListChanges<PeerAuthPolicy>;
  trustBundle?: string[] | undefined;
  outboundTrafficPolicy?: OutboundTrafficPolicy | null | undefined;
}

/** Sorts a response's decoded resources and removals into a ztunnel's `NodeSnapshotChanges`. */
export function nodeSnapshotChanges(
  version: string,
  changed: readonly ResourceItem[],
  removed: readonly { type: string; name: string }[],
  serviceEndpoints: readonly EndpointChange[] = [],
): NodeSnapshotChanges {
  const changes: NodeSnapshotChanges = {
    version,
    workloads: { set: [], removed: [] },
    services: { set: [], removed: [] },
    serviceEndpoints,
    policies: { set: [], removed: [] },
    peerAuthentications: { set: [], removed: [] },
  };
  const listOf = (type: string) => {
    const list = LISTS.ztunnel.find((candidate) => candidate.type === type);
    return list ? (changes[list.field] as ListChanges<unknown>) : undefined;
  };
  for (const item of changed) {
    if (item.type === TRUST_BUNDLE_TYPE) changes.trustBundle = item.value as string[];
    else if (item.type === MESH_SETTINGS_TYPE)
      changes.outboundTrafficPolicy = (
        item.value as { outboundTrafficPolicy: OutboundTrafficPolicy }
      ).outboundTrafficPolicy;
    else listOf(item.type)?.set.push(item.value);
  }
  for (const { type, name } of removed) {
    if (type === TRUST_BUNDLE_TYPE) changes.trustBundle = [];
    else if (type === MESH_SETTINGS_TYPE) changes.outboundTrafficPolicy = null;
    else listOf(type)?.removed.push(name);
  }
  return changes;
}
