/** `ambit apply -f <file|dir|->...`: validates and applies config on a running control plane, atomically. */
import { parseArgs } from 'node:util';
import { controlClient, controlTargetHelp, printIssues, readConfigFiles } from '../control-support.ts';

const HELP = `Usage: ambit apply -f <file|directory|-> [-f ...] [--name CLUSTER | --socket PATH]

Creates or updates the resources of the files on the running control plane. The whole set is validated
first: if any document has an error, nothing is applied and every error is printed with its file, document,
resource and field. Warnings are printed but do not block.

Options:
  -f, --filename   YAML file, directory of YAML files, or - for standard input (repeatable)
${controlTargetHelp()}
`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      filename: { type: 'string', short: 'f', multiple: true },
      socket: { type: 'string' },
      name: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const files = readConfigFiles(values.filename);
  const result = await controlClient(values).apply(files);
  printIssues(result.issues);
  for (const name of result.created) process.stdout.write(`${name} created\n`);
  for (const name of result.configured) process.stdout.write(`${name} configured\n`);
  for (const name of result.unchanged) process.stdout.write(`${name} unchanged\n`);
  return 0;
}
