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
  version: {
    summary: 'print the version of Ambit and of its runtime',
    load: () => import('./commands/version.ts'),
  },
  control: {
    summary: 'run the control plane (or: control status, control credential)',
    load: () => import('./commands/control.ts'),
  },
  apply: {
    summary: 'validate and apply config to the running control plane',
    load: () => import('./commands/apply.ts'),
  },
  delete: {
    summary: 'delete the config that files define from the control plane',
    load: () => import('./commands/delete.ts'),
  },
  get: { summary: 'show config stored in the control plane', load: () => import('./commands/get.ts') },
  analyze: { summary: 'validate config files offline', load: () => import('./commands/analyze.ts') },
};
