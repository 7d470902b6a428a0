/** `ambit uninstall`: removes what `ambit install` made (the mesh CA too), in reverse order. */
import { loadKubeConfig } from '../../kube/client.ts';
import { uninstall } from '../../kube/install.ts';
import { parseCommandArgs, printedHelp } from '../args.ts';
import { INSTALL_OPTIONS, printReport, SETTINGS_HELP, settingsFrom } from './install.ts';

const HELP = `Usage: ambit uninstall [options]

Removes Ambit from a Kubernetes cluster through its API: every object \`ambit install\` made with the same
options, the mesh CA included. Objects already gone are reported as absent. The Istio and Gateway API CRDs
stay (they were there before).

Options:
${SETTINGS_HELP}
`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({ args: argv, options: INSTALL_OPTIONS }, HELP);
  if (printedHelp(values, HELP)) return 0;
  const settings = settingsFrom(values);
  await uninstall(loadKubeConfig(values.kubeconfig), settings, printReport);
  return 0;
}
