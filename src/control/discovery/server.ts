/**
 * The discovery service (the Pilot role): data-plane clients subscribe over a gRPC stream, authenticated as
 * their node; each receives the resources of its own view of the mesh, versioned and incremental, and ACKs
 * or NACKs each response. A bad client (wrong credential, malformed messages) loses its stream, never the
 * process.
 */
import { randomBytes } from 'node:crypto';
import { status as grpcStatus, type Server, type ServerDuplexStream } from '@grpc/grpc-js';
import type { ClientStatus, RolloutClient } from '../../core/control-api/types.ts';
import { type ChunkedResponse, chunkResponse } from '../../core/discovery/chunks.ts';
import {
  ENDPOINTS_TYPE,
  type EncodedResource,
  encodeResource,
  endpointShardCount,
  endpointShardName,
  ownResources,
  type ResourceItem,
  resourceKey,
  SERVICE_TYPE,
  type SharedView,
  type SubscriberKind,
  serviceResources,
  sharedResources,
  trustBundleResource,
  WORKLOAD_TYPE,
  workloadResources,
} from '../../core/discovery/resources.ts';
import { MAX_SNAPSHOT_BYTES } from '../../core/grpc/limits.ts';
import type { DiscoveryRequestMessage } from '../../core/grpc/protos.ts';
import type { Logger } from '../../core/log.ts';
import type { Workload } from '../../core/model/index.ts';
import { AuthenticationError, type Caller, type NodeAuthenticator } from '../auth/node-authenticator.ts';
import { callerMayServeWaypoint } from '../auth/waypoint-binding.ts';
import type { ControlMetrics } from '../metrics.ts';
import type { MeshChanges } from '../model/incremental.ts';
import { Memo } from '../model/memo.ts';
import type { Mesh } from '../model/mesh.ts';
import {
  remoteWorkload,
  updatedByNode,
  waypointView,
  workloadsByNode,
  ztunnelPolicies,
} from '../model/views.ts';
import type { PodSource } from '../pods/pod-source.ts';
import { type ResourceBlock, type ResourceSet, SharedGeneration } from './generation.ts';
import { clientKey, rolloutStanding } from './rollout.ts';
import { type SubscriberInfo, type SubscriberView, Subscription } from './subscription.ts';
import { type SerializedMessage, serializedDiscoveryService, serializeResponse } from './wire.ts';

/** Responses are written serialized (`wire.ts`). */
type Stream = ServerDuplexStream<DiscoveryRequestMessage, SerializedMessage>;

const SUBSCRIBE_TIMEOUT_MS = 10_000;

interface Published {
  mesh: Mesh;
  version: string;
  changedAt: number;
  /**
   * The resources every view of a kind shares, encoded once for all clients of that kind: for ztunnels the
   * remote forms of the workloads (each ztunnel's own ones override them in full), for waypoints the
   * workloads in full. The waypoints' is made once a waypoint is connected.
   */
  shared: { ztunnel: SharedGeneration; waypoint: SharedGeneration | undefined };
  workloadsByNode: Map<string, Workload[]>;
  /**
   * Each node's own resources for its ztunnel, made when it is first served and kept by the next mesh while
   * the node's workloads and the policies are the same (a pod change elsewhere): a change then costs the
   * nodes it touched, not a look at every node's workloads and policies.
   */
  ownByNode: Map<string, ResourceSet>;
}

/** `byNode` without the nodes `changes` touched (all of them, when the config changed). */
function keptOwnSets(
  byNode: ReadonlyMap<string, ResourceSet>,
  changes: MeshChanges,
): Map<string, ResourceSet> {
  if (changes.config) return new Map();
  const kept = new Map(byNode);
  for (const node of changes.nodes) kept.delete(node);
  return kept;
}

/** Each node's workloads' keys: what its ztunnel holds in full instead of their shared remote forms. */
function* nodeWorkloadKeys(byNode: ReadonlyMap<string, readonly Workload[]>): Iterable<string[]> {
  for (const workloads of byNode.values())
    yield workloads.map((workload) => resourceKey(WORKLOAD_TYPE, workload.uid));
}

/**
 * Writes `messages` to `stream` one at a time, each serialized once the last has gone out: a large snapshot
 * to a slow client holds one serialized chunk in this process, not all of them (which, for hundreds of
 * clients connecting at once, was hundreds of megabytes of buffers and the garbage collections they caused).
 * No other response can come between them: the next one waits for this one's ACK (`subscription.ts`).
 */
