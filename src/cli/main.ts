/** `ambit <command> [args...]`: dispatches to a command module and turns errors into exit statuses. */
import { AmbitError, UsageError } from '../core/errors.ts';
import { COMMANDS } from './commands.ts';

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const lines = Object.entries(COMMANDS).map(([name, entry]) => `  ${name.padEnd(width)}  ${entry.summary}`);
  return `Usage: ambit <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun \`ambit <command> --help\` for a command's options.\n`;
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
    if (error instanceof AmbitError) {
      process.stderr.write(`ambit ${name}: ${error.message}\n`);
      return error instanceof UsageError ? 2 : 1;
    }
    throw error;
  }
}
