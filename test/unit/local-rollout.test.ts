/**
 * A Deployment's rolling update, by tables: int-or-percent budgets (surge rounds up, unavailable down, both
 * zero means one unavailable), each step of a rollout (never more than replicas + surge pods, never fewer
 * ready than replicas - unavailable when a ready old pod goes), scale up and down, and completion; then a
 * whole rollout driven step by step to its end, checking those bounds at every step.
 */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_ROLLOUT_STRATEGY,
  planRolloutStep,
  type RolloutPod,
  type RolloutStrategy,
  resolveIntOrPercent,
  rolloutBudgets,
  rolloutComplete,
} from '../../src/local/live/rollout.ts';

describe('int-or-percent values', () => {
  it.each([
    [2, 10, 'up', 2],
    [0, 10, 'down', 0],
    ['25%', 10, 'up', 3],
    ['25%', 10, 'down', 2],
    ['25%', 1, 'up', 1],
    ['25%', 1, 'down', 0],
    ['100%', 3, 'down', 3],
    ['0%', 5, 'up', 0],
    [-1, 5, 'up', undefined],
    [1.5, 5, 'up', undefined],
    ['25', 5, 'up', undefined],
    ['x%', 5, 'up', undefined],
  ] as const)('%j of %i rounded %s is %j', (value, replicas, round, expected) => {
    expect(resolveIntOrPercent(value, replicas, round)).toBe(expected);
  });
});

describe('rollout budgets', () => {
  it.each([
    [DEFAULT_ROLLOUT_STRATEGY, 4, { maxSurge: 1, maxUnavailable: 1 }],
    [DEFAULT_ROLLOUT_STRATEGY, 3, { maxSurge: 1, maxUnavailable: 0 }],
    [DEFAULT_ROLLOUT_STRATEGY, 10, { maxSurge: 3, maxUnavailable: 2 }],
    [{ maxSurge: 0, maxUnavailable: 0 }, 3, { maxSurge: 0, maxUnavailable: 1 }],
    [{ maxSurge: 2, maxUnavailable: '50%' }, 5, { maxSurge: 2, maxUnavailable: 2 }],
    [{ maxSurge: 0, maxUnavailable: '100%' }, 3, { maxSurge: 0, maxUnavailable: 3 }],
    [{ maxSurge: 'bad', maxUnavailable: -2 }, 4, { maxSurge: 1, maxUnavailable: 1 }],
  ] as [RolloutStrategy, number, object][])('%j for %i replicas', (strategy, replicas, expected) => {
    expect(rolloutBudgets(strategy, replicas)).toEqual(expected);
  });
});

/** `r`/`n` per pod: ready or not; uids are the prefix and the position (c0, c1 / o0, o1). */
const pods = (prefix: string, states: string): RolloutPod[] =>
  [...states].map((state, index) => ({ uid: `${prefix}${index}`, ready: state === 'r' }));

