/**
 * Child processes of a loopback benchmark: started with their stdout watched for a readiness line, all
 * stopped at the end; and a wait for a port to accept connections.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
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

/**
 * haproxy as the baseline L7 proxy of the HTTP benchmarks: one thread, keep-alive both ways, listening on
 * `address:port` in its pod and sending every request to `upstreamPort` on the same address (the pod's own
 * ztunnel captures it into the mesh). Its config is written into `dir`.
 */
export async function startHaproxy(dir: string, address: string, port: number, upstreamPort: number) {
  const config = join(dir, 'haproxy.cfg');
  writeFileSync(
    config,
    [
      'global',
      '  nbthread 1',
      '  maxconn 4096',
      'defaults',
      '  mode http',
      '  timeout connect 5s',
      '  timeout client 60s',
      '  timeout server 60s',
      '  option http-keep-alive',
      'frontend in',
      `  bind ${address}:${port}`,
      '  default_backend app',
      'backend app',
      '  http-reuse always',
      `  server app ${address}:${upstreamPort}`,
      '',
    ].join('\n'),
  );
  const child = await startChild('haproxy', ['-db', '-f', config]);
  await waitForPort(address, port);
  return child;
}
