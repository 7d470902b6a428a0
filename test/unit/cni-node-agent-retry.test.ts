/** The node agent's start reconcile: tried again while some pod fails (or the API fails), until none does. */
import { describe, expect, it } from 'vitest';
import { reconcileUntilNoneFail } from '../../src/cni/node-agent.ts';
import type { ReconcileOutcome } from '../../src/cni/reconcile.ts';
import { quietLogs } from '../support/logging.ts';

const FAST = { initialMs: 1, maxMs: 2 };
const outcome = (failed: number, skipped = 0): ReconcileOutcome => ({
  enrolled: [],
  skipped: Array.from({ length: skipped }, (_, i) => ({ pod: `ns/s${i}`, reason: 'no IP yet' })),
  failed: Array.from({ length: failed }, (_, i) => ({ pod: `ns/f${i}`, error: 'no agent' })),
});

describe('reconcileUntilNoneFail', () => {
  it.each<[string, Array<ReconcileOutcome | Error>, number]>([
    ['none fails at once: one try', [outcome(0)], 1],
    ['skipped pods are not retried', [outcome(0, 3)], 1],
    [
      'failed pods, then an API error, then none',
      [outcome(2), new Error('API down'), outcome(1), outcome(0)],
      4,
    ],
  ])('%s', async (_, results, tries) => {
    quietLogs();
    let calls = 0;
    await reconcileUntilNoneFail(
      async () => {
        const result = results[calls++]!;
        if (result instanceof Error) throw result;
        return result;
      },
      new AbortController().signal,
      FAST,
    );
    expect(calls).toBe(tries);
  });

  it('stops retrying when the agent stops', async () => {
    quietLogs();
    const stop = new AbortController();
    let calls = 0;
    await reconcileUntilNoneFail(
      async () => {
        if (++calls === 3) stop.abort();
        return outcome(1);
      },
      stop.signal,
      FAST,
    );
    expect(calls).toBe(3);
  });
});
