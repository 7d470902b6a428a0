/**
 * Runs the system tools the local cluster is built with (`ip`, `sysctl`, ...). Each tool runs under
 * `setpriv --pdeathsig KILL`, so that a `up` killed half-way leaves no command running behind it that could
 * create objects after `down` has cleaned up; failures become SystemErrors that quote the tool's message.
 */
import { spawn } from 'node:child_process';
import { SystemError } from '../core/errors.ts';
import { endStdin } from '../core/sys/child-stdin.ts';

export interface RunOptions {
  /** Written to the tool's stdin (for `ip -batch -`). */
  input?: string;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

export function run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', ...argv], {
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(new SystemError(`cannot run ${argv[0]} (is it installed?)`, error.code, { cause: error })),
    );
    child.on('close', (code, signal) => {
      const result = { stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString() };
      if (code === 0) return resolve(result);
      const detail =
        result.stderr.trim() ||
        result.stdout.trim() ||
        (signal ? `killed by ${signal}` : `exit status ${code}`);
      reject(
        new SystemError(
          `${argv.join(' ')}${options.input ? ` <<${JSON.stringify(options.input.slice(0, 400))}` : ''} failed: ${detail}`,
        ),
      );
    });
    if (options.input !== undefined) endStdin(child, options.input);
  });
}

/** Runs `ip` commands in one process (`ip [-n netns] -batch -`); the first failure stops the batch. */
export function ipBatch(commands: readonly string[], netns?: string): Promise<RunResult> {
  const argv = netns === undefined ? ['ip', '-batch', '-'] : ['ip', '-n', netns, '-batch', '-'];
  return run(argv, { input: `${commands.join('\n')}\n` });
}
