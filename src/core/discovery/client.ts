/**
 * The data plane's discovery client (used by ztunnel and waypoint): subscribes to the control plane as a
 * node's ztunnel or as a waypoint, applies each incremental response to the last accepted snapshot, checks
 * it (and lets the caller check it), ACKs or NACKs it, and notifies listeners of each accepted snapshot.
 * When the control plane is unreachable it keeps serving the last accepted snapshot and reconnects with
 * backoff, telling the control plane what it holds so that only changes are sent. Nothing is written to
 * disk. Given several replicas' addresses, a reconnect goes to the first live one (see
 * `grpc/control-target.ts`); resource versions are content hashes, so a replica other than the one that
 * sent them sends only what differs.
 */
import { hostname } from 'node:os';
import type { ClientDuplexStream, ServiceError } from '@grpc/grpc-js';
import { type BackoffPolicy, backoffDelay } from '../backoff.ts';
import { errorMessage } from '../errors.ts';
import {
  type ControlPlaneClient,
  type ControlPlaneConnection,
  openControlPlaneClient,
} from '../grpc/credentials.ts';
import { MAX_SNAPSHOT_BYTES } from '../grpc/limits.ts';
import {
  type DiscoveryRequestMessage,
  type DiscoveryResponseMessage,
  discoveryService,
} from '../grpc/protos.ts';
import { routeTableProblems } from '../l7/validate.ts';
import { createLogger, type Logger } from '../log.ts';
import type { NodeSnapshot, WaypointRef, WaypointSnapshot } from '../model/index.ts';
import { ChunkGatherer } from './chunks.ts';
import { refuseIfProblems } from './refusal.ts';
import {
  type AnySnapshot,
  assembleSnapshot,
  decodeResource,
  joinChangedServices,
  type NodeSnapshotChanges,
  nodeSnapshotChanges,
  type ResourceItem,
  resourceKey,
  type SubscriberKind,
} from './resources.ts';

export const DEFAULT_DISCOVERY_BACKOFF: BackoffPolicy = { initialMs: 200, maxMs: 15_000 };

/** What a client subscribes as: a node's ztunnel, or a waypoint (authenticated with its node's credential). */
export type SubscribeAs =
  | { kind: 'ztunnel'; node: string }
  | { kind: 'waypoint'; node: string; waypoint: WaypointRef };

export interface DiscoveryClientOptions<S extends AnySnapshot> {
  connection: ControlPlaneConnection;
  subscription: SubscribeAs;
  /** Extra checks before accepting a snapshot: throw to NACK it (the previous snapshot stays). */
  validate?: ((snapshot: S) => void) | undefined;
  /**
   * Takes each response as changes instead of a reassembled snapshot (`validate` is then not called): the
   * ztunnel's store validates and indexes what a delta brings only, so a change costs the client in
   * proportion to the change. Throws to NACK (and then holds what it held).
   */
  sink?: ChangeSink<S> | undefined;
  backoff?: BackoffPolicy | undefined;
  log?: Logger | undefined;
  /** Told of each accepted response: when its first message arrived and when it was applied (ms, epoch). */
  onApplied?: ((timing: AppliedTiming) => void) | undefined;
}

export interface AppliedTiming {
  version: string;
  receivedAt: number;
  appliedAt: number;
}

const now = () => performance.timeOrigin + performance.now();

export interface NackEvent {
  version: string;
  error: string;
}

interface Held {
  version: string;
  item: ResourceItem;
}

/** Where a client in change mode puts each response; its snapshot is assembled only when asked. */
export interface ChangeSink<S> {
  apply(
    version: string,
    changed: readonly ResourceItem[],
    removed: readonly { type: string; name: string }[],
  ): void;
  snapshot(): S;
}

export class DiscoveryClient<S extends AnySnapshot> {
  private readonly options: DiscoveryClientOptions<S>;
  private readonly kind: SubscriberKind;
  private readonly log: Logger;
  private readonly backoff: BackoffPolicy;
  private readonly snapshotListeners = new Set<(snapshot: S) => void>();
  private readonly nackListeners = new Set<(event: NackEvent) => void>();
  private client: ControlPlaneClient | undefined;
  private stream: ClientDuplexStream<DiscoveryRequestMessage, DiscoveryResponseMessage> | undefined;
  private held = new Map<string, Held>();
  private readonly chunks = new ChunkGatherer(MAX_SNAPSHOT_BYTES);
  private snapshot: S | undefined;
  /** Whether a response was accepted yet (in change mode, where the sink holds the snapshot). */
  private accepted = false;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private streamUp = false;
  /** When the first message of the response being gathered arrived (for `onApplied`). */
  private receivedAt: number | undefined;