function writeInTurn(
  stream: Stream,
  messages: readonly ChunkedResponse<EncodedResource | ResourceBlock>[],
): void {
  let next = 0;
  const writeNext = (error?: Error | null) => {
    if (error || next === messages.length || stream.destroyed) return;
    const message = messages[next++]!;
    stream.write(serializeResponse(message), next < messages.length ? writeNext : undefined);
  };
  writeNext();
}

interface Entry {
  subscription: Subscription;
  stream: Stream;
}

function rejection(code: grpcStatus, message: string): Error & { code: grpcStatus; details: string } {
  return Object.assign(new Error(message), { code, details: message });
}

export class DiscoveryServer {
  private readonly authenticator: NodeAuthenticator;
  /** The pods the runtime reported: which waypoints each node runs. */
  private readonly pods: PodSource;
  private readonly metrics: ControlMetrics;
  private readonly log: Logger;
  private readonly maxPushBytes: number;
  private readonly entries = new Map<string, Entry>();
  private published: Published | undefined;
  /**
   * Encodings by resource key, kept while the value is the same object: an unchanged workload or service
   * (the model hands back the same object, `model/memo.ts`) is not encoded or hashed again, and a policy is
   * encoded once per mesh, not once per node.
   */
  private readonly encodings = new Memo<EncodedResource>();
  /**
   * Each node's own resources (its workloads in full, its policies), kept as the same set while they are the
   * same objects: a client holding that very set needs no comparison of it (`subscription.ts`), so a change
   * elsewhere costs a ztunnel's own part nothing.
   */
  private readonly ownViews = new Memo<ResourceSet>();
  /** Rollout waits, told of every ACK, NACK, push and (dis)connection. */
  private readonly rolloutWatchers = new Set<() => void>();

  /**
   * `maxPushBytes`: the largest push (resource bodies) sent to a client (default `MAX_SNAPSHOT_BYTES`, half
   * the gRPC message limit both ends allow, so that framing never tips a push over it).
   */
  constructor(options: {
    authenticator: NodeAuthenticator;
    pods: PodSource;
    metrics: ControlMetrics;
    log: Logger;
    maxPushBytes?: number | undefined;
  }) {
    this.authenticator = options.authenticator;
    this.pods = options.pods;
    this.metrics = options.metrics;
    this.log = options.log;
    this.maxPushBytes = options.maxPushBytes ?? MAX_SNAPSHOT_BYTES;
  }

  register(server: Server): void {
    server.addService(serializedDiscoveryService, { Stream: (stream: Stream) => this.serve(stream) });
  }

  /**
   * Makes `mesh` the current state and pushes what changed to every client. `changes` (from the model, since
   * the mesh published last) lets the shared parts and the nodes' workloads be updated by what changed
   * alone; without it (the first mesh) they are made whole.
   */
  publish(mesh: Mesh, version: string, changedAt: number, changes?: MeshChanges): void {
    this.encodings.nextRound();
    this.ownViews.nextRound();
    const previous = this.published;
    const hasWaypoints = [...this.entries.values()].some(
      (entry) => entry.subscription.info.kind === 'waypoint',
    );
    const shared = (kind: SubscriberKind, held: SharedGeneration | undefined) =>
      held && changes && previous
        ? this.advanceShared(kind, held, mesh, previous.mesh, changes)
        : this.sharedGeneration(kind, mesh, held);
    this.published = {
      mesh,
      version,
      changedAt,
      shared: {
        ztunnel: shared('ztunnel', previous?.shared.ztunnel),
        waypoint: hasWaypoints ? shared('waypoint', previous?.shared.waypoint) : undefined,
      },
      workloadsByNode:
        changes && previous ? updatedByNode(previous.workloadsByNode, changes) : workloadsByNode(mesh),
      ownByNode: changes && previous ? keptOwnSets(previous.ownByNode, changes) : new Map(),
    };
    for (const entry of this.entries.values()) this.push(entry, false);
  }

