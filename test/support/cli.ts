/**
 * The one way tests run the real `ambit` CLI: as a child process of this checkout's entry point, with its
 * output collected. Every process started here is killed by `killAll()` (call it in afterAll), whatever
 * happened in the test.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { endStdin } from '../../src/core/sys/child-stdin.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const AMBIT = `${ROOT}bin/ambit.mjs`;

export interface CliResult {
  /** The exit status (null when a signal ended it). */
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** $AMBIT_STATE_DIR of the command (where local clusters live). */
  stateRoot?: string | undefined;
  /** Added to this process's environment. */
  env?: NodeJS.ProcessEnv | undefined;
  /** Written to the command's standard input (which is otherwise closed). */
  input?: string | undefined;
}

const started = new Set<ChildProcess>();

/** Kills every process the tests started (through `track`, `startAmbit` or `ambit`) that still runs. */
export function killAll(): void {
  for (const child of started)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  started.clear();
}

export function track(child: ChildProcess): ChildProcess {
  started.add(child);
  child.once('exit', () => started.delete(child));
  return child;
}

/**
 * Starts `ambit <args>`; `done` resolves when it has exited and its output is read. It runs in its own
 * process group, so a test can signal the command and everything it started.
 */
export function startAmbit(
  args: string[],
  options: CliOptions = {},
): { child: ChildProcess; done: Promise<CliResult> } {
  const env: NodeJS.ProcessEnv = { ...process.env, AMBIT_LOG_FORMAT: 'json', ...options.env };
  if (options.stateRoot !== undefined) env.AMBIT_STATE_DIR = options.stateRoot;
  const child = track(
    spawn(process.execPath, [AMBIT, ...args], {
      cwd: ROOT,
      env,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      detached: true,
    }),
  );
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
  if (options.input !== undefined) endStdin(child, options.input);
  const done = new Promise<CliResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) =>
      resolve({ code, stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString() }),
    );
  });
  return { child, done };
}

/** Runs `ambit <args>` to completion. */
export function ambit(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return startAmbit(args, options).done;
}
