/**
 * A log of changes beside a state file that several control-plane replicas share (the reported pods'
 * `pods.log` beside `pods.json`): each write appends its entries as JSON lines, so a change costs the disk
 * what it changed, not the whole file. Writers hold the state directory's lock (`StateLock`); readers need
 * none: they take in the lines added since the offset they last read to, up to the last complete line (a
 * writer's append may be seen half done). Compaction replaces the log by an empty one (a rename, so a new
 * inode), which tells every reader to read the state file again from the start.
 */
import { closeSync, fstatSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { AmbitError } from '../../core/errors.ts';
import { writeFileAtomic } from '../../core/files.ts';

/** What a reader finds: the entries added since it last read, or that the log was replaced (`reset`). */
export type LogRead<Entry> = { reset: false; entries: Entry[] } | { reset: true };

const NEWLINE = 0x0a;

function inodeOf(path: string): bigint | undefined {
  try {
    return statSync(path, { bigint: true }).ino;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export class AppendLog<Entry> {
  readonly path: string;
  readonly #mode: number;
  /** The log this process read or wrote last (its inode) and how far: entries before `#offset` are taken in. */
  #inode: bigint | undefined;
  #offset = 0;
  #entries = 0;

  constructor(path: string, mode: number) {
    this.path = path;
    this.#mode = mode;
  }

  /** How many entries the log holds since it was last replaced (as far as this process has read). */
  get entries(): number {
    return this.#entries;
  }

  /** Every entry of the log as it is now, from its start (after a reload of the state file). */
  readAll(): Entry[] {
    this.#inode = inodeOf(this.path);
    this.#offset = 0;
    this.#entries = 0;
    return this.#readFrom();
  }

  /** The entries added since the last read, or `reset` when the log was replaced since (compacted). */
  readNew(): LogRead<Entry> {
    if (inodeOf(this.path) !== this.#inode) return { reset: true };
    return { reset: false, entries: this.#readFrom() };
  }

  /** Appends `entries` (the caller holds the lock and has read the log to its end). */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const fd = openSync(this.path, 'a', this.#mode);
    try {
      const bytes = Buffer.from(entries.map((entry) => `${JSON.stringify(entry)}\n`).join(''));
      writeSync(fd, bytes);
      this.#inode = fstatSync(fd, { bigint: true }).ino;
      this.#offset += bytes.length;
      this.#entries += entries.length;
    } finally {
      closeSync(fd);
    }
  }

  /** Replaces the log by an empty one (the caller holds the lock and has just written the state file). */
  replace(): void {
    writeFileAtomic(this.path, '', this.#mode);
    this.#inode = inodeOf(this.path);
    this.#offset = 0;
    this.#entries = 0;
  }

  #parse(line: string): Entry {
    try {
      return JSON.parse(line) as Entry;
    } catch (error) {
      throw new AmbitError('STATE_CORRUPT', `${this.path}: a line is not JSON (${(error as Error).message})`);
    }
  }

  #readFrom(): Entry[] {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    try {
      const size = fstatSync(fd).size;
      if (size <= this.#offset) return [];
      const buffer = Buffer.alloc(size - this.#offset);
      const read = readSync(fd, buffer, 0, buffer.length, this.#offset);
      const complete = buffer.lastIndexOf(NEWLINE, read - 1) + 1;
      if (complete === 0) return [];
      const entries = buffer
        .subarray(0, complete)
        .toString('utf8')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => this.#parse(line));
      this.#offset += complete;
      this.#entries += entries.length;
      return entries;
    } finally {
      closeSync(fd);
    }
  }
}
