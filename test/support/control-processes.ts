/**
 * JSON-lines child processes for integration tests (control-plane clients). Each is tracked, so `killAll()`
 * from `cli.ts` ends it whatever happened in the test.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { ROOT, track } from './cli.ts';

export type Event = Record<string, unknown> & { event: string };

/** A process that prints JSON lines on stdout and takes JSON lines on stdin. */
export class JsonLinesProcess {
  readonly child: ChildProcess;
  readonly events: Event[] = [];
  readonly stderr: string[] = [];
  private waiters: { predicate: (event: Event) => boolean; resolve: (event: Event) => void }[] = [];

  /** Runs `node <args>`, after `prefix` (e.g. `ip netns exec <ns>`) when given. */
  constructor(args: string[], env: NodeJS.ProcessEnv = {}, prefix: readonly string[] = []) {
    const argv = [...prefix, process.execPath, ...args];
    this.child = track(
      spawn(argv[0]!, argv.slice(1), {
        cwd: ROOT,
        env: { ...process.env, ...env },
        stdio: ['pipe', 'pipe', 'pipe'],
      }),
    );
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      let event: Event;
      try {
        event = JSON.parse(line) as Event;
      } catch {
        return;
      }
      this.events.push(event);
      this.waiters = this.waiters.filter((waiter) => {
        if (!waiter.predicate(event)) return true;
        waiter.resolve(event);
        return false;
      });
    });
    createInterface({ input: this.child.stderr! }).on('line', (line) => this.stderr.push(line));
  }

  send(command: Record<string, unknown>): void {
    this.child.stdin!.write(`${JSON.stringify(command)}\n`);
  }

  /** The first event (already seen from `since`, or to come) matching `predicate`. */
  waitFor(predicate: (event: Event) => boolean, timeoutMs = 15_000, since = 0): Promise<Event> {
    const seen = this.events.slice(since).find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for an event; last events: ${JSON.stringify(this.events.slice(-3))}; stderr: ${this.stderr.slice(-5).join('\n')}`,
          ),
        );
      }, timeoutMs);
      this.waiters.push({
        predicate,
        resolve: (event) => {
          clearTimeout(timer);
          resolve(event);
        },
      });
    });
  }

  /** Sends a command and waits for its answer event. */
  async ask(command: Record<string, unknown>, answer: string, timeoutMs = 15_000): Promise<Event> {
    const since = this.events.length;
    this.send(command);
    return this.waitFor((event) => event.event === answer, timeoutMs, since);
  }
}
