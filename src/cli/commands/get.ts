/** `ambit get <kind> [name]`: lists or prints config stored in a running control plane, like `kubectl get`. */
import { stringify } from 'yaml';
import type { StoredResource } from '../../core/control-api/types.ts';
import { AmbitError, UsageError } from '../../core/errors.ts';
import { parseCommandArgs, printedHelp } from '../args.ts';
import { controlClient, controlTargetHelp } from '../control-support.ts';

const HELP = `Usage: ambit get <kind> [name] [-n NAMESPACE | -A] [-o yaml|json] [--name CLUSTER | --socket PATH]

Shows config stored in the running control plane. <kind> is a kind, its plural or its short name
(vs, dr, ap, pa, gtw, svc, ns, po, deploy), in any case.

Options:
  -n, --namespace        namespace (default: default; ignored for cluster-scoped kinds)
  -A, --all-namespaces   every namespace
  -o, --output           yaml or json: print the documents as applied (default: a table)
${controlTargetHelp(25)}
`;

interface GatewayDocument {
  spec?: { gatewayClassName?: string };
  status?: { addresses?: { value: string }[]; conditions?: { type: string; status: string }[] };
}

/** kubectl's columns for a Gateway: its class, first address and whether it is Programmed. */
function gatewayColumns(resource: StoredResource): string[] {
  const document = resource.document as GatewayDocument;
  const programmed = document.status?.conditions?.find((c) => c.type === 'Programmed')?.status;
  return [
    document.spec?.gatewayClassName ?? '',
    document.status?.addresses?.[0]?.value ?? '',
    programmed ?? 'Unknown',
  ];
}

function table(resources: readonly StoredResource[]): string {
  const gateways = resources.every((r) => r.kind === 'Gateway');
  const rows = [
    ['NAMESPACE', 'NAME', ...(gateways ? ['CLASS', 'ADDRESS', 'PROGRAMMED'] : []), 'SOURCE', 'ORIGIN'],
    ...resources.map((r) => [
      r.namespace ?? '',
      r.name,
      ...(gateways ? gatewayColumns(r) : []),
      `${r.source.file} document ${r.source.document}`,
      r.origin,
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    {
      args: argv,
      allowPositionals: true,
      options: {
        namespace: { type: 'string', short: 'n' },
        'all-namespaces': { type: 'boolean', short: 'A' },
        output: { type: 'string', short: 'o' },
        socket: { type: 'string' },
        name: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    },
    HELP,
  );
  if (printedHelp(values, HELP)) return 0;
  const [kind, name, extra] = positionals;
  if (kind === undefined || extra !== undefined)
    throw new UsageError('usage: ambit get <kind> [name] (see --help)');
  if (values.output !== undefined && values.output !== 'yaml' && values.output !== 'json') {
    throw new UsageError(`unknown output format ${JSON.stringify(values.output)}: use yaml or json`);
  }
  const namespace = values['all-namespaces'] ? undefined : (values.namespace ?? 'default');
  const resources = await controlClient(values).get({ kind, name, namespace });
  if (name !== undefined && resources.length === 0) {
    throw new AmbitError(
      'NOT_FOUND',
      `${kind} ${JSON.stringify(name)} not found${namespace ? ` in namespace ${namespace}` : ''}`,
    );
  }
  if (values.output === 'yaml') {
    process.stdout.write(resources.map((r) => stringify(r.document)).join('---\n'));
  } else if (values.output === 'json') {
    const documents = resources.map((r) => r.document);
    const body =
      name !== undefined && documents.length === 1
        ? documents[0]
        : { apiVersion: 'v1', kind: 'List', items: documents };
    process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
  } else if (resources.length === 0) {
    process.stderr.write(`No resources found${namespace ? ` in ${namespace} namespace` : ''}.\n`);
  } else {
    process.stdout.write(`${table(resources)}\n`);
  }
  return 0;
}
