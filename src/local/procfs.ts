/** Finding and stopping processes by their command line, through /proc. */
import { readdirSync, readFileSync } from 'node:fs';

/** The command line of a process as NUL-separated text, or undefined if it is gone. */
export function commandLine(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return undefined;
  }
}

/** pids whose argv holds `args` as consecutive arguments. */
export function findProcesses(args: readonly string[]): number[] {
  const needle = `\0${args.join('\0')}\0`;
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = commandLine(Number(entry));
    if (cmdline !== undefined && `\0${cmdline}`.includes(needle)) pids.push(Number(entry));
  }
  return pids;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie still answers signal 0; its state in /proc says it is dead.
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

export function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** Sends SIGTERM, waits up to `graceMs` for the processes to end, then SIGKILLs what is left. */
export async function terminate(pids: readonly number[], graceMs: number): Promise<void> {
  for (const pid of pids) signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (pids.some(isAlive) && Date.now() < deadline) await sleep(20);
  const left = pids.filter(isAlive);
  for (const pid of left) signal(pid, 'SIGKILL');
  while (left.some(isAlive)) await sleep(10);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
