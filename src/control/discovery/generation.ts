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
  /**
   * The resources: made whole (a generation built or compared in full), or the map this generation took over
   * from its predecessor and advanced in place (`advanceBy`), so that a change costs what it changed and not a
   * copy of the mesh. Undefined once a successor has taken it over in turn: `undo` then tells what this
   * generation held of the keys that step changed, and the rest is the successor's.
   */
  private held: ReadonlyMap<string, EncodedResource> | undefined;
  /** Whether `held` is this generation's own to advance in place (not a map it was given). */
  private inPlace = false;
  private undo: Map<string, EncodedResource | null> | undefined;
  /** The changes to the next generation, once there is one. */
  private successor: { generation: SharedGeneration; changes: ResourceChanges } | undefined;
  private blockCache: GenerationBlocks | undefined;

  constructor(resources: ResourceSet) {
    this.held = resources;
  }

  /** Every resource of this generation (for one that was advanced from, made again: a rare full comparison). */
  get resources(): ResourceSet {
    this.held ??= this.rebuilt();
    return this.held;
  }

  /** One resource of this generation: through the undo steps up to the generation that holds the map. */
  get(key: string): EncodedResource | undefined {
    let at: SharedGeneration = this;
    while (at.held === undefined) {
      const before = at.undo!.get(key);
      if (before !== undefined) return before ?? undefined;
      at = at.successor!.generation;
    }
    return at.held.get(key);
  }

  /** The generation holding `resources`: this one when nothing changed, else a new one linked from this. */
  advance(resources: ResourceSet): SharedGeneration {
    const changes = compareResourceSets(resources, this.resources, encodedVersion);
    if (changes.changed.length === 0 && changes.removed.length === 0) return this;
    return this.succeed(new SharedGeneration(resources), changes);
  }

  /**
   * The generation with `changed` put in and `removed` (keys) taken out, without a comparison of the rest:
   * this one when that changes nothing. The map is taken over and changed in place (a copy only the first
   * time, or when this generation was advanced from already).
   */
  advanceBy(changed: readonly EncodedResource[], removed: readonly string[]): SharedGeneration {
    const changes: ResourceChanges = { changed: [], removed: [] };
    const undo = new Map<string, EncodedResource | null>();
    const current = this.resources;
    for (const resource of changed) {
      const key = resourceKey(resource.type, resource.name);
      const before = current.get(key);
      if (before?.version === resource.version) continue;
      if (!undo.has(key)) undo.set(key, before ?? null);
      changes.changed.push(resource);
    }
    // As if each change were put in first: a key put in above and removed here is removed.
    const gone = new Set<string>();
    for (const key of removed) {
      if (gone.has(key) || (!undo.has(key) && !current.has(key))) continue;
      if (!undo.has(key)) undo.set(key, current.get(key)!);
      gone.add(key);
      changes.removed.push(key);
    }
    if (changes.changed.length === 0 && changes.removed.length === 0) return this;
    const resources =
      this.inPlace && this.successor === undefined
        ? (current as Map<string, EncodedResource>)
        : new Map(current);
    for (const resource of changes.changed)
      resources.set(resourceKey(resource.type, resource.name), resource);
    for (const key of changes.removed) resources.delete(key);
    const generation = new SharedGeneration(resources);
    generation.inPlace = true;
    if (resources === current) {
      this.held = undefined;
      this.undo = undo;
    }
    return this.succeed(generation, changes);
  }

  private succeed(generation: SharedGeneration, changes: ResourceChanges): SharedGeneration {
    this.successor = { generation, changes };
    return generation;
  }

  /** This generation's resources made again from the one holding the map, undoing each step back to this. */
  private rebuilt(): Map<string, EncodedResource> {
    const steps: Map<string, EncodedResource | null>[] = [];
    let at: SharedGeneration = this;
    while (at.held === undefined) {
      steps.push(at.undo!);
      at = at.successor!.generation;
    }
    const resources = new Map(at.held);
    for (const undo of steps.reverse())
      for (const [key, before] of undo) {
        if (before === null) resources.delete(key);
        else resources.set(key, before);
      }
    return resources;
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
      const held = this.get(key);
      if (resource === null) {
        if (held) changes.removed.push(key);
      } else if (held?.version !== resource.version) {
        changes.changed.push(resource);
      }
    }
    return changes;
  }
}
