/** `ambit delete -f <file|dir|->...`: deletes the resources the files name from a running control plane. */
import { fileCommandHelp, parseFileCommand, printIssues, reportRollout } from '../control-support.ts';

const HELP = fileCommandHelp(
  'delete',
  `Deletes the resources the files define (matched by kind, namespace and name) from the running control plane.
Resources that do not exist are reported; the others are deleted.`,
);

export async function run(argv: string[]): Promise<number> {
  const command = parseFileCommand(argv, HELP);
  if (!command) return 0;
  const result = await command.client.delete(command.files);
  printIssues(result.issues);
  for (const name of result.deleted) process.stdout.write(`${name} deleted\n`);
  for (const name of result.notFound) process.stderr.write(`${name} not found\n`);
  await reportRollout(command.client, result.revision, command.waitMs);
  return 0;
}
