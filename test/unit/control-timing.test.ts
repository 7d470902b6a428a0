/** The pure timing policies: push debounce and retry backoff. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Debouncer } from '../../src/control/debounce.ts';
import { backoffDelay } from '../../src/core/backoff.ts';

describe('debounce', () => {
  afterEach(() => vi.useRealTimers());

  it('runs once after a quiet period, reporting when the burst began', () => {
    vi.useFakeTimers({ now: 1000 });
    const runs: number[] = [];
    const debouncer = new Debouncer((first) => runs.push(first), 100, 1000);
    debouncer.trigger();
    vi.advanceTimersByTime(50);
    debouncer.trigger();
    vi.advanceTimersByTime(99);
    expect(runs).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(runs).toEqual([1000]);
  });

  it('never waits longer than the maximum under a steady stream of changes', () => {
    vi.useFakeTimers({ now: 0 });
    const runs: number[] = [];
    const debouncer = new Debouncer(() => runs.push(Date.now()), 100, 300);
    for (let t = 0; t < 1000; t += 50) {
      debouncer.trigger();
      vi.advanceTimersByTime(50);
    }
    expect(runs.slice(0, 3)).toEqual([300, 600, 900]);
  });
});

describe('backoff', () => {
  const policy = { initialMs: 100, maxMs: 1000 };
  it('doubles from the initial delay up to the maximum', () => {
    expect([0, 1, 2, 3, 4, 10].map((attempt) => backoffDelay(attempt, policy, () => 0.5))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
  });
  it('spreads delays by the jitter either way', () => {
    expect(backoffDelay(2, policy, () => 0)).toBe(320);
    expect(backoffDelay(2, policy, () => 1)).toBe(480);
  });
});
