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

  it('drain settles once every key is idle, including operations queued while it waits', async () => {
    const queue = new KeyedQueue();
    const done: string[] = [];
    void queue.run('a', async () => {
      await tick();
      done.push('a1');
      void queue.run('b', async () => {
        await tick();
        done.push('b1');
      });
    });
    void queue
      .run('a', async () => {
        await tick();
        done.push('a2');
        throw new Error('a2');
      })
      .catch(() => {});
    await queue.drain();
    expect(done.sort()).toEqual(['a1', 'a2', 'b1']);
    await queue.drain(); // idle: settles at once
  });
});
