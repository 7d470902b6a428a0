/** What the config commands (`apply`, `delete`, `get`, `analyze`, `control status`) share. */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { expandConfigPaths } from '../core/config/documents.ts';
import { formatDuration } from '../core/config/duration.ts';
import { type ConfigIssue, formatIssue } from '../core/config/issues.ts';
import { CONTROL_SOCKET_ENV, ControlApiClient, ControlPlaneUnreachable } from '../core/control-api/client.ts';
import { MAX_ROLLOUT_WAIT_MS } from '../core/control-api/limits.ts';
import { controlPaths } from '../core/control-api/paths.ts';
import type { ConfigFile, RolloutReport } from '../core/control-api/types.ts';
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
import { parseCommandArgs, printedHelp } from './args.ts';
import { durationFlag } from './flags.ts';
import { mergeRollouts, renderRollout } from './rollout-report.ts';

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
 * The control plane's socket(s): `--socket`; `--name`'s local cluster; $AMBIT_CONTROL_SOCKET; the only local
 * cluster, if one exists (several: say which); else the default state dir's (`ambit control` run alone). A
 * local cluster with replicas gives each replica's socket: the client uses whichever answers.
 */
export function controlSockets(target: ControlTarget, env: NodeJS.ProcessEnv = process.env): string[] {
  if (target.socket !== undefined && target.name !== undefined)
    throw new UsageError('give --socket or --name, not both');
  if (target.socket !== undefined) return [target.socket];
  const root = stateRoot();
  if (target.name !== undefined) return localControlSockets(root, target.name);
  const fromEnv = env[CONTROL_SOCKET_ENV];
  if (fromEnv) return [fromEnv];
  const clusters = listClusters(root);
  if (clusters.length > 1) {
    throw new UsageError(
      `${clusters.length} local clusters exist (${clusters.join(', ')}): pick one with --name (or give --socket)`,
    );
  }
  const [only] = clusters;
  return only === undefined ? [controlPaths(DEFAULT_STATE_DIR).socket] : localControlSockets(root, only);
}

function localControlSockets(root: string, name: string): string[] {
  return controlPlaneEndpoint(requireClusterState(root, selectCluster(root, name))).sockets;
}

/** The local cluster whose control plane serves `socket`, if it is one's. */
export function localClusterServing(socket: string): ClusterState | undefined {
  const root = stateRoot();
  for (const name of listClusters(root)) {
    const cluster = readClusterState(statePaths(clusterDir(root, name)));
    if (cluster && controlPlaneEndpoint(cluster).sockets.includes(socket)) return cluster;
  }
  return undefined;
}

export function controlClient(target: ControlTarget): ControlApiClient {
  return new ControlApiClient(controlSockets(target));
}

/** The usage text of a command that takes `-f` files and a control plane (`apply`, `delete`). */
export function fileCommandHelp(command: string, description: string): string {
  return `Usage: ambit ${command} -f <file|directory|-> [-f ...] [--name CLUSTER | --socket PATH]

${description}

Options:
  -f, --filename   YAML file, directory of YAML files, or - for standard input (repeatable)
  --wait-timeout   how long to wait for every data-plane client (ztunnels, waypoints) to ACK or NACK the
                   new config (default ${formatDuration(DEFAULT_ROLLOUT_WAIT_MS)}, at most ${formatDuration(MAX_ROLLOUT_WAIT_MS)}); a NACK names the client and its
                   reason, and the command fails if any client refused it or has not taken it in time
  --no-wait        return once the config is stored, without waiting for the data plane
${controlTargetHelp()}
`;
}

/** How long `apply` and `delete` wait for the data plane by default. */
export const DEFAULT_ROLLOUT_WAIT_MS = 30_000;

/**
 * Parses the arguments of a `-f` command: the files read and the control plane's client, or undefined when
 * `--help` was asked for (the help is then printed).
 */
export function parseFileCommand(
  argv: string[],
  help: string,
): { files: ConfigFile[]; client: ControlApiClient; waitMs: number | undefined } | undefined {
  const { values } = parseCommandArgs(
    {
      args: argv,
      options: {
        filename: { type: 'string', short: 'f', multiple: true },
        'wait-timeout': { type: 'string' },
        'no-wait': { type: 'boolean' },
        socket: { type: 'string' },
        name: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    },
    help,
  );
  if (printedHelp(values, help)) return undefined;
  if (values['no-wait'] && values['wait-timeout'] !== undefined)
    throw new UsageError('give --wait-timeout or --no-wait, not both', help);
  const waitMs = values['no-wait']
    ? undefined
    : durationFlag(values['wait-timeout'], 'wait-timeout', DEFAULT_ROLLOUT_WAIT_MS, {
        max: MAX_ROLLOUT_WAIT_MS,
      });
  return { files: readConfigFiles(values.filename), client: controlClient(values), waitMs };
}

/**
 * Waits for the data plane to take config `revision` (unless `waitMs` is undefined: --no-wait) and reports
 * each client that did not; fails when one refused it or did not answer in time, since the stored config is
 * then not what that client enforces.
 */
export async function reportRollout(
  client: ControlApiClient,
  revision: number,
  waitMs: number | undefined,
): Promise<void> {
  if (waitMs === undefined) return;
  const { out, err, failure } = renderRollout(await rolloutEverywhere(client, revision, waitMs), waitMs);
  for (const text of out) process.stdout.write(`${text}\n`);
  for (const text of err) process.stderr.write(`${text}\n`);
  if (failure) throw failure;
}

/**
 * The rollout on every replica the client knows (each waits for the clients connected to it), as one
 * report (`mergeRollouts`); a replica that cannot be reached has no clients to wait for.
 */
async function rolloutEverywhere(
  client: ControlApiClient,
  revision: number,
  waitMs: number,
): Promise<RolloutReport> {
  if (client.socketPaths.length === 1) return client.rollout(revision, waitMs);
  const reports = await Promise.all(
    client.socketPaths.map((socket) =>
      new ControlApiClient(socket).rollout(revision, waitMs).catch((error: unknown) => {
        if (error instanceof ControlPlaneUnreachable) return undefined;
        throw error;
      }),
    ),
  );
  const answered = reports.filter((report) => report !== undefined);
  return answered.length === 0 ? client.rollout(revision, waitMs) : mergeRollouts(revision, answered);
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
