/**
 * `ambit local exec <pod> -- cmd...`: runs a command in the pod's namespace, as the pod's user, with the
 * pod's environment and working directory (what `kubectl exec` gives).
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { podPrologue } from './pod-volumes.ts';
import { netnsCommand, podEnv, podRuntimeDirs } from './processes.ts';
import type { StatePaths } from './state.ts';
import type { PodRecord } from './types.ts';

export interface ExecResult {
  code: number;
  /** The command's stdout, when captured. */
  stdout: string;
  /** The command's stderr, when captured (`captureStderr`). */
  stderr: string;
}

/** With `capture`, stdout is collected and returned; otherwise the command shares our stdio. */
export function execInPod(
  paths: StatePaths,
  pod: PodRecord,
  argv: readonly string[],
  options: { capture?: boolean; captureStderr?: boolean } = {},
): Promise<ExecResult> {
  const [command, ...args] = netnsCommand(
    pod.netns,
    pod.runAsUser,
    pod.runAsGroup,
    argv,
    podPrologue(podRuntimeDirs(paths), pod.mounts),
  );
  return new Promise((resolve, reject) => {
    const child = spawn(command!, args, {
      stdio: options.capture ? ['ignore', 'pipe', options.captureStderr ? 'pipe' : 'inherit'] : 'inherit',
      env: podEnv(paths, pod),
      cwd: pod.container.workingDir,
    });
    const chunks: Buffer[] = [];
    const errors: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => errors.push(chunk));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({
        code: code ?? 128 + (signal ? constants.signals[signal] : 0),
        stdout: Buffer.concat(chunks).toString(),
        stderr: Buffer.concat(errors).toString(),
      }),
    );
  });
}
