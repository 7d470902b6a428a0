/**
 * Bringing an integration test file's local cluster up and down: `up` must succeed (the hook fails with its
 * stderr), and `down` must succeed and leave nothing behind (found by listing the system); the file's state
 * root goes even when either check fails.
 */
import { rmSync } from 'node:fs';
import { expect } from 'vitest';
import { ambit } from './cli.ts';
import { leftovers, NOTHING_LEFT, writeClusterFile } from './local-cluster.ts';

/** `ambit local up -f` of `yaml` as cluster `name` under the state root `root`. */
export async function clusterUp(root: string, name: string, yaml: string): Promise<void> {
  const result = await ambit(['local', 'up', '-f', writeClusterFile(root, name, yaml)], { stateRoot: root });
  expect(result.code, result.stderr).toBe(0);
}

/** `ambit local down` of cluster `name`, proof that nothing of it is left, then the state root removed. */
export async function clusterDown(root: string, name: string): Promise<void> {
  try {
    const result = await ambit(['local', 'down', '--name', name], { stateRoot: root });
    expect(result.code, result.stderr).toBe(0);
    expect(leftovers(name, root)).toEqual(NOTHING_LEFT);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