describe('one rollout step', () => {
  it.each([
    // replicas, strategy, current, old -> create, remove
    ['nothing yet: all replicas at once', 3, DEFAULT_ROLLOUT_STRATEGY, '', '', 3, []],
    ['steady: nothing to do', 3, DEFAULT_ROLLOUT_STRATEGY, 'rrr', '', 0, []],
    ['steady while pods start: nothing to do', 3, DEFAULT_ROLLOUT_STRATEGY, 'rnn', '', 0, []],
    [
      'template changed (3, 25%): one surge pod, no old pod goes',
      3,
      DEFAULT_ROLLOUT_STRATEGY,
      '',
      'rrr',
      1,
      [],
    ],
    ['the surge pod is not ready yet: wait', 3, DEFAULT_ROLLOUT_STRATEGY, 'n', 'rrr', 0, []],
    ['the surge pod is ready: one old goes', 3, DEFAULT_ROLLOUT_STRATEGY, 'r', 'rrr', 0, ['o0']],
    ['one old went: the next new pod', 3, DEFAULT_ROLLOUT_STRATEGY, 'r', 'rr', 1, []],
    ['last old goes once all new are ready', 3, DEFAULT_ROLLOUT_STRATEGY, 'rrr', 'r', 0, ['o0']],
    ['(4, 25%): surge 1 and unavailable 1 at once', 4, DEFAULT_ROLLOUT_STRATEGY, '', 'rrrr', 1, ['o0']],
    ['(10, 25%): three new, two old go', 10, DEFAULT_ROLLOUT_STRATEGY, '', 'rrrrrrrrrr', 3, ['o0', 'o1']],
    [
      'not-ready old pods go whatever the budget (and leave room)',
      3,
      DEFAULT_ROLLOUT_STRATEGY,
      '',
      'nrn',
      3,
      ['o0', 'o2'],
    ],
    [
      'Recreate: every old pod goes, then new ones come',
      2,
      { maxSurge: 0, maxUnavailable: '100%' },
      '',
      'rr',
      0,
      ['o0', 'o1'],
    ],
    ['Recreate, old gone: all new at once', 2, { maxSurge: 0, maxUnavailable: '100%' }, '', '', 2, []],
    [
      'maxSurge 0, maxUnavailable 0: one old goes first',
      2,
      { maxSurge: 0, maxUnavailable: 0 },
      '',
      'rr',
      0,
      ['o0'],
    ],
    ['scale up', 5, DEFAULT_ROLLOUT_STRATEGY, 'rr', '', 3, []],
    ['scale down: the last pods go', 1, DEFAULT_ROLLOUT_STRATEGY, 'rrr', '', 0, ['c2', 'c1']],
    ['scale down: not-ready pods go first', 2, DEFAULT_ROLLOUT_STRATEGY, 'nrr', '', 0, ['c0']],
    ['scale to zero: everything goes', 0, DEFAULT_ROLLOUT_STRATEGY, 'rr', 'r', 0, ['c1', 'c0', 'o0']],
  ] as [string, number, RolloutStrategy, string, string, number, string[]][])(
    '%s',
    (_what, replicas, strategy, current, old, create, remove) => {
      expect(
        planRolloutStep({ replicas, strategy, current: pods('c', current), old: pods('o', old) }),
      ).toEqual({
        create,
        remove,
      });
    },
  );
});

describe('rollout completion', () => {
  it.each([
    [3, 'rrr', '', true],
    [3, 'rrn', '', false],
    [3, 'rrr', 'r', false],
    [3, 'rr', '', false],
    [0, '', '', true],
  ])('%i replicas, current %j, old %j: %s', (replicas, current, old, complete) => {
    expect(rolloutComplete({ replicas, current: pods('c', current), old: pods('o', old) })).toBe(complete);
  });
});

describe('a whole rollout, step by step', () => {
  it.each([
    [10, DEFAULT_ROLLOUT_STRATEGY],
    [3, DEFAULT_ROLLOUT_STRATEGY],
    [5, { maxSurge: 0, maxUnavailable: 1 }],
    [4, { maxSurge: '50%', maxUnavailable: 0 }],
  ] as [number, RolloutStrategy][])(
    '%i replicas with %j stays within its budgets and completes',
    (replicas, strategy) => {
      const { maxSurge, maxUnavailable } = rolloutBudgets(strategy, replicas);
      let old = pods('o', 'r'.repeat(replicas));
      let current: RolloutPod[] = [];
      let made = 0;
      for (let round = 0; round < 100 && !rolloutComplete({ replicas, current, old }); round++) {
        const step = planRolloutStep({ replicas, strategy, current, old });
        const readyBefore = [...current, ...old].filter((pod) => pod.ready).length;
        const removed = new Set(step.remove);
        old = old.filter((pod) => !removed.has(pod.uid));
        current = current.filter((pod) => !removed.has(pod.uid));
        const readyAfter = [...current, ...old].filter((pod) => pod.ready).length;
        if (readyAfter < readyBefore) expect(readyAfter).toBeGreaterThanOrEqual(replicas - maxUnavailable);
        for (let index = 0; index < step.create; index++) current.push({ uid: `c${made++}`, ready: false });
        expect(current.length + old.length).toBeLessThanOrEqual(replicas + maxSurge);
        // Between steps, the pods started become ready.
        current = current.map((pod) => ({ ...pod, ready: true }));
      }
      expect(rolloutComplete({ replicas, current, old })).toBe(true);
      expect(made).toBe(replicas);
    },
  );
});
