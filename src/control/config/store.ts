/**
 * The config in force: every resource with the document it came from and its origin (`api` for `ambit
 * apply`, `file:<path>` for a watched file). Every change is validated as a whole before anything is stored
 * (the Galley role): a set with any error changes nothing and the previous config stays in force. Each
 * change bumps the revision and is persisted, so config survives a restart.
 *
 * Replicas of the control plane share the file: given the state directory's lock, every change is made under
 * it, on top of what another replica last wrote (revisions count across replicas), and `refresh` takes in
 * another replica's change when the file is seen to change.
 */
import type { RawDocument } from '../../core/config/documents.ts';
import { ConfigError, type ConfigIssue, formatIssue, hasErrors } from '../../core/config/issues.ts';
import {
  displayName,
  type KindRegistry,
  parseResources,
  type Resource,
  resourceKey,
} from '../../core/config/resource.ts';
import {
  type ConfigSizeLimits,
  DEFAULT_CONFIG_SIZE_LIMITS,
  encodedSize,
  oversizedConfig,
} from '../../core/config/size-limits.ts';
import type { ApplyResult, ConfigFile, DeleteResult } from '../../core/control-api/types.ts';
import { AmbitError } from '../../core/errors.ts';
import type { StateLock } from '../state/lock.ts';
import { SharedStateFile } from '../state/shared-file.ts';
import { analyzeResources } from './analyze.ts';
import { type ParsedFiles, parseFiles, sourceKey } from './parse.ts';

export const API_ORIGIN = 'api';

export interface StoredEntry {
  resource: Resource;
  /** The document as the user wrote it (parsed YAML), what `ambit get -o yaml` prints. */
  document: unknown;
  origin: string;
}

interface PersistedState {
  revision: number;
  entries: { origin: string; source: RawDocument['source']; document: unknown }[];
  /** Digest of each watched file's content as last applied (see `appliedDigest`). */
  applied?: Record<string, string> | undefined;
}

function label(resource: Resource): string {
  return `${resource.kind} ${displayName(resource)}`;
}

export class ConfigStore {
  private readonly entries = new Map<string, StoredEntry>();
  private readonly registry: KindRegistry;
  private readonly file: SharedStateFile | undefined;
  private readonly trustDomain: string;
  private readonly limits: ConfigSizeLimits;
  private readonly listeners: (() => void)[] = [];
  /** origin -> digest of the file content last applied from it. */
  private readonly appliedDigests = new Map<string, string>();
  private currentRevision = 0;

  /**
   * `file` persists the config; undefined keeps it in memory (tests, `ambit analyze`). `lock` shares the
   * file with other replicas (see above).
   */
  constructor(
    registry: KindRegistry,
    trustDomain: string,
    file?: string,
    limits: ConfigSizeLimits = DEFAULT_CONFIG_SIZE_LIMITS,
    lock?: StateLock,
  ) {
    this.registry = registry;
    this.trustDomain = trustDomain;
    this.limits = limits;
    this.file = file === undefined ? undefined : new SharedStateFile(file, lock);
    if (this.file) this.load(this.file);
  }

  /**
   * Takes in what another replica wrote since this one last read or wrote the file; true (and the listeners
   * told) when the config changed. Throws STATE_CORRUPT, keeping the config in force, when it does not validate.
   */
  refresh(): boolean {
    if (!this.file?.changedOnDisk()) return false;
    const revision = this.currentRevision;
    this.load(this.file);
    if (this.currentRevision === revision) return false;
    for (const listener of this.listeners) listener();
    return true;
  }

  /** Runs a change as the only writer, on top of the latest config on disk. */
  private exclusive<T>(work: () => T): T {
    const file = this.file;
    return file ? file.exclusive(() => this.refresh(), work) : work();
  }

  get revision(): number {
    return this.currentRevision;
  }

  resources(): Resource[] {
    return [...this.entries.values()].map((entry) => entry.resource);
  }

