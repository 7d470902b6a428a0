/** What `ambit explain` and `ambit authz check` share: read the live mesh, trace one query, print it. */

import { errorMessage, UsageError } from '../../core/errors.ts';
import { readMeshSnapshots, type UnreachableWaypoint } from '../../local/mesh/snapshots.ts';
import { requireClusterState, selectCluster, stateRoot } from '../../local/state.ts';
import { resolveSource, splitTarget, traceRequest } from './query.ts';
import { renderExplanation } from './render.ts';
import { readPolicyFiles, withPolicies } from './snapshots.ts';
import { type Explanation, explainConnection } from './trace.ts';

export interface TraceCommand {
  source: string;
  destination: string;
  namespace?: string | undefined;
  cluster?: string | undefined;
  path?: string | undefined;
  method?: string | undefined;
  header?: string[] | undefined;
  /** Policy files laid over the live config (`authz check -f`). */
  files?: string[] | undefined;
  output: 'text' | 'json';
}

/** The flags both commands take (parseArgs options). */
export const TRACE_OPTIONS = {
  namespace: { type: 'string', short: 'n' },
  name: { type: 'string' },
  path: { type: 'string' },
  method: { type: 'string' },
  header: { type: 'string', short: 'H', multiple: true },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The parsed flags of TRACE_OPTIONS, for one source and destination. */
export function traceCommand(
  source: string,
  destination: string,
  values: {
    namespace?: string | undefined;
    name?: string | undefined;
    path?: string | undefined;
    method?: string | undefined;
    header?: string[] | undefined;
    output?: string | undefined;
  },
): TraceCommand {
  return {
    source,
    destination,
    namespace: values.namespace,
    cluster: values.name,
    path: values.path,
    method: values.method,
    header: values.header,
    output: outputFormat(values.output),
  };
}

/** HTTP's port when none is given, as curl would dial a Service name. */
const DEFAULT_PORT = 80;

const printUnreachable: UnreachableWaypoint = (gateway, error) =>
  process.stderr.write(`ambit: waypoint ${gateway.namespace}/${gateway.name}: ${errorMessage(error)}\n`);

export async function runTrace(command: TraceCommand): Promise<Explanation> {
  const root = stateRoot();
  const cluster = requireClusterState(root, selectCluster(root, command.cluster));
  const files = command.files?.length ? readPolicyFiles(command.files) : undefined;
  const live = await readMeshSnapshots(cluster, printUnreachable);
  const mesh = files ? withPolicies(live, files) : live;
  const { host, port } = splitTarget(command.destination, DEFAULT_PORT);
  const explanation = explainConnection(mesh, {
    source: resolveSource(mesh, command.source, command.namespace),
    destination: host,
    port,
    request: traceRequest(command),
  });
  process.stdout.write(
    command.output === 'json' ? `${JSON.stringify(explanation, null, 2)}\n` : renderExplanation(explanation),
  );
  return explanation;
}

export function outputFormat(value: string | undefined): 'text' | 'json' {
  if (value === undefined || value === 'text') return 'text';
  if (value === 'json') return 'json';
  throw new UsageError(`-o takes text or json, not ${JSON.stringify(value)}`);
}
