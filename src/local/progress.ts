/**
 * Progress of a multi-step command (`up`, `down`): on a terminal, finished steps scroll up with their time
 * while a bar shows the step under way; elsewhere (CI logs, pipes), one line per finished step.
 */
import type { Writable } from 'node:stream';

export interface Progress {
  /** Announces how many steps follow (for the bar and the step counter). */
  begin(total: number): void;
  /** Runs one step and reports it; a failing step is marked and its error passed on. */
  step<T>(label: string, work: () => Promise<T>): Promise<T>;
  note(line: string): void;
  warn(line: string): void;
}

export interface ProgressOptions {
  out: Writable;
  tty: boolean;
}

const BAR_WIDTH = 24;

export function createProgress(options: ProgressOptions): Progress {
  const { out, tty } = options;
  let index = 0;
  let total = 0;
  const counter = (n: number) => `[${String(n).padStart(String(total).length)}/${total}]`;
  const clearBar = () => {
    if (tty) out.write('\r\x1b[K');
  };
  const drawBar = (label: string) => {
    if (!tty) return;
    const filled = Math.round((BAR_WIDTH * (index - 1)) / Math.max(total, 1));
    out.write(`\r\x1b[K${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)} ${counter(index)} ${label}…`);
  };
  return {
    begin(steps) {
      index = 0;
      total = steps;
    },
    async step(label, work) {
      index++;
      drawBar(label);
      const started = performance.now();
      try {
        const result = await work();
        clearBar();
        out.write(
          `${tty ? '  ✓' : counter(index)} ${label} (${Math.round(performance.now() - started)} ms)\n`,
        );
        return result;
      } catch (error) {
        clearBar();
        out.write(`${tty ? '  ✗' : counter(index)} ${label}: FAILED\n`);
        throw error;
      }
    },
    note(line) {
      clearBar();
      out.write(`${line}\n`);
    },
    warn(line) {
      clearBar();
      out.write(`warning: ${line}\n`);
    },
  };
}

export const silentProgress: Progress = {
  begin: () => {},
  step: (_label, work) => work(),
  note: () => {},
  warn: () => {},
};
