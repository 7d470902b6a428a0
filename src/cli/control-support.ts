/** What the config commands (`apply`, `delete`, `get`, `analyze`, `control status`) share. */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { expandConfigPaths } from '../core/config/documents.ts';
import { type ConfigIssue, formatIssue } from '../core/config/issues.ts';
import { CONTROL_SOCKET_ENV, ControlApiClient } from '../core/control-api/client.ts';
import { controlPaths } from '../core/control-api/paths.ts';
import type { ConfigFile } from '../core/control-api/types.ts';
import { UsageError } from '../core/errors.ts';
import { controlPlaneEndpoint } from '../local/mesh/control-plane.ts';
import {
  clusterDir,
  listClusters,
  readClusterState,
  requireClusterState,
  selectCluster,
  statePaths,
  stateRoot,
} from '../local/state.ts';
import type { ClusterState } from '../local/types.ts';
import { parseCommandArgs } from './args.ts';

/** Where `ambit control` keeps its state unless told otherwise. */
export const DEFAULT_STATE_DIR = '/var/lib/ambit/control';

/** Which control plane a command talks to: `--socket`, or `--name` (a local cluster's). */
export interface ControlTarget {
  socket?: string | undefined;
  name?: string | undefined;
}

/** How the options above read in a command's help, with option names padded to `width`. */
export function controlTargetHelp(width = 17): string {
  const pad = (text: string) => `  ${text}`.padEnd(width);
  return [
    `${pad('--name')}the local cluster whose control plane to use (default: the only local cluster)`,
    `${pad('--socket')}control plane socket (default: $${CONTROL_SOCKET_ENV}, else the only local`,
    `${pad('')}cluster's, else ${controlPaths(DEFAULT_STATE_DIR).socket})`,
  ].join('\n');
}

/**
 * The control plane's socket: `--socket`; `--name`'s local cluster; $AMBIT_CONTROL_SOCKET; the only local
 * cluster, if one exists (several: say which); else the default state dir's (`ambit control` run alone).
 */
export function controlSocket(target: ControlTarget, env: NodeJS.ProcessEnv = process.env): string {
  if (target.socket !== undefined && target.name !== undefined)
    throw new UsageError('give --socket or --name, not both');
  if (target.socket !== undefined) return target.socket;
  const root = stateRoot();
  if (target.name !== undefined) return localControlSocket(root, target.name);
  const fromEnv = env[CONTROL_SOCKET_ENV];
  if (fromEnv) return fromEnv;
  const clusters = listClusters(root);
  if (clusters.length > 1) {
    throw new UsageError(
      `${clusters.length} local clusters exist (${clusters.join(', ')}): pick one with --name (or give --socket)`,
    );
  }
  const [only] = clusters;
  return only === undefined ? controlPaths(DEFAULT_STATE_DIR).socket : localControlSocket(root, only);
}

function localControlSocket(root: string, name: string): string {
  return controlPlaneEndpoint(requireClusterState(root, selectCluster(root, name))).socket;
}

/** The local cluster whose control plane serves `socket`, if it is one's. */
export function localClusterServing(socket: string): ClusterState | undefined {
  const root = stateRoot();
  for (const name of listClusters(root)) {
    const cluster = readClusterState(statePaths(clusterDir(root, name)));
    if (cluster && controlPlaneEndpoint(cluster).socket === socket) return cluster;
  }
  return undefined;
}

export function controlClient(target: ControlTarget): ControlApiClient {
  return new ControlApiClient(controlSocket(target));
}

/** The usage text of a command that takes `-f` files and a control plane (`apply`, `delete`). */
export function fileCommandHelp(command: string, description: string): string {
  return `Usage: ambit ${command} -f <file|directory|-> [-f ...] [--name CLUSTER | --socket PATH]

${description}

Options:
  -f, --filename   YAML file, directory of YAML files, or - for standard input (repeatable)
${controlTargetHelp()}
`;
}

/**
 * Parses the arguments of a `-f` command: the files read and the control plane's client, or undefined when
 * `--help` was asked for (the help is then printed).
 */
export function parseFileCommand(
  argv: string[],
  help: string,
): { files: ConfigFile[]; client: ControlApiClient } | undefined {
  const { values } = parseCommandArgs(
    {
      args: argv,
      options: {
        filename: { type: 'string', short: 'f', multiple: true },
        socket: { type: 'string' },
        name: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    },
    help,
  );
  if (values.help) {
    process.stdout.write(help);
    return undefined;
  }
  return { files: readConfigFiles(values.filename), client: controlClient(values) };
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