  /** The shared part of `kind`'s views of `mesh`, as the generation after `previous` (if there was one). */
  private sharedGeneration(
    kind: SubscriberKind,
    mesh: Mesh,
    previous: SharedGeneration | undefined,
  ): SharedGeneration {
    const remote = kind === 'ztunnel';
    const view: SharedView = remote ? { ...mesh, workloads: mesh.workloads.map(remoteWorkload) } : mesh;
    const resources = new Map<string, EncodedResource>();
    for (const item of sharedResources(view))
      resources.set(...this.encode(item, remote && item.type === WORKLOAD_TYPE ? 'remote' : ''));
    return previous ? previous.advance(resources) : new SharedGeneration(resources);
  }

  /**
   * The generation after `held` for `mesh`, made of `changes` alone: the changed workloads and Services
   * (and the trust bundle, when it is another) are encoded, every other resource is `held`'s.
   */
  private advanceShared(
    kind: SubscriberKind,
    held: SharedGeneration,
    mesh: Mesh,
    before: Mesh,
    changes: MeshChanges,
  ): SharedGeneration {
    const items: ResourceItem[] = [];
    const removed: string[] = [];
    const remote = kind === 'ztunnel';
    for (const [uid, workload] of changes.workloads) {
      if (workload === undefined) removed.push(resourceKey(WORKLOAD_TYPE, uid));
      else items.push(workloadResources([remote ? remoteWorkload(workload) : workload])[0]!);
    }
    for (const [key, service] of changes.services) {
      if (service === undefined) removed.push(resourceKey(SERVICE_TYPE, key));
      else items.push(...serviceResources(service));
      // The shards it no longer has (all, once gone or whole): they are numbered from 0 without a gap.
      const kept = service === undefined ? 0 : endpointShardCount(service);
      for (let shard = kept === 1 ? 0 : kept; ; shard++) {
        const shardKey = resourceKey(ENDPOINTS_TYPE, endpointShardName(key, shard));
        if (!held.resources.has(shardKey)) break;
        removed.push(shardKey);
      }
    }
    if (mesh.trustBundle !== before.trustBundle) items.push(trustBundleResource(mesh.trustBundle));
    return held.advanceBy(
      items.map((item) => encodeResource(item)),
      removed,
    );
  }

  get version(): string {
    return this.published?.version ?? '';
  }

  clients(): ClientStatus[] {
    return [...this.entries.values()].map((entry) => entry.subscription.status());
  }

  /**
   * Resolves once every data-plane client (those connected now, followed across reconnects) has ACKed or
   * NACKed `version` or a later one, or at `timeoutMs` with the ones that have not.
   */
  awaitRollout(version: number, timeoutMs: number): Promise<{ clients: RolloutClient[]; timedOut: boolean }> {
    const expected = [...new Set(this.clients().map(clientKey))];
    return new Promise((resolve) => {
      const finish = (timedOut: boolean) => {
        clearTimeout(timer);
        this.rolloutWatchers.delete(check);
        resolve({ clients: rolloutStanding(expected, this.clients(), version).clients, timedOut });
      };
      const check = () => {
        if (rolloutStanding(expected, this.clients(), version).settled) finish(false);
      };
      const timer = setTimeout(() => finish(true), timeoutMs);
      this.rolloutWatchers.add(check);
      check();
    });
  }

  private notifyRollouts(): void {
    for (const check of [...this.rolloutWatchers]) check();
  }

  /** Ends every stream (shutdown); clients reconnect elsewhere or later. */
  closeAll(): void {
    for (const entry of this.entries.values()) entry.stream.end();
  }

