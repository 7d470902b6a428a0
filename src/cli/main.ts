/** `ambit <command> [args...]`: dispatches to a command module and turns errors into exit statuses. */
import { AmbitError, asAmbitError, publicCode, UsageError } from '../core/errors.ts';
import { COMMANDS } from './commands.ts';

/** Set (to anything but 0) to see the stack trace of an internal error. */
export const DEBUG_ENV = 'AMBIT_DEBUG';

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const lines = Object.entries(COMMANDS).map(([name, entry]) => `  ${name.padEnd(width)}  ${entry.summary}`);
  return `Usage: ambit <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun \`ambit <command> --help\` for a command's options.\n`;
}

/**
 * What the user sees when `ambit <command>` fails: the message, then what to do next (the command's help
 * for a usage error, else the catalogue's hint under the public code). An error that is not an AmbitError
 * is a bug: it prints as an internal error, with its stack only when $AMBIT_DEBUG is set.
 */
export function failureReport(command: string, error: unknown, env: NodeJS.ProcessEnv = process.env): string {
  const known = error instanceof AmbitError;
  const ambit = asAmbitError(error);
  const message = known ? ambit.message : `internal error: ${ambit.message}`;
  const next =
    ambit instanceof UsageError && ambit.help !== undefined
      ? `\n${ambit.help}`
      : `  ${publicCode(ambit.code)}: ${ambit.spec.hint}\n`;
  const debug = env[DEBUG_ENV] !== undefined && env[DEBUG_ENV] !== '' && env[DEBUG_ENV] !== '0';
  const stack = !known && debug && error instanceof Error && error.stack ? `${error.stack}\n` : '';
  return `ambit ${command}: ${message}\n${next}${stack}`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    process.stderr.write(`ambit: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return 2;
  }
  try {
    const command = await entry.load();
    return await command.run(rest);
  } catch (error) {
    process.stderr.write(failureReport(name, error));
    return asAmbitError(error).spec.exit;
  }
}
