/**
 * `ambit local exec <pod> -- cmd...`: runs a command in the pod's namespace, as the pod's user, with the
 * pod's environment and working directory (what `kubectl exec` gives).
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { netnsCommand, podEnv } from './processes.ts';
import type { StatePaths } from './state.ts';
import type { PodRecord } from './types.ts';

export interface ExecResult {
  code: number;
  /** The command's stdout, when captured. */
  stdout: string;
}

/** With `capture`, stdout is collected and returned; otherwise the command shares our stdio. */
export function execInPod(
  paths: StatePaths,
  pod: PodRecord,
  argv: readonly string[],
  options: { capture?: boolean } = {},
): Promise<ExecResult> {
  const [command, ...args] = netnsCommand(pod.netns, pod.runAsUser, pod.runAsGroup, argv);
  return new Promise((resolve, reject) => {
    const child = spawn(command!, args, {
      stdio: options.capture ? ['ignore', 'pipe', 'inherit'] : 'inherit',
      env: podEnv(paths, pod),
      cwd: pod.container.workingDir,
    });
    const chunks: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({
        code: code ?? 128 + (signal ? constants.signals[signal] : 0),
        stdout: Buffer.concat(chunks).toString(),
      }),
    );
  });
}
