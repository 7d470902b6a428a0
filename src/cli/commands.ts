/**
 * The `ambit` subcommands. Each lives in its own module under `commands/`, loaded only when invoked, so that
 * `ambit echo` in a pod does not pay for loading the control plane.
 */
export interface Command {
  /** Runs the command with the arguments after its name; resolves to the process exit status. */
  run(argv: string[]): Promise<number>;
}

export interface CommandEntry {
  summary: string;
  load: () => Promise<Command>;
}

export const COMMANDS: Record<string, CommandEntry> = {
  'ztunnel-config': {
    summary: "show a node's ztunnel: workloads, services, policies, certificates, connections",
    load: () => import('./commands/ztunnel-config.ts'),
  },
  version: {
    summary: 'print the version of Ambit and of its runtime',
    load: () => import('./commands/version.ts'),
  },
};
