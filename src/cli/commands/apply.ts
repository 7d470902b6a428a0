/** `ambit apply -f <file|dir|->...`: validates and applies config on a running control plane, atomically. */
import type { ControlApiClient } from '../../core/control-api/client.ts';
import type { ConfigFile } from '../../core/control-api/types.ts';
import {
  fileCommandHelp,
  localClusterServing,
  parseFileCommand,
  printIssues,
  reportRollout,
} from '../control-support.ts';

const HELP = fileCommandHelp(
  'apply',
  `Creates or updates the resources of the files on the running control plane. The whole set is validated
first: if any document has an error, nothing is applied and every error is printed with its file, document,
resource and field. Warnings are printed but do not block. On a running local cluster, the objects are
also checked against what the cluster can run (images with a stand-in, namespaces, nodes, addresses), and
each Service gets its ClusterIP before it is applied.`,
);

export async function run(argv: string[]): Promise<number> {
  const command = parseFileCommand(argv, HELP);
  if (!command) return 0;
  const result = await command.client.apply(await localApplyFiles(command.client, command.files));
  printIssues(result.issues);
  for (const name of result.created) process.stdout.write(`${name} created\n`);
  for (const name of result.configured) process.stdout.write(`${name} configured\n`);
  for (const name of result.unchanged) process.stdout.write(`${name} unchanged\n`);
  await reportRollout(command.client, result.revision, command.waitMs);
  return 0;
}

/** On a local cluster's control plane: checked against the cluster, Services' ClusterIPs filled in. */
async function localApplyFiles(client: ControlApiClient, files: ConfigFile[]): Promise<ConfigFile[]> {
  const cluster = localClusterServing(client.socketPath);
  if (!cluster) return files;
  const [{ prepareLocalApply }, { storedDocuments }] = await Promise.all([
    import('../../local/live/check.ts'),
    import('../../local/live/stored.ts'),
  ]);
  return prepareLocalApply(cluster, await storedDocuments(client), files);
}
