/**
 * Config files and directories given at start, watched: each file is its own origin in the store, so a
 * change to one file is validated and applied alone, a bad edit is reported and ignored (the file's previous
 * content stays in force), and a deleted file's resources go away. Editors that save by rename are handled
 * by watching the directories, not the files.
 */
import { createHash } from 'node:crypto';
import { existsSync, type FSWatcher, readFileSync, statSync, watch } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { expandConfigPaths } from '../../core/config/documents.ts';
import { ConfigError, formatIssue } from '../../core/config/issues.ts';
import { errorMessage } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import type { ConfigStore } from './store.ts';

export const FILE_ORIGIN_PREFIX = 'file:';
const SETTLE_MS = 100;

function isYaml(name: string): boolean {
  return ['.yaml', '.yml'].includes(extname(name));
}

export interface FileSourceEvents {
  /** A file's change was refused; the previous config stays. */
  onRejected?: (file: string, error: Error) => void;
  onApplied?: (file: string) => void;
}

export class FileSource {
  private readonly store: ConfigStore;
  private readonly log: Logger;
  private readonly paths: string[];
  private readonly events: FileSourceEvents;
  private readonly watchers: FSWatcher[] = [];
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Content hash last applied (or refused) per file, so that spurious watch events do nothing. */
  private readonly seen = new Map<string, string>();

  constructor(store: ConfigStore, paths: readonly string[], log: Logger, events: FileSourceEvents = {}) {
    this.store = store;
    this.log = log;
    this.paths = paths.map((path) => resolve(path));
    this.events = events;
  }

  /** Loads every file once (dropping stored config of files that no longer exist), then watches. */
  start(): void {
    const files = new Set(expandConfigPaths(this.paths).map((file) => resolve(file)));
    for (const origin of this.store.origins()) {
      if (origin.startsWith(FILE_ORIGIN_PREFIX) && !files.has(origin.slice(FILE_ORIGIN_PREFIX.length))) {
        const removed = this.store.removeOrigin(origin);
        this.log.info('config file gone: its resources were removed', {
          file: origin.slice(FILE_ORIGIN_PREFIX.length),
          removed,
        });
      }
    }
    for (const file of files) this.sync(file);
    const directories = new Set<string>();
    for (const path of this.paths) directories.add(statSync(path).isDirectory() ? path : dirname(path));
    for (const directory of directories) {
      const watcher = watch(directory, (_event, name) => {
        if (!name) return;
        const file = join(directory, name.toString());
        if (this.covers(file)) this.schedule(file);
      });
      watcher.on('error', (error) =>
        this.log.warn('config watch failed', { directory, error: error.message }),
      );
      this.watchers.push(watcher);
    }
  }

  stop(): void {
    for (const watcher of this.watchers) watcher.close();
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  private covers(file: string): boolean {
    return this.paths.some((path) => path === file || (dirname(file) === path && isYaml(basename(file))));
  }

  /** Editors write in several steps: wait until the file settles. */
  private schedule(file: string): void {
    clearTimeout(this.timers.get(file));
    this.timers.set(
      file,
      setTimeout(() => {
        this.timers.delete(file);
        this.sync(file);
      }, SETTLE_MS),
    );
  }

  private sync(file: string): void {
    const origin = `${FILE_ORIGIN_PREFIX}${file}`;
    if (!existsSync(file)) {
      this.seen.delete(file);
      const removed = this.store.removeOrigin(origin);
      if (removed.length > 0) this.log.info('config file removed', { file, removed });
      return;
    }
    let content: string;
    try {
      content = readFileSync(file, 'utf8');
    } catch (error) {
      this.log.warn('cannot read config file', { file, error: errorMessage(error) });
      return;
    }
    const digest = createHash('sha256').update(content).digest('hex');
    if (this.seen.get(file) === digest) return;
    this.seen.set(file, digest);
    // Already applied (before a restart): applying it again would undo later `ambit apply`s over it.
    if (this.store.appliedDigest(origin) === digest) return;
    try {
      const result = this.store.replaceOrigin(origin, [{ name: basename(file), content }], digest);
      for (const issue of result.issues) this.log.warn('config warning', { file, issue: formatIssue(issue) });
      if (result.created.length + result.configured.length > 0) {
        this.log.info('config file applied', {
          file,
          revision: result.revision,
          created: result.created,
          configured: result.configured,
        });
      }
      this.events.onApplied?.(file);
    } catch (error) {
      const issues = error instanceof ConfigError ? error.issues.map(formatIssue) : [errorMessage(error)];
      this.log.error('config file refused: the previous config stays in force', { file, issues });
      this.events.onRejected?.(file, error as Error);
    }
  }
}
