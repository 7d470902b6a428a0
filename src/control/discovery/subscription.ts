/**
 * One data-plane client's stream, as the control plane tracks it: what the client holds (the resources it
 * ACKed, or declared when it reconnected), what is in flight, and its NACKs. At most one response is in
 * flight; changes that arrive meanwhile are sent once it is answered. Diffs are computed against what the
 * client holds, so a NACKed response is never assumed applied; the shared part of a view is diffed by
 * generation (`generation.ts`), so a change costs each client work in proportion to the change.
 */
import { randomBytes } from 'node:crypto';
import type { ClientStatus, NackStatus } from '../../core/control-api/types.ts';
import { type EncodedResource, resourceKey, type SubscriberKind } from '../../core/discovery/resources.ts';
import type { ResourceVersionMessage } from '../../core/grpc/protos.ts';
import type { WaypointRef } from '../../core/model/index.ts';
import {
  compareResourceSets,
  type ResourceBlock,
  type ResourceChanges,
  type ResourceSet,
  type SharedGeneration,
} from './generation.ts';

export interface SubscriberInfo {
  kind: SubscriberKind;
  node: string;
  waypoint?: WaypointRef | undefined;
  instance: string;
  peer: string;
}

/**
 * A subscriber's view: the generation every subscriber of its kind shares, and the resources of its own. An
 * own resource overrides a shared one of the same key (a ztunnel's own workloads in full over their remote
 * forms), so the client holds one version per key: the own one while there is one, else the shared one.
 */
export interface SubscriberView {
  shared: SharedGeneration;
  own: ResourceSet;
  /**
   * The groups of shared keys that some view owns (each node's workloads), so that the shared part's blocks
   * (`generation.ts`) keep a client's overrides apart from what it takes whole.
   */
  groups?: (() => Iterable<readonly string[]>) | undefined;
}

/**
 * What the control plane knows a client holds: a shared generation and the own resources it ACKed (the very
 * set, so that a view whose own part is the same set needs no comparison), or, until its first ACK after a
 * reconnect, only the versions it declared.
 */
type Held =
  | { shared: SharedGeneration; own: ResourceSet }
  | { shared: undefined; versions: ReadonlyMap<string, string> };

const NO_CHANGES: ResourceChanges = { changed: [], removed: [] };
const encodedVersion = (resource: EncodedResource) => resource.version;

interface InFlight {
  nonce: string;
  version: string;
  held: Held;
  /** When the change that this push carries happened (for convergence time). */
  changedAt: number;
}

export interface PushDiff {
  /** Blocks of shared resources sent whole (a new client's snapshot), then single resources. */
  blocks: ResourceBlock[];
  resources: EncodedResource[];
  removed: ResourceVersionMessage[];
}

/** A response to send: a diff with its version and nonce. */
export interface PushResponse extends PushDiff {
  version: string;
  nonce: string;
}

const NO_GROUPS = () => [];

/**
 * What a client that holds nothing needs: the shared part's blocks, whole but for the few holding keys the
 * view owns (a ztunnel's own workloads, in blocks of their own), and the own resources.
 */
function wholeView(view: SubscriberView): PushDiff {
  const { blocks, blockOf } = view.shared.blocks(view.groups ?? NO_GROUPS);
  const overridden = new Set<number>();
  for (const key of view.own.keys()) {
    const at = blockOf.get(key);
    if (at !== undefined) overridden.add(at);
  }
  const whole: ResourceBlock[] = [];
  const resources = [...view.own.values()];
  blocks.forEach((block, at) => {
    if (!overridden.has(at)) whole.push(block);
    else
      for (const resource of block.resources)
        if (!view.own.has(resourceKey(resource.type, resource.name))) resources.push(resource);
  });
  return { blocks: whole, resources, removed: [] };
}

const sameVersion = (version: string) => version;