  private serve(stream: Stream): void {
    let entry: Entry | undefined;
    const peer = stream.getPeer();
    const fail = (error: Error & { code?: grpcStatus }) => {
      const code = error.code ?? grpcStatus.INVALID_ARGUMENT;
      this.metrics.subscriptionsRefused.inc({ reason: (grpcStatus[code] ?? 'unknown').toLowerCase() });
      this.log.warn('discovery stream refused', { peer, error: error.message });
      stream.emit(
        'error',
        error.code !== undefined ? error : rejection(grpcStatus.INVALID_ARGUMENT, error.message),
      );
    };
    // Authentication starts at once and can never reject unhandled; the first message waits for it.
    const authenticated = this.authenticator.authenticate(stream.metadata).then(
      (caller) => ({ caller, error: undefined }),
      (error: Error) => ({
        caller: undefined,
        error:
          error instanceof AuthenticationError ? rejection(grpcStatus.UNAUTHENTICATED, error.message) : error,
      }),
    );
    // A stream that never says who it is would hold resources forever.
    const subscribeDeadline = setTimeout(() => {
      if (!entry)
        fail(rejection(grpcStatus.DEADLINE_EXCEEDED, `no subscription within ${SUBSCRIBE_TIMEOUT_MS} ms`));
    }, SUBSCRIBE_TIMEOUT_MS);
    subscribeDeadline.unref();
    stream.on('data', (request: DiscoveryRequestMessage) => {
      if (entry) {
        this.onAnswer(entry, request);
        return;
      }
      authenticated
        .then(({ caller, error }) => {
          if (entry || stream.cancelled) return;
          if (error || caller === undefined) throw error;
          entry = this.subscribe(stream, request, caller, peer);
        })
        .catch((error: Error) => fail(error));
    });
    const close = () => {
      clearTimeout(subscribeDeadline);
      if (!entry || !this.entries.delete(entry.subscription.id)) return;
      this.notifyRollouts();
      this.metrics.connectedClients.dec({ type: entry.subscription.info.kind });
      this.log.info('data-plane client disconnected', {
        id: entry.subscription.id,
        node: entry.subscription.info.node,
      });
    };
    stream.on('end', () => {
      close();
      stream.end();
    });
    stream.on('error', close);
    stream.on('cancelled', close);
    stream.on('close', close);
  }

  private subscribe(stream: Stream, request: DiscoveryRequestMessage, caller: Caller, peer: string): Entry {
    const subscriber = request.subscriber;
    if (!subscriber)
      throw rejection(grpcStatus.INVALID_ARGUMENT, 'the first message of a stream must carry subscriber');
    const { node } = caller;
    let info: SubscriberInfo;
    if (subscriber.kind === 'ztunnel') {
      if (caller.waypoint !== undefined) {
        throw rejection(
          grpcStatus.PERMISSION_DENIED,
          `waypoint ${caller.waypoint.namespace}/${caller.waypoint.name} may not subscribe as a ztunnel`,
        );
      }
      if (subscriber.node !== node) {
        throw rejection(
          grpcStatus.PERMISSION_DENIED,
          `node ${JSON.stringify(node)} may not subscribe as ztunnel of node ${JSON.stringify(subscriber.node)}`,
        );
      }
      info = { kind: 'ztunnel', node, instance: subscriber.instance, peer };
    } else if (subscriber.kind === 'waypoint') {
      if (!subscriber.waypointName || !subscriber.waypointNamespace) {
        throw rejection(
          grpcStatus.INVALID_ARGUMENT,
          'a waypoint subscribes with waypointName and waypointNamespace',
        );
      }
      const waypoint = { name: subscriber.waypointName, namespace: subscriber.waypointNamespace };
      if (!callerMayServeWaypoint(this.pods, caller, waypoint)) {
        throw rejection(
          grpcStatus.PERMISSION_DENIED,
          caller.waypoint
            ? `waypoint ${caller.waypoint.namespace}/${caller.waypoint.name} may not subscribe as waypoint ${waypoint.namespace}/${waypoint.name}`
            : `node ${JSON.stringify(node)} may not subscribe as waypoint ${waypoint.namespace}/${waypoint.name}: no pod of that waypoint runs on it`,
        );
      }
      info = {
        kind: 'waypoint',
        node,
        waypoint,
        instance: subscriber.instance,
        peer,
      };
    } else {
      throw rejection(
        grpcStatus.INVALID_ARGUMENT,
        `unknown subscriber kind ${JSON.stringify(subscriber.kind)}: use ztunnel or waypoint`,
      );
    }
    const id = `${info.kind}~${info.waypoint ? `${info.waypoint.namespace}/${info.waypoint.name}` : node}~${randomBytes(3).toString('hex')}`;
    const entry: Entry = { subscription: new Subscription(id, info, request.initialResources ?? []), stream };
    this.entries.set(id, entry);
    this.metrics.connectedClients.inc({ type: info.kind });
    this.log.info('data-plane client connected', {
      id,
      node,
      peer,
      instance: info.instance,
      held: request.initialResources?.length ?? 0,
    });
    this.push(entry, true);
    return entry;
  }

