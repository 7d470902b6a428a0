/**
 * `ambit analyze -f <files...>`: validates config offline, as the control plane would, with no control plane
 * running. Exit status 0 when there is no error (warnings are printed), 1 otherwise.
 */
import { analyzeResources } from '../../control/config/analyze.ts';
import { parseFiles } from '../../control/config/parse.ts';
import { CONTROL_KINDS } from '../../control/kinds.ts';
import { hasErrors } from '../../core/config/issues.ts';
import { DEFAULT_TRUST_DOMAIN } from '../../core/identity.ts';
import { parseCommandArgs, printedHelp } from '../args.ts';
import { printIssues, readConfigFiles } from '../control-support.ts';

const HELP = `Usage: ambit analyze -f <file|directory|-> [-f ...] [--trust-domain TD]

Validates the files as the control plane would before applying them: YAML syntax, every field of every kind,
and references across the set (e.g. a route to a subset no DestinationRule defines). Errors name the file,
document, resource and field. Exit status: 0 if there is no error (warnings may be printed), 1 otherwise.

Options:
  -f, --filename   YAML file, directory of YAML files, or - for standard input (repeatable)
  --trust-domain   trust domain used to explain policies (default: ${DEFAULT_TRUST_DOMAIN})
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    {
      args: argv,
      allowPositionals: true,
      options: {
        filename: { type: 'string', short: 'f', multiple: true },
        'trust-domain': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    },
    HELP,
  );
  if (printedHelp(values, HELP)) return 0;
  const files = readConfigFiles([...(values.filename ?? []), ...positionals]);
  const parsed = parseFiles(files, CONTROL_KINDS);
  const issues = [
    ...parsed.issues,
    ...analyzeResources(parsed.resources, values['trust-domain'] ?? DEFAULT_TRUST_DOMAIN),
  ];
  printIssues(issues);
  const errors = issues.filter((issue) => issue.severity === 'error').length;
  const warnings = issues.length - errors;
  if (hasErrors(issues)) {
    process.stderr.write(
      `${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}\n`,
    );
    return 1;
  }
  process.stdout.write(
    warnings === 0
      ? `No validation issues found in ${files.length} file${files.length === 1 ? '' : 's'} (${parsed.resources.length} resources).\n`
      : `No errors; ${warnings} warning${warnings === 1 ? '' : 's'} (${parsed.resources.length} resources).\n`,
  );
  return 0;
}
