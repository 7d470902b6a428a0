/**
 * The control plane's state directory: its layout, and crash-safe file writes (a restart never finds a
 * half-written file: write a temporary file, fsync, rename).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type ControlPaths, controlPaths } from '../../core/control-api/paths.ts';
import { AmbitError } from '../../core/errors.ts';

/** The public paths (`controlPaths`) plus the control plane's private files. */
export interface StatePaths extends ControlPaths {
  /** Applied config (raw documents with their origin). */
  config: string;
  /** Pods reported by runtimes. */
  pods: string;
  /** Root CA key (mode 0600); its certificate is the public `rootCert`. */
  caKey: string;
}

export function statePaths(root: string): StatePaths {
  return {
    ...controlPaths(root),
    config: join(root, 'config.json'),
    pods: join(root, 'pods.json'),
    caKey: join(root, 'ca', 'root-key.pem'),
  };
}

export function writeFileAtomic(path: string, content: string, mode: number): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  const fd = openSync(temporary, 'w', mode);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
}

/** Reads a JSON file; undefined if it does not exist. A corrupt file is an error, not silently dropped state. */
export function readJsonFile<T>(path: string): T | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new AmbitError(
      'AMBIT_ERR_STATE_CORRUPT',
      `${path} is not valid JSON (${(error as Error).message}): move it away to start afresh`,
    );
  }
}