  constructor(options: DiscoveryClientOptions<S>) {
    this.options = options;
    this.kind = options.subscription.kind;
    this.backoff = options.backoff ?? DEFAULT_DISCOVERY_BACKOFF;
    this.log = options.log ?? createLogger('discovery-client', { node: options.subscription.node });
  }

  /** Opens the stream (and keeps reopening it until `close()`). */
  start(): this {
    if (this.client || this.closed) return this;
    // Shared with the certificate client of the same connection: both follow the stream's replica.
    this.client = openControlPlaneClient(this.options.connection);
    this.connect();
    return this;
  }

  /** The last accepted snapshot, served even while the control plane is unreachable. */
  current(): S | undefined {
    return this.options.sink && this.accepted ? this.options.sink.snapshot() : this.snapshot;
  }

  /** True while a stream to the control plane is up and has delivered a response. */
  get connected(): boolean {
    return this.streamUp;
  }

  /**
   * Calls `listener` with every accepted snapshot (and at once with the current one); returns an unsubscribe.
   * With a sink, each call assembles the sink's whole snapshot: there, listen to the sink instead.
   */
  onSnapshot(listener: (snapshot: S) => void): () => void {
    this.snapshotListeners.add(listener);
    const current = this.current();
    if (current) this.notify(listener, current);
    return () => this.snapshotListeners.delete(listener);
  }

  onNack(listener: (event: NackEvent) => void): () => void {
    this.nackListeners.add(listener);
    return () => this.nackListeners.delete(listener);
  }

