/** What the config commands (`apply`, `delete`, `get`, `analyze`, `control status`) share. */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { expandConfigPaths } from '../core/config/documents.ts';
import { type ConfigIssue, formatIssue } from '../core/config/issues.ts';
import { CONTROL_SOCKET_ENV, ControlApiClient } from '../core/control-api/client.ts';
import { controlPaths } from '../core/control-api/paths.ts';
import type { ConfigFile } from '../core/control-api/types.ts';
import { UsageError } from '../core/errors.ts';

/** Where `ambit control` keeps its state unless told otherwise. */
export const DEFAULT_STATE_DIR = '/var/lib/ambit/control';

/** The control plane's socket: `--socket`, else $AMBIT_CONTROL_SOCKET, else the default state dir's. */
export function controlClient(socket: string | undefined): ControlApiClient {
  return new ControlApiClient(
    socket ?? process.env[CONTROL_SOCKET_ENV] ?? controlPaths(DEFAULT_STATE_DIR).socket,
  );
}

/** Reads `-f` arguments: files, directories (their YAML files) and `-` (standard input). */
export function readConfigFiles(paths: readonly string[] | undefined): ConfigFile[] {
  if (!paths || paths.length === 0) throw new UsageError('give the config with -f <file|directory|->');
  const files: ConfigFile[] = [];
  for (const path of paths) {
    if (path === '-') {
      files.push({ name: 'stdin', content: readFileSync(0, 'utf8') });
      continue;
    }
    let expanded: string[];
    try {
      expanded = expandConfigPaths([path]);
    } catch (error) {
      throw new UsageError(
        `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
    }
    for (const file of expanded) files.push({ name: basename(file), content: readFileSync(file, 'utf8') });
  }
  return files;
}

export function printIssues(issues: readonly ConfigIssue[]): void {
  for (const issue of issues) process.stderr.write(`${formatIssue(issue)}\n`);
}