/** What a client holding `held` needs to hold `view`. */
function diffView(view: SubscriberView, held: Held): PushDiff {
  if (!held.shared && held.versions.size === 0) return wholeView(view);
  const send = new Map<string, EncodedResource>();
  const drop = new Set<string>();
  let own: ResourceChanges;
  let heldVersion: (key: string) => string | undefined;
  if (held.shared) {
    // Shared changes to a key the view owns are not the client's: the own version governs it.
    const shared = held.shared.changesTo(view.shared);
    for (const resource of shared.changed) {
      const key = resourceKey(resource.type, resource.name);
      if (!view.own.has(key)) send.set(key, resource);
    }
    for (const key of shared.removed) if (!view.own.has(key)) drop.add(key);
    own = held.own === view.own ? NO_CHANGES : compareResourceSets(view.own, held.own, encodedVersion);
    heldVersion = (key) => held.own.get(key)?.version;
  } else {
    // Declared versions mix both parts: compare the shared part where the view does not own the key.
    for (const [key, resource] of view.shared.resources)
      if (!view.own.has(key) && held.versions.get(key) !== resource.version) send.set(key, resource);
    own = compareResourceSets(view.own, held.versions, sameVersion);
    heldVersion = (key) => held.versions.get(key);
  }
  for (const resource of own.changed) send.set(resourceKey(resource.type, resource.name), resource);
  for (const key of own.removed) {
    // A key the view no longer owns falls back to its shared version, if the shared part has one.
    const shared = view.shared.resources.get(key);
    if (shared === undefined) drop.add(key);
    else if (heldVersion(key) !== shared.version) send.set(key, shared);
  }
  const removed: ResourceVersionMessage[] = [];
  for (const key of drop) {
    const slash = key.indexOf('/');
    removed.push({ type: key.slice(0, slash), name: key.slice(slash + 1), version: '' });
  }
  return { blocks: [], resources: [...send.values()], removed };
}

export class Subscription {
  readonly id: string;
  readonly info: SubscriberInfo;
  readonly connectedAt = new Date();
  private held: Held;
  private inFlight: InFlight | undefined;
  /** A newer view exists than the one in flight. */
  private dirty = false;
  private ackedVersion: string | undefined;
  /** The newest version whose view the client holds in full (ACKed, or it needed nothing of it). */
  private syncedVersion: string | undefined;
  /** The version of the latest view prepared for the client (sent, or found already held). */
  private preparedVersion: string | undefined;
  private nacks = 0;
  private lastNack: NackStatus | undefined;

  constructor(id: string, info: SubscriberInfo, initial: readonly ResourceVersionMessage[]) {
    this.id = id;
    this.info = info;
    this.held = {
      shared: undefined,
      versions: new Map(
        initial.map((resource) => [resourceKey(resource.type, resource.name), resource.version]),
      ),
    };
  }

  /**
   * The response to send for `view` (version `version`), or undefined when one is in flight (it will be
   * sent after the answer) or when the client already holds exactly `view` (unless `force`, used for the
   * first response of a stream, which confirms the client's state).
   */
  prepare(view: SubscriberView, version: string, changedAt: number, force = false): PushResponse | undefined {
    if (this.inFlight) {
      this.dirty = true;
      return undefined;
    }
    this.dirty = false;
    this.preparedVersion = version;
    const diff = diffView(view, this.held);
    if (!force && diff.blocks.length === 0 && diff.resources.length === 0 && diff.removed.length === 0) {
      this.ackedVersion ??= version;
      this.syncedVersion = version;
      return undefined;
    }
    const nonce = randomBytes(8).toString('hex');
    this.inFlight = { nonce, version, held: { shared: view.shared, own: view.own }, changedAt };
    return { version, nonce, ...diff };
  }

  /**
   * Records an ACK or NACK. Returns the in-flight push it answers (undefined for a stale nonce) and whether
   * a newer view is waiting to be sent.
   */
  answer(nonce: string, error: string): { answered?: InFlight | undefined; resend: boolean } {
    const inFlight = this.inFlight;
    if (!inFlight || inFlight.nonce !== nonce) return { resend: false };
    this.inFlight = undefined;
    if (error === '') {
      this.held = inFlight.held;
      this.ackedVersion = inFlight.version;
      this.syncedVersion = inFlight.version;
    } else {
      this.nacks++;
      this.lastNack = { version: inFlight.version, message: error, at: new Date().toISOString() };
    }
    return { answered: inFlight, resend: this.dirty };
  }

  /**
   * The client's standing. In sync: it holds the latest view prepared for it (nothing in flight or waiting,
   * and that view ACKed or already held), known without comparing views, since every published view is
   * prepared for every client: rollout waits ask this of every client at every ACK.
   */
  status(): ClientStatus {
    return {
      id: this.id,
      kind: this.info.kind,
      node: this.info.node,
      waypoint: this.info.waypoint ? `${this.info.waypoint.namespace}/${this.info.waypoint.name}` : undefined,
      instance: this.info.instance,
      peer: this.info.peer,
      connectedAt: this.connectedAt.toISOString(),
      ackedVersion: this.ackedVersion,
      syncedVersion: this.syncedVersion,
      inSync:
        !this.inFlight &&
        !this.dirty &&
        this.preparedVersion !== undefined &&
        this.syncedVersion === this.preparedVersion,
      nacks: this.nacks,
      lastNack: this.lastNack,
    };
  }
}
