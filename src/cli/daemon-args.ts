/**
 * What the long-running cluster components' commands (`cluster-dns`, `kube-proxy`) share: string options
 * parsed with their usage in every error, and `--help`.
 */
import { parseCommandArgs, printedHelp } from './args.ts';

/** The values of string options `names`; undefined when `--help` was asked (the usage is printed). */
export function parseDaemonArgs<Name extends string>(
  argv: string[],
  names: readonly Name[],
  usage: string,
): Partial<Record<Name, string>> | undefined {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const name of names) options[name] = { type: 'string' };
  const { values } = parseCommandArgs({ args: argv, options }, usage);
  if (printedHelp(values, usage)) return undefined;
  return values as Partial<Record<Name, string>>;
}
