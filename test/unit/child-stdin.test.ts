import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { endStdin } from '../../src/core/sys/child-stdin.ts';

describe('endStdin', () => {
  it('survives a child that exits without reading its input (EPIPE is not an unhandled error)', async () => {
    const errors: unknown[] = [];
    const onError = (error: unknown) => errors.push(error);
    process.on('uncaughtException', onError);
    try {
      for (let run = 0; run < 5; run += 1) {
        const child = spawn('true', [], { stdio: ['pipe', 'ignore', 'ignore'] });
        endStdin(child, 'x'.repeat(4 << 20));
        const [code] = await once(child, 'close');
        expect(code).toBe(0);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(errors).toEqual([]);
    } finally {
      process.off('uncaughtException', onError);
    }
  });

  it('delivers the input to a child that reads it', async () => {
    const child = spawn('wc', ['-c'], { stdio: ['pipe', 'pipe', 'ignore'] });
    const output: Buffer[] = [];
    child.stdout!.on('data', (chunk: Buffer) => output.push(chunk));
    endStdin(child, 'a'.repeat(100_000));
    await once(child, 'close');
    expect(Buffer.concat(output).toString().trim()).toBe('100000');
  });
});
