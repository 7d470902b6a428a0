import type { ChildProcess } from 'node:child_process';

/**
 * Writes `input` to a child's stdin and closes it. A child that exits before reading its stdin (a command
 * that fails early, or one that never reads it) makes the write fail with EPIPE; that error is dropped here,
 * because the child's exit status already says how it went, and an unhandled stream error would take the
 * whole process down.
 */
export function endStdin(child: ChildProcess, input: string): void {
  const stdin = child.stdin;
  if (!stdin) return;
  stdin.on('error', () => {});
  stdin.end(input);
}
