/**
 * `ambit authz check --from <principal|pod> --to <service|pod>[:port]`: the verdict the mesh would give,
 * without sending traffic, optionally with policy files laid over the live config (`-f`), for CI pipelines
 * that test a policy change before applying it. Exit status 0 when allowed, 1 when not.
 */
import { UsageError } from '../../core/errors.ts';
import { parseCommandArgs, printedHelp } from '../args.ts';
import { runTrace, TRACE_OPTIONS, traceCommand } from '../explain/run.ts';

const USAGE = `Usage: ambit authz check --from <principal|pod|ip> --to <service|pod|ip>[:port] [-f policy.yaml]...
                          [-n NAMESPACE] [--path P] [--method M] [--header k=v]... [--name CLUSTER] [-o text|json]

Answers whether the running mesh would allow a connection (and, through a waypoint, a request) as
\`ambit explain\` traces it. --from takes a principal (cluster.local/ns/NS/sa/SA, or a spiffe:// URI), a pod
or an IP. -f lays AuthorizationPolicy and PeerAuthentication files over the live config (same namespace and
name replace), validated as \`ambit apply\` validates them. Exit status: 0 allowed, 1 denied, refused or unreachable.
`;

export async function run(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === '--help' || verb === '-h') {
    process.stdout.write(USAGE);
    return verb === undefined ? 2 : 0;
  }
  if (verb !== 'check') throw new UsageError(`unknown subcommand ${JSON.stringify(verb)}\n\n${USAGE}`);
  const { values, positionals } = parseCommandArgs(
    {
      args: rest,
      allowPositionals: true,
      options: {
        ...TRACE_OPTIONS,
        from: { type: 'string' },
        to: { type: 'string' },
        file: { type: 'string', short: 'f', multiple: true },
      },
    },
    USAGE,
  );
  if (printedHelp(values, USAGE)) return 0;
  if (!values.from || !values.to || positionals.length > 0) {
    throw new UsageError(`authz check needs --from and --to\n\n${USAGE}`);
  }
  const explanation = await runTrace({ ...traceCommand(values.from, values.to, values), files: values.file });
  return explanation.verdict.outcome === 'allowed' ? 0 : 1;
}
