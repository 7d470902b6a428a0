/**
 * The resources every subscriber receives alike (workloads, services, the trust bundle: most of the bytes of
 * every view), as one immutable generation per published mesh, each linked to the changes that lead to the
 * next. A client known to hold generation G is brought up to date with the changes since G, so a change costs
 * the control plane one pass over the mesh, then work proportional to the change per client, instead of a
 * comparison of the whole mesh for each client.
 */
import { type EncodedResource, resourceKey } from '../../core/discovery/resources.ts';

export type ResourceSet = ReadonlyMap<string, EncodedResource>;

/** What turns one set of resources into another: resources to send and keys to drop. */
export interface ResourceChanges {
  changed: EncodedResource[];
  removed: string[];
}

/**
 * Consecutive resources serialized together once (`wire.ts`) and sent whole to every client that needs all of
 * them: a new client's snapshot is a few hundred blocks instead of one piece of work per resource.
 */
export interface ResourceBlock {
  resources: readonly EncodedResource[];
  bodyBytes: number;
}

/** A generation's resources as blocks, and which block each key is in. */
export interface GenerationBlocks {
  blocks: readonly ResourceBlock[];
  blockOf: ReadonlyMap<string, number>;
}

/** The resource bodies a block holds at most (a single larger resource is a block alone). */
const BLOCK_BYTES = 64 * 1024;

/**
 * `resources` as blocks: first each group's keys (those present) in blocks of their own, then the rest in
 * order. A group is what one client gets in another form (a node's own workloads), so that a block holds
 * either none of a client's overrides or only them, and every other block goes to it whole.
 */
export function resourceBlocks(
  resources: ResourceSet,
  groups: Iterable<readonly string[]>,
): GenerationBlocks {
  const blocks: ResourceBlock[] = [];
  const blockOf = new Map<string, number>();
  let open: { resources: EncodedResource[]; bodyBytes: number } | undefined;
  const close = () => {
    if (open) blocks.push(open);
    open = undefined;
  };
  const put = (key: string, resource: EncodedResource) => {
    if (open && open.bodyBytes + resource.body.length > BLOCK_BYTES) close();
    open ??= { resources: [], bodyBytes: 0 };
    open.resources.push(resource);
    open.bodyBytes += resource.body.length;
    blockOf.set(key, blocks.length);
  };
  for (const group of groups) {
    for (const key of group) {
      const resource = resources.get(key);
      if (resource !== undefined && !blockOf.has(key)) put(key, resource);
    }
    close();
  }
  for (const [key, resource] of resources) if (!blockOf.has(key)) put(key, resource);
  close();
  return { blocks, blockOf };
}

/** How many generations a lagging client is walked through before a full comparison is cheaper. */
const MAX_WALK = 32;

const encodedVersion = (resource: EncodedResource) => resource.version;

/** Every resource of `target` whose version `held` lacks, and the keys of `held` that `target` lacks. */
export function compareResourceSets<Held>(
  target: ResourceSet,
  held: ReadonlyMap<string, Held>,
  versionOf: (value: Held) => string,
): ResourceChanges {
  const changed: EncodedResource[] = [];
  for (const [key, resource] of target) {
    const before = held.get(key);
    if (before === undefined || versionOf(before) !== resource.version) changed.push(resource);
  }
  const removed: string[] = [];
  for (const key of held.keys()) if (!target.has(key)) removed.push(key);
  return { changed, removed };
}

export class SharedGeneration {
  readonly resources: ResourceSet;
  /** The changes to the next generation, once there is one. */
  private successor: { generation: SharedGeneration; changes: ResourceChanges } | undefined;
  private blockCache: GenerationBlocks | undefined;

  constructor(resources: ResourceSet) {
    this.resources = resources;
  }

  /** The generation holding `resources`: this one when nothing changed, else a new one linked from this. */
  advance(resources: ResourceSet): SharedGeneration {
    return this.succeed(resources, compareResourceSets(resources, this.resources, encodedVersion));
  }

  /**
   * The generation with `changed` put in and `removed` (keys) taken out, without a comparison of the rest:
   * this one when that changes nothing.
   */
  advanceBy(changed: readonly EncodedResource[], removed: readonly string[]): SharedGeneration {
    const resources = new Map(this.resources);
    const changes: ResourceChanges = { changed: [], removed: [] };
    for (const resource of changed) {
      const key = resourceKey(resource.type, resource.name);
      if (resources.get(key)?.version === resource.version) continue;
      resources.set(key, resource);
      changes.changed.push(resource);
    }
    for (const key of removed) if (resources.delete(key)) changes.removed.push(key);
    return this.succeed(resources, changes);
  }

  private succeed(resources: ResourceSet, changes: ResourceChanges): SharedGeneration {
    if (changes.changed.length === 0 && changes.removed.length === 0) return this;
    const generation = new SharedGeneration(resources);
    this.successor = { generation, changes };
    return generation;
  }

  /**
   * This generation as blocks (made the first time a new client needs it, then kept), grouped by `groups`
   * (called then): the same for every client of a generation.
   */
  blocks(groups: () => Iterable<readonly string[]>): GenerationBlocks {
    this.blockCache ??= resourceBlocks(this.resources, groups());
    return this.blockCache;
  }

  /** What a client holding this generation needs to hold `later` (a generation advanced from this one). */
  changesTo(later: SharedGeneration): ResourceChanges {
    if (later === this) return { changed: [], removed: [] };
    // Net effect of each step in order: the last word on a key wins (added then removed is removed).
    const net = new Map<string, EncodedResource | null>();
    let at: SharedGeneration = this;
    for (let steps = 0; at !== later; steps++) {
      const next = at.successor;
      if (!next || steps === MAX_WALK)
        return compareResourceSets(later.resources, this.resources, encodedVersion);
      for (const resource of next.changes.changed)
        net.set(resourceKey(resource.type, resource.name), resource);
      for (const key of next.changes.removed) net.set(key, null);
      at = next.generation;
    }
    const changes: ResourceChanges = { changed: [], removed: [] };
    for (const [key, resource] of net) {
      const held = this.resources.get(key);
      if (resource === null) {
        if (held) changes.removed.push(key);
      } else if (held?.version !== resource.version) {
        changes.changed.push(resource);
      }
    }
    return changes;
  }
}
