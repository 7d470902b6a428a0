/**
 * One data-plane client's stream, as the control plane tracks it: what the client holds (the resources it
 * ACKed, or declared when it reconnected), what is in flight, and its NACKs. At most one response is in
 * flight; changes that arrive meanwhile are sent once it is answered. Diffs are computed against what the
 * client holds, so a NACKed response is never assumed applied.
 */
import { randomBytes } from 'node:crypto';
import type { ClientStatus, NackStatus } from '../../core/control-api/types.ts';
import { type EncodedResource, resourceKey, type SubscriberKind } from '../../core/discovery/resources.ts';
import type { DiscoveryResponseMessage, ResourceVersionMessage } from '../../core/grpc/protos.ts';
import type { WaypointRef } from '../../core/model/index.ts';

export type ResourceSet = ReadonlyMap<string, EncodedResource>;

export interface SubscriberInfo {
  kind: SubscriberKind;
  node: string;
  waypoint?: WaypointRef | undefined;
  instance: string;
  peer: string;
}

interface InFlight {
  nonce: string;
  version: string;
  target: Map<string, string>;
  /** When the change that this push carries happened (for convergence time). */
  changedAt: number;
}

export interface PushDiff {
  resources: EncodedResource[];
  removed: ResourceVersionMessage[];
}

/** Resources of `target` whose version `held` lacks, and the held keys `target` no longer has. */
export function diffResources(target: ResourceSet, held: ReadonlyMap<string, string>): PushDiff {
  const resources: EncodedResource[] = [];
  for (const [key, resource] of target) if (held.get(key) !== resource.version) resources.push(resource);
  const removed: ResourceVersionMessage[] = [];
  for (const key of held.keys()) {
    if (!target.has(key)) {
      const slash = key.indexOf('/');
      removed.push({ type: key.slice(0, slash), name: key.slice(slash + 1), version: '' });
    }
  }
  return { resources, removed };
}

export class Subscription {
  readonly id: string;
  readonly info: SubscriberInfo;
  readonly connectedAt = new Date();
  /** Resource key -> version the client holds. */
  private held: Map<string, string>;
  private inFlight: InFlight | undefined;
  /** A newer view exists than the one in flight. */
  private dirty = false;
  private ackedVersion: string | undefined;
  /** The newest version whose view the client holds in full (ACKed, or it needed nothing of it). */
  private syncedVersion: string | undefined;
  private nacks = 0;
  private lastNack: NackStatus | undefined;

  constructor(id: string, info: SubscriberInfo, initial: readonly ResourceVersionMessage[]) {
    this.id = id;
    this.info = info;
    this.held = new Map(
      initial.map((resource) => [resourceKey(resource.type, resource.name), resource.version]),
    );
  }

  /**
   * The response to send for `target` (version `version`), or undefined when one is in flight (it will be
   * sent after the answer) or when the client already holds exactly `target` (unless `force`, used for the
   * first response of a stream, which confirms the client's state).
   */
  prepare(
    target: ResourceSet,
    version: string,
    changedAt: number,
    force = false,
  ): DiscoveryResponseMessage | undefined {
    if (this.inFlight) {
      this.dirty = true;
      return undefined;
    }
    this.dirty = false;
    const diff = diffResources(target, this.held);
    if (!force && diff.resources.length === 0 && diff.removed.length === 0) {
      this.ackedVersion ??= version;
      this.syncedVersion = version;
      return undefined;
    }
    const nonce = randomBytes(8).toString('hex');
    this.inFlight = {
      nonce,
      version,
      target: new Map([...target].map(([key, resource]) => [key, resource.version])),
      changedAt,
    };
    return { version, nonce, resources: diff.resources, removed: diff.removed };
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
      this.held = inFlight.target;
      this.ackedVersion = inFlight.version;
      this.syncedVersion = inFlight.version;
    } else {
      this.nacks++;
      this.lastNack = { version: inFlight.version, message: error, at: new Date().toISOString() };
    }
    return { answered: inFlight, resend: this.dirty };
  }

  status(target: ResourceSet | undefined): ClientStatus {
    const diff = target ? diffResources(target, this.held) : undefined;
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
        !this.inFlight && diff !== undefined && diff.resources.length === 0 && diff.removed.length === 0,
      nacks: this.nacks,
      lastNack: this.lastNack,
    };
  }
}