  /** Resolves with the first accepted snapshot (or the current one). */
  ready(timeoutMs = 30_000): Promise<S> {
    const current = this.current();
    if (current) return Promise.resolve(current);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        unsubscribe();
        reject(
          new Error(
            `no snapshot from the control plane at ${this.options.connection.address} within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      const unsubscribe = this.onSnapshot((snapshot) => {
        clearTimeout(timer);
        unsubscribe();
        resolve(snapshot);
      });
    });
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.stream?.cancel();
    this.stream = undefined;
    this.client?.close();
    this.client = undefined;
    this.streamUp = false;
  }

  private connect(): void {
    if (this.closed || !this.client) return;
    const method = discoveryService().Stream!;
    const stream = this.client.client.makeBidiStreamRequest<
      DiscoveryRequestMessage,
      DiscoveryResponseMessage
    >(
      method.path,
      method.requestSerialize as (value: DiscoveryRequestMessage) => Buffer,
      method.responseDeserialize as (bytes: Buffer) => DiscoveryResponseMessage,
    );
    this.stream = stream;
    const subscription = this.options.subscription;
    stream.write({
      subscriber: {
        kind: subscription.kind,
        node: subscription.node,
        waypointName: subscription.kind === 'waypoint' ? subscription.waypoint.name : '',
        waypointNamespace: subscription.kind === 'waypoint' ? subscription.waypoint.namespace : '',
        instance: `${hostname()}/${process.pid}`,
      },
      initialResources: [...this.held.values()].map(({ version, item }) => ({
        type: item.type,
        name: item.name,
        version,
      })),
    });
    stream.on('data', (response: DiscoveryResponseMessage) => {
      if (stream === this.stream) this.onResponse(stream, response);
    });
    let ended = false;
    const lost = (reason: string) => {
      if (ended || stream !== this.stream) return;
      ended = true;
      this.stream = undefined;
      this.chunks.reset();
      this.receivedAt = undefined;
      this.streamUp = false;
      if (this.closed) return;
      const delay = backoffDelay(this.attempt++, this.backoff);
      this.log.warn('control plane stream lost; serving the last snapshot and reconnecting', {
        reason,
        retryInMs: delay,
        version: this.snapshot?.version,
      });
      this.retryTimer = setTimeout(() => this.connect(), delay);
      this.retryTimer.unref?.();
    };
    stream.on('error', (error: ServiceError) => lost(error.details || error.message));
    stream.on('end', () => lost('stream ended by the control plane'));
  }

  private onResponse(
    stream: ClientDuplexStream<DiscoveryRequestMessage, DiscoveryResponseMessage>,
    message: DiscoveryResponseMessage,
  ): void {
    this.streamUp = true;
    this.attempt = 0;
    let response = message;
    if (this.receivedAt === undefined && this.options.onApplied) this.receivedAt = now();
    const receivedAt = this.receivedAt;
    try {
      const whole = this.chunks.add(message);
      if (!whole) return;
      this.receivedAt = undefined;
      response = whole;
      // Each resource is checked once, here, as it arrives (decodeResource), and never again.
      const changed = response.resources.map((resource) => ({
        version: resource.version,
        item: decodeResource(this.kind, resource),
      }));
      if (this.options.sink) {
        // The sink takes whole Services: those whose endpoint shards changed are joined here, once.
        const joined = joinChangedServices(
          changed.map((held) => held.item),
          response.removed,
          (key) => this.held.get(key)?.item,
        );
        this.options.sink.apply(response.version, joined.changed, joined.removed);
        this.snapshot = undefined;
        this.accepted = true;
        this.updateHeld(this.held, response.removed, changed);
      } else {
        const next = this.updateHeld(new Map(this.held), response.removed, changed);
        const waypoint =
          this.options.subscription.kind === 'waypoint' ? this.options.subscription.waypoint : undefined;
        const snapshot = assembleSnapshot(
          this.kind,
          response.version,
          [...next.values()].map((held) => held.item),
          waypoint,
        ) as S;
        this.options.validate?.(snapshot);
        this.held = next;
        this.snapshot = snapshot;
      }
    } catch (error) {
      const message = errorMessage(error);
      this.log.warn('rejected a snapshot (NACK); keeping the previous one', {
        version: response.version,
        error: message,
      });
      stream.write({
        responseNonce: response.nonce,
        version: response.version,
        error: message || 'rejected',
      });
      this.receivedAt = undefined;
      for (const listener of this.nackListeners) listener({ version: response.version, error: message });
      return;
    }
    stream.write({ responseNonce: response.nonce, version: response.version });
    if (receivedAt !== undefined)
      this.options.onApplied?.({ version: response.version, receivedAt, appliedAt: now() });
    if (this.snapshotListeners.size === 0) return;
    const snapshot = this.current()!;
    for (const listener of this.snapshotListeners) this.notify(listener, snapshot);
  }

  /** `held` with a response's removals and resources applied (what the client declares when it reconnects). */
  private updateHeld(
    held: Map<string, Held>,
    removed: readonly { type: string; name: string }[],
    changed: readonly Held[],
  ): Map<string, Held> {
    for (const resource of removed) held.delete(resourceKey(resource.type, resource.name));
    for (const resource of changed) held.set(resourceKey(resource.item.type, resource.item.name), resource);
    return held;
  }

  private notify(listener: (snapshot: S) => void, snapshot: S): void {
    try {
      listener(snapshot);
    } catch (error) {
      this.log.error('snapshot listener failed', { error: errorMessage(error) });
    }
  }
}

/** A store that takes a ztunnel's responses as changes (the ztunnel's state store). */
export interface NodeChangeStore {
  applyChanges(changes: NodeSnapshotChanges): void;
  readonly snapshot: NodeSnapshot;
}

/**
 * A ztunnel's client: subscribes as `node`, receives NodeSnapshots; given a `store`, hands it each response as
 * changes instead (see `sink`).
 */
export function ztunnelDiscovery(
  options: Omit<DiscoveryClientOptions<NodeSnapshot>, 'subscription' | 'sink'> & {
    node: string;
    store?: NodeChangeStore | undefined;
  },
): DiscoveryClient<NodeSnapshot> {
  const { store } = options;
  return new DiscoveryClient<NodeSnapshot>({
    ...options,
    subscription: { kind: 'ztunnel', node: options.node },
    sink: store && {
      apply: (version, changed, removed) =>
        store.applyChanges(nodeSnapshotChanges(version, changed, removed)),
      snapshot: () => store.snapshot,
    },
  });
}

/**
 * A waypoint's client: subscribes as its Gateway, from the node it runs on. Every snapshot's route table is
 * checked (`routeTableProblems`) before the caller's own checks; a malformed one is NACKed.
 */
export function waypointDiscovery(
  options: Omit<DiscoveryClientOptions<WaypointSnapshot>, 'subscription'> & {
    node: string;
    waypoint: WaypointRef;
  },
): DiscoveryClient<WaypointSnapshot> {
  return new DiscoveryClient<WaypointSnapshot>({
    ...options,
    subscription: { kind: 'waypoint', node: options.node, waypoint: options.waypoint },
    validate: (snapshot) => {
      refuseIfProblems('route table', routeTableProblems(snapshot));
      options.validate?.(snapshot);
    },
  });
}
