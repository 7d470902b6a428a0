/** `ambit explain <source> <destination>[:port]`: what the mesh does with one connection, and why. */

import { UsageError } from '../../core/errors.ts';
import { parseCommandArgs } from '../args.ts';
import { runTrace, TRACE_OPTIONS, traceCommand } from '../explain/run.ts';

const USAGE = `Usage: ambit explain <source> <destination>[:port] [-n NAMESPACE] [--path P] [--method M]
                     [--header k=v]... [--name CLUSTER] [-o text|json]

Explains what the running mesh does with a connection from <source> (a pod: name, ns/name, or with -n; or
an IP) to <destination> (a Service name as the source's DNS resolves it, a pod, or an IP; port 80 unless
given), from the snapshots its ztunnels and waypoints hold and with the same decision functions: capture,
DNS, VIP and endpoint, waypoint or not, HBONE peer identity, PeerAuthentication mode, the
AuthorizationPolicies that match (name and rule) at the ztunnel and at the waypoint, the route (with
weights) and the verdict. --path, --method and --header describe the request a waypoint sees.
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    {
      args: argv,
      allowPositionals: true,
      options: TRACE_OPTIONS,
    },
    USAGE,
  );
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length !== 2) throw new UsageError(`explain needs a source and a destination\n\n${USAGE}`);
  await runTrace(traceCommand(positionals[0]!, positionals[1]!, values));
  return 0;
}
