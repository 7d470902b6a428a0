/** `ambit apply -f <file|dir|->...`: validates and applies config on a running control plane, atomically. */
import { fileCommandHelp, parseFileCommand, printIssues, reportRollout } from '../control-support.ts';

const HELP = fileCommandHelp(
  'apply',
  `Creates or updates the resources of the files on the running control plane. The whole set is validated
first: if any document has an error, nothing is applied and every error is printed with its file, document,
resource and field. Warnings are printed but do not block.`,
);

export async function run(argv: string[]): Promise<number> {
  const command = parseFileCommand(argv, HELP);
  if (!command) return 0;
  const result = await command.client.apply(command.files);
  printIssues(result.issues);
  for (const name of result.created) process.stdout.write(`${name} created\n`);
  for (const name of result.configured) process.stdout.write(`${name} configured\n`);
  for (const name of result.unchanged) process.stdout.write(`${name} unchanged\n`);
  await reportRollout(command.client, result.revision, command.waitMs);
  return 0;
}