  list(): StoredEntry[] {
    return [...this.entries.values()];
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Creates or replaces the resources of `files` (origin `api`, unless given). Throws ConfigError on any error. */
  apply(files: readonly ConfigFile[], origin = API_ORIGIN): ApplyResult {
    const parsed = parseFiles(files, this.registry, this.limits);
    if (hasErrors(parsed.issues)) throw new ConfigError(parsed.issues);
    return this.exclusive(() => this.commit(parsed, origin, []));
  }

  /**
   * Makes the resources of `files` the complete set owned by `origin` (a watched file): resources it owned
   * and no longer defines are removed. Throws ConfigError (and changes nothing) on any error. `digest`
   * (of the file's content) is remembered with the config: see `appliedDigest`.
   */
  replaceOrigin(origin: string, files: readonly ConfigFile[], digest?: string): ApplyResult {
    const parsed = parseFiles(files, this.registry, this.limits);
    if (hasErrors(parsed.issues)) throw new ConfigError(parsed.issues);
    return this.exclusive(() => this.replaceOriginWith(origin, parsed, digest));
  }

  private replaceOriginWith(origin: string, parsed: ParsedFiles, digest: string | undefined): ApplyResult {
    const defined = new Set(parsed.resources.map(resourceKey));
    const removed = [...this.entries]
      .filter(([key, entry]) => entry.origin === origin && !defined.has(key))
      .map(([key]) => key);
    const revision = this.currentRevision;
    const result = this.commit(parsed, origin, removed);
    if (digest !== undefined && this.appliedDigests.get(origin) !== digest) {
      this.appliedDigests.set(origin, digest);
      // Nothing else changed (the file's resources were already in force): persist the digest alone.
      if (this.file && this.currentRevision === revision) this.persist(this.file);
    }
    return result;
  }

  /**
   * The digest given with the content last applied from `origin`. A file whose content has not changed
   * since is not applied again (at a restart, say), so that it does not undo what was applied over it
   * later through the API: a restart keeps the config that was in force.
   */
  appliedDigest(origin: string): string | undefined {
    return this.appliedDigests.get(origin);
  }

  /** Removes every resource that `origin` owns (a watched file was deleted). */
  removeOrigin(origin: string): string[] {
    return this.exclusive(() => this.removeOriginNow(origin));
  }

  private removeOriginNow(origin: string): string[] {
    const forgotten = this.appliedDigests.delete(origin);
    const removed = [...this.entries].filter(([, entry]) => entry.origin === origin).map(([key]) => key);
    if (removed.length === 0) {
      if (forgotten && this.file) this.persist(this.file);
      return [];
    }
    const labels = removed.map((key) => label(this.entries.get(key)!.resource));
    for (const key of removed) this.entries.delete(key);
    this.changed();
    return labels;
  }

  /** Origins of the stored resources and applied files (to drop those of files that no longer exist). */
  origins(): Set<string> {
    return new Set(
      [...this.entries.values()].map((entry) => entry.origin).concat([...this.appliedDigests.keys()]),
    );
  }

  /** Deletes the resources `files` define (by kind, namespace and name; their content need not match). */
  delete(files: readonly ConfigFile[]): DeleteResult {
    const parsed = parseFiles(files, this.registry, this.limits);
    return this.exclusive(() => this.deleteNow(parsed));
  }

  private deleteNow(parsed: ParsedFiles): DeleteResult {
    const before = this.warnings(this.resources());
    const deleted: string[] = [];
    const notFound: string[] = [];
    const targets = identitiesOf(parsed);
    if (targets.errors.length > 0) throw new ConfigError(targets.errors);
    for (const target of targets.keys) {
      const entry = this.entries.get(target.key);
      if (entry) deleted.push(label(entry.resource));
      else notFound.push(target.label);
    }
    if (deleted.length > 0) {
      for (const target of targets.keys) this.entries.delete(target.key);
      this.changed();
    }
    return {
      revision: this.currentRevision,
      deleted,
      notFound,
      issues: newIssues(before, this.warnings(this.resources())),
    };
  }

  private commit(parsed: ParsedFiles, origin: string, removedKeys: readonly string[]): ApplyResult {
    const merged = new Map([...this.entries].map(([key, entry]) => [key, entry.resource]));
    for (const key of removedKeys) merged.delete(key);
    for (const resource of parsed.resources) merged.set(resourceKey(resource), resource);
    this.checkConfigSize(parsed, merged);
    const before = this.warnings(this.resources());
    const after = this.warnings([...merged.values()]);
    const applied = new Set(parsed.resources.map(resourceKey));
    const issues = [
      ...parsed.issues,
      ...after.filter(
        (issue) =>
          applied.has(issueKey(issue)) || !before.some((old) => formatIssue(old) === formatIssue(issue)),
      ),
    ];
    const result: ApplyResult = {
      revision: this.currentRevision,
      created: [],
      configured: [],
      unchanged: [],
      issues,
    };
    let changed = removedKeys.length > 0;
    for (const key of removedKeys) this.entries.delete(key);
    for (const resource of parsed.resources) {
      const key = resourceKey(resource);
      const document = parsed.documents.get(sourceKey(resource.source));
      const existing = this.entries.get(key);
      if (existing && existing.origin !== origin && origin !== API_ORIGIN && existing.origin !== API_ORIGIN) {
        issues.push({
          severity: 'warning',
          source: resource.source,
          resource: {
            kind: resource.kind,
            name: resource.metadata.name,
            namespace: resource.metadata.namespace,
          },
          path: '',
          message: `also defined by ${existing.origin.replace(/^file:/, '')}; this definition replaces it`,
        });
      }
      if (
        existing &&
        JSON.stringify(existing.document) === JSON.stringify(document) &&
        existing.origin === origin
      ) {
        result.unchanged.push(label(resource));
        continue;
      }
      (existing ? result.configured : result.created).push(label(resource));
      this.entries.set(key, { resource, document, origin });
      changed = true;
    }
    if (changed) this.changed();
    result.revision = this.currentRevision;
    return result;
  }

  /** Throws ConfigError when the config after this change would outgrow what a push can carry. */
  private checkConfigSize(parsed: ParsedFiles, merged: ReadonlyMap<string, Resource>): void {
    const sizes = new Map<string, number>();
    for (const [key, entry] of this.entries) if (merged.has(key)) sizes.set(key, encodedSize(entry.document));
    let largest: { document: RawDocument; bytes: number } | undefined;
    for (const resource of parsed.resources) {
      const document = { source: resource.source, value: parsed.documents.get(sourceKey(resource.source)) };
      const bytes = encodedSize(document.value);
      sizes.set(resourceKey(resource), bytes);
      if (!largest || bytes > largest.bytes) largest = { document, bytes };
    }
    if (!largest) return;
    let total = 0;
    for (const bytes of sizes.values()) total += bytes;
    const issue = oversizedConfig(total, largest.document, this.limits.configBytes);
    if (issue) throw new ConfigError([issue]);
  }

  private warnings(resources: readonly Resource[]): ConfigIssue[] {
    return analyzeResources(resources, this.trustDomain);
  }

  private changed(): void {
    this.currentRevision++;
    if (this.file) this.persist(this.file);
    for (const listener of this.listeners) listener();
  }

  private persist(file: SharedStateFile): void {
    const state: PersistedState = {
      revision: this.currentRevision,
      entries: this.list().map((entry) => ({
        origin: entry.origin,
        source: entry.resource.source,
        document: entry.document,
      })),
      applied: Object.fromEntries(this.appliedDigests),
    };
    file.save(JSON.stringify(state), 0o600);
  }

  /** Replaces what is in memory with the file's content (nothing changes when it does not validate). */
  private load(file: SharedStateFile): void {
    const state = file.readJson<PersistedState>();
    if (!state) return;
    // Re-validated on load: what is enforced is always what the current parsers accept. Stored config that no
    // longer validates stops the start rather than being dropped (dropping an ALLOW policy would open access).
    const parsed = parseResources(
      state.entries.map((entry) => ({ source: entry.source, value: entry.document })),
      this.registry,
    );
    if (hasErrors(parsed.issues)) {
      throw new AmbitError(
        'STATE_CORRUPT',
        `stored config in ${file.path} no longer validates:\n${parsed.issues
          .filter((i) => i.severity === 'error')
          .map((i) => `  ${formatIssue(i)}`)
          .join('\n')}\nfix or remove it, then start again`,
      );
    }
    const bySource = new Map(state.entries.map((entry) => [sourceKey(entry.source), entry]));
    this.entries.clear();
    this.appliedDigests.clear();
    for (const resource of parsed.resources) {
      const entry = bySource.get(sourceKey(resource.source))!;
      this.entries.set(resourceKey(resource), { resource, document: entry.document, origin: entry.origin });
    }
    for (const [origin, digest] of Object.entries(state.applied ?? {}))
      this.appliedDigests.set(origin, digest);
    this.currentRevision = state.revision;
  }
}

function issueKey(issue: ConfigIssue): string {
  const resource = issue.resource;
  return resource ? `${resource.kind}/${resource.namespace ?? ''}/${resource.name}` : '';
}

function newIssues(before: readonly ConfigIssue[], after: readonly ConfigIssue[]): ConfigIssue[] {
  const known = new Set(before.map(formatIssue));
  return after.filter((issue) => !known.has(formatIssue(issue)));
}

/**
 * What a delete refers to: kind, namespace and name of each document. Only the envelope must be valid (a
 * stale file whose spec no longer validates can still delete its resources).
 */
function identitiesOf(parsed: ParsedFiles): {
  keys: { key: string; label: string }[];
  errors: ConfigIssue[];
} {
  const errors = parsed.issues.filter(
    (issue) =>
      issue.severity === 'error' &&
      (issue.path === '' ||
        issue.path.startsWith('metadata') ||
        issue.path === 'kind' ||
        issue.path === 'apiVersion'),
  );
  const keys = new Map<string, string>();
  for (const resource of parsed.resources) keys.set(resourceKey(resource), label(resource));
  for (const issue of parsed.issues) {
    // A document whose spec is invalid was left out of `resources`; it still names a resource to delete.
    if (issue.severity !== 'error' || !issue.resource?.name || errors.includes(issue)) continue;
    const { kind, namespace, name } = issue.resource;
    keys.set(`${kind}/${namespace ?? ''}/${name}`, `${kind} ${namespace ? `${namespace}/` : ''}${name}`);
  }
  return { keys: [...keys].map(([key, text]) => ({ key, label: text })), errors };
}
