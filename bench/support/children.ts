/**
 * Child processes of a loopback benchmark: started with their stdout watched for a readiness line, all
 * stopped at the end; and a wait for a port to accept connections.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { open, sleep } from './load.ts';

export const children: ChildProcess[] = [];

export function startChild(command: string, args: string[], readyLine?: string): Promise<ChildProcess> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    if (!readyLine) return resolve(child);
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes(readyLine)) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`${command} exited with ${code}`)));
  });
}

export async function waitForPort(host: string, port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      (await open(host, port)).destroy();
      return;
    } catch {
      await sleep(50);
    }
  }
  throw new Error(`nothing listens on ${host}:${port}`);
}

/** Stops every child (SIGTERM) and gives them a moment. */
export async function stopChildren(): Promise<void> {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  await sleep(300);
}
