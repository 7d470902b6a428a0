/** The one argument parser of the CLI: `node:util`'s parseArgs, whose refusals become usage errors. */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { UsageError } from '../core/errors.ts';

/**
 * Parses a command's arguments. A bad flag, a missing value or a stray positional is a usage error that
 * carries the command's `help`, so the user sees what is wrong and how to call it, never a stack trace.
 */
export function parseCommandArgs<T extends ParseArgsConfig>(
  config: T,
  help: string,
): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    if (isParseArgsError(error)) throw new UsageError(error.message, help);
    throw error;
  }
}

/** parseArgs throws TypeErrors with codes ERR_PARSE_ARGS_* (and ERR_INVALID_ARG_VALUE for a bad value). */
function isParseArgsError(error: unknown): error is Error {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && (code.startsWith('ERR_PARSE_ARGS_') || code === 'ERR_INVALID_ARG_VALUE');
}

/** Prints `usage` (to stdout: it was asked for) when `--help` was given; true when it did, so the command stops. */
export function printedHelp(values: { help?: unknown }, usage: string): boolean {
  if (!values.help) return false;
  process.stdout.write(usage);
  return true;
}
