/** `ambit delete -f <file|dir|->...`: deletes the resources the files name from a running control plane. */
import { parseArgs } from 'node:util';
import { controlClient, controlTargetHelp, printIssues, readConfigFiles } from '../control-support.ts';

const HELP = `Usage: ambit delete -f <file|directory|-> [-f ...] [--name CLUSTER | --socket PATH]

Deletes the resources the files define (matched by kind, namespace and name) from the running control plane.
Resources that do not exist are reported; the others are deleted.

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
  const result = await controlClient(values).delete(readConfigFiles(values.filename));
  printIssues(result.issues);
  for (const name of result.deleted) process.stdout.write(`${name} deleted\n`);
  for (const name of result.notFound) process.stderr.write(`${name} not found\n`);
  return 0;
}