  private onAnswer(entry: Entry, request: DiscoveryRequestMessage): void {
    const { subscription } = entry;
    const error = request.error ?? '';
    const { answered, resend } = subscription.answer(request.responseNonce ?? '', error);
    if (!answered) return;
    const type = subscription.info.kind;
    if (error === '') {
      this.metrics.convergence.observe({ type }, (Date.now() - answered.changedAt) / 1000);
    } else {
      this.metrics.rejects.inc({ type });
      this.log.warn('data-plane client rejected config (NACK)', {
        id: subscription.id,
        version: answered.version,
        error,
      });
    }
    if (resend) this.push(entry, false);
    this.notifyRollouts();
  }

  private push(entry: Entry, force: boolean): void {
    this.send(entry, force);
    this.notifyRollouts();
  }

  private send(entry: Entry, force: boolean): void {
    const published = this.published;
    if (!published) return;
    const view = this.view(entry.subscription.info, published);
    const response = entry.subscription.prepare(view, published.version, published.changedAt, force);
    if (!response) return;
    const type = entry.subscription.info.kind;
    let bytes = 0;
    for (const block of response.blocks) bytes += block.bodyBytes;
    for (const resource of response.resources) bytes += resource.body.length;
    if (bytes > this.maxPushBytes) {
      // Sent, it would exceed what the client can receive and break its stream in a reconnect loop, with
      // nobody told why. Refused here instead, as a NACK of that client that status shows; it keeps its last
      // config, the stream stays up, and the next change is pushed again.
      const message = `push of ${bytes} bytes exceeds the limit of ${this.maxPushBytes} bytes per push; not sent`;
      entry.subscription.answer(response.nonce, message);
      this.metrics.rejects.inc({ type });
      this.log.error('push too large for the client; not sent', { id: entry.subscription.id, bytes });
      return;
    }
    this.metrics.pushes.inc({ type });
    this.metrics.pushBytes.inc({ type }, bytes);
    this.metrics.pushSize.observe({ type }, bytes);
    if (this.log.enabled('debug')) {
      this.log.debug('push', {
        id: entry.subscription.id,
        version: response.version,
        resources: response.resources.length,
        blocks: response.blocks.length,
        removed: response.removed.length,
        bytes,
      });
    }
    const { version, nonce, removed } = response;
    const parts = [...response.blocks, ...response.resources];
    writeInTurn(entry.stream, chunkResponse({ version, nonce, removed, resources: parts }));
  }

  private view(info: SubscriberInfo, published: Published): SubscriberView {
    if (info.kind === 'ztunnel') {
      let own = published.ownByNode.get(info.node);
      if (own === undefined) {
        own = this.ztunnelOwn(info.node, published);
        published.ownByNode.set(info.node, own);
      }
      return {
        shared: published.shared.ztunnel,
        groups: () => nodeWorkloadKeys(published.workloadsByNode),
        own,
      };
    }
    // The first waypoint since the last publish: its kind's shared part is made now, and kept.
    published.shared.waypoint ??= this.sharedGeneration('waypoint', published.mesh, undefined);
    return {
      shared: published.shared.waypoint,
      own: this.encodeOwn(ownResources('waypoint', waypointView(published.mesh, info.waypoint!))),
    };
  }

  /** A node's own resources: its workloads in full and the policies that apply to them. */
  private ztunnelOwn(node: string, published: Published): ResourceSet {
    const local = published.workloadsByNode.get(node) ?? [];
    const policies = ztunnelPolicies(
      published.mesh,
      local.filter((workload) => workload.enrolled),
    );
    const inputs = [
      ...local,
      ...policies.policies,
      ...policies.peerAuthentications,
      policies.outboundTrafficPolicy,
    ];
    return this.ownViews.get(node, inputs, () =>
      this.encodeOwn([...workloadResources(local), ...ownResources('ztunnel', policies)]),
    );
  }

  /**
   * `item` encoded, by its key. `form` tells apart the encodings of one key that differ by who receives
   * them (a workload's remote form, and its whole for its own node and waypoints), so they do not evict each
   * other.
   */
  private encode(item: ResourceItem, form = ''): [string, EncodedResource] {
    const key = resourceKey(item.type, item.name);
    return [key, this.encodings.get(`${form}|${key}`, [item.value], () => encodeResource(item))];
  }

  private encodeOwn(items: readonly ResourceItem[]): Map<string, EncodedResource> {
    return new Map(items.map((item) => this.encode(item)));
  }
}
