/**
 * `ambit waypoint <subcommand>`: each subcommand lives in its own module, loaded only when invoked (the
 * waypoint process must not pay for loading the control plane's client commands, and the other way round).
 */
import { UsageError } from '../../core/errors.ts';
import type { Command } from '../commands.ts';

const manage = (name: 'apply' | 'delete' | 'list' | 'status') =>
  import('./waypoint-manage.ts').then((module) => module.command(name));

const SUBCOMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  apply: {
    summary: 'create or update a waypoint (a Gateway of class istio-waypoint)',
    load: () => manage('apply'),
  },
  delete: { summary: 'delete waypoints (by name, or --all in the namespace)', load: () => manage('delete') },
  list: {
    summary: 'list waypoints, whether each is Programmed, and its address',
    load: () => manage('list'),
  },
  status: { summary: "show a waypoint's conditions (Accepted, Programmed)", load: () => manage('status') },
  run: { summary: 'run a waypoint (the L7 proxy process)', load: () => import('./waypoint-run.ts') },
};

function usage(): string {
  const lines = Object.entries(SUBCOMMANDS).map(([name, entry]) => `  ${name.padEnd(8)}  ${entry.summary}`);
  return `Usage: ambit waypoint <subcommand> [options]\n\nSubcommands:\n${lines.join('\n')}\n`;
}

export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const entry = SUBCOMMANDS[name];
  if (!entry) throw new UsageError(`unknown subcommand ${JSON.stringify(name)}\n\n${usage()}`);
  return (await entry.load()).run(rest);
}
