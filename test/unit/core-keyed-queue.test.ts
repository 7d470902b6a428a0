import { describe, expect, it } from 'vitest';
import { KeyedQueue } from '../../src/core/keyed-queue.ts';

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('KeyedQueue', () => {
  it('runs one operation at a time per key, in call order, keys concurrently, past failures', async () => {
    const queue = new KeyedQueue();
    const events: string[] = [];
    const step =
      (name: string, fail = false) =>
      async () => {
        events.push(`${name} start`);
        await tick();
        events.push(`${name} end`);
        if (fail) throw new Error(name);
        return name;
      };
    const results = await Promise.allSettled([
      queue.run('pod', step('a1', true)),
      queue.run('pod', step('a2')),
      queue.run('other', step('b1')),
    ]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([
      'a1',
      'a2',
      'b1',
    ]);
    expect(events.indexOf('a2 start')).toBeGreaterThan(events.indexOf('a1 end'));
    expect(events.indexOf('b1 start')).toBeLessThan(events.indexOf('a1 end'));
  });
});
