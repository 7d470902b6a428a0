/**
 * Running the external tools (nft, iptables-restore, ip) inside a pod's namespace, through one runner, so
 * that the CLI can print exactly what runs (and skip what would change the system under --dry-run) and the
 * agent can run the very same commands silently.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { SystemError } from '../core/errors.ts';
import { endStdin } from '../core/sys/child-stdin.ts';

export interface ExternalCommand {
  argv: string[];
  /** Fed to stdin (rule scripts go this way, never through temporary files). */
  input?: string | undefined;
  /** Changes the system: skipped (only printed) under --dry-run. Read-only commands always run. */
  mutates: boolean;
}

export interface CommandOutput {
  status: number;
  stdout: string;
  stderr: string;
}

export interface CommandRunner {
  /** Resolves with the exit status and output; rejects only if the program cannot be started at all. */
  run(command: ExternalCommand): Promise<CommandOutput>;
}

export interface RunnerOptions {
  dryRun?: boolean | undefined;
  /** Receives each command in shell form before it runs (or instead of running, under --dry-run). */
  echo?: ((text: string) => void) | undefined;
}

/** The namespace a rule command runs in: a path nsenter can open. */
export interface NetnsTarget {
  path: string;
}

/** Runs `argv` inside the target namespace. */
export function inNetns(
  target: NetnsTarget,
  argv: string[],
  input: string | undefined,
  mutates: boolean,
): ExternalCommand {
  return { argv: ['nsenter', `--net=${target.path}`, '--', ...argv], input, mutates };
}

function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The command as a line a shell runs identically (stdin as a quoted here-document). */
export function shellForm(command: ExternalCommand): string {
  const line = command.argv.map(shellQuote).join(' ');
  if (command.input === undefined) return line;
  const body = command.input.endsWith('\n') ? command.input : `${command.input}\n`;
  return `${line} <<'AMBIT_EOF'\n${body}AMBIT_EOF`;
}

export function createRunner(options: RunnerOptions = {}): CommandRunner {
  return {
    async run(command) {
      const skip = options.dryRun === true && command.mutates;
      options.echo?.(`${skip ? '# dry-run, not run:\n' : ''}${shellForm(command)}`);
      if (skip) return { status: 0, stdout: '', stderr: '' };
      return spawnCollect(command);
    },
  };
}

function spawnCollect(command: ExternalCommand): Promise<CommandOutput> {
  const [program, ...args] = command.argv;
  return new Promise((resolve, reject) => {
    const child = spawn(program!, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(new SystemError(`cannot run ${program}`, error.code, { cause: error })),
    );
    child.on('close', (status, signal) =>
      resolve({
        status: status ?? (signal ? 128 : 1),
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      }),
    );
    endStdin(child, command.input ?? '');
  });
}

/** Runs a command that must succeed; the error names the command and carries its stderr. */
export async function runChecked(runner: CommandRunner, command: ExternalCommand): Promise<string> {
  const output = await runner.run(command);
  if (output.status !== 0) {
    const what = command.argv.slice(command.argv.indexOf('--') + 1).join(' ');
    throw new SystemError(`${what} failed (exit ${output.status}): ${output.stderr.trim() || 'no message'}`);
  }
  return output.stdout;
}

/** Whether `program` is an executable on PATH (of this process; nsenter keeps the environment). */
export function hasProgram(program: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => {
    try {
      accessSync(join(dir || '.', program), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * Like Promise.all, but waits for every promise before throwing the first failure, so that nothing is still
 * running against the namespace when the caller reacts (a rollback must not race an apply).
 */
export async function settleAll(promises: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
}
