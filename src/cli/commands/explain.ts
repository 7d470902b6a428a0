/** `ambit explain <source> <destination>[:port]`: what the mesh does with one connection, and why. */

import { UsageError } from '../../core/errors.ts';
import { requireClusterState, selectCluster, statePaths, stateRoot } from '../../local/state.ts';
import { parseCommandArgs, printedHelp } from '../args.ts';
import { outputFormat, runTrace, TRACE_OPTIONS, traceCommand } from '../explain/run.ts';

const USAGE = `Usage: ambit explain <source> <destination>[:port] [-n NAMESPACE] [--path P] [--method M]
                     [--header k=v]... [--name CLUSTER] [-o text|json]
       ambit explain --recent <pod> [-n NAMESPACE] [--name CLUSTER] [--limit 20] [-o text|json]

Explains what the running mesh does with a connection from <source> (a pod: name, ns/name, or with -n; or
an IP) to <destination> (a Service name as the source's DNS resolves it, a pod, or an IP; port 80 unless
given), from the snapshots its ztunnels and waypoints hold and with the same decision functions: capture,
DNS, VIP and endpoint, waypoint or not, HBONE peer identity, PeerAuthentication mode, the
AuthorizationPolicies that match (name and rule) at the ztunnel and at the waypoint, the route (with
weights) and the verdict. --path, --method and --header describe the request a waypoint sees.

--recent lists the last connections to or from a pod that were denied or failed, from the ztunnels'
access logs, each with the reason the ztunnel gave (deciding policy, no endpoint, PeerAuthentication).
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    {
      args: argv,
      allowPositionals: true,
      options: { ...TRACE_OPTIONS, recent: { type: 'boolean' }, limit: { type: 'string' } },
    },
    USAGE,
  );
  if (printedHelp(values, USAGE)) return 0;
  if (values.recent) return recent(positionals, values);
  if (positionals.length !== 2) throw new UsageError(`explain needs a source and a destination\n\n${USAGE}`);
  await runTrace(traceCommand(positionals[0]!, positionals[1]!, values));
  return 0;
}

async function recent(
  positionals: string[],
  values: {
    namespace?: string | undefined;
    name?: string | undefined;
    limit?: string | undefined;
    output?: string | undefined;
  },
): Promise<number> {
  if (positionals.length !== 1) throw new UsageError(`explain --recent needs one pod\n\n${USAGE}`);
  const limit = values.limit === undefined ? 20 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit takes a positive number');
  const [{ recentFailures, renderFailures }, { findPod }, { logFileFor }, { NODE_AGENT }] = await Promise.all(
    [
      import('../explain/recent.ts'),
      import('../../local/pods.ts'),
      import('../../local/processes.ts'),
      import('../../local/mesh/node-agent.ts'),
    ],
  );
  const root = stateRoot();
  const cluster = requireClusterState(root, selectCluster(root, values.name));
  const pod = findPod(cluster, positionals[0]!, values.namespace);
  const paths = statePaths(cluster.stateDir);
  const failures = recentFailures(
    cluster,
    (node) => logFileFor(paths, `${NODE_AGENT}/${node}`),
    pod.uid,
    limit,
  );
  process.stdout.write(
    outputFormat(values.output) === 'json'
      ? `${JSON.stringify(failures, null, 2)}\n`
      : renderFailures(pod.uid, failures),
  );
  return 0;
}
