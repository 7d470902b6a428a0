/**
 * Which mirrors a request is copied to, by percentage (each mirror draws on its own): unset in the config is
 * 100 (always, no draw), 0 never, a share in between by the draw; several mirrors decide independently.
 */
import { describe, expect, it } from 'vitest';
import type { Mirror } from '../../src/core/l7/types.ts';
import { chooseMirrors } from '../../src/waypoint/resilience/mirror.ts';

const m = (cluster: string, percentage: number): Mirror => ({ cluster, percentage });

describe('mirror choice', () => {
  it.each<[string, Mirror[], number[], string[], number]>([
    ['no mirrors', [], [0], [], 0],
    ['100% copies without drawing', [m('a', 100)], [], ['a'], 0],
    ['0% never copies and draws nothing', [m('a', 0)], [], [], 0],
    ['50% copies on a low draw', [m('a', 50)], [0.49], ['a'], 1],
    ['50% does not copy on a draw at the share', [m('a', 50)], [0.5], [], 1],
    ['a fractional share: 0.5% copies on 0.004', [m('a', 0.5)], [0.004], ['a'], 1],
    ['a fractional share: 0.5% skips 0.006', [m('a', 0.5)], [0.006], [], 1],
    ['each mirror draws on its own', [m('a', 30), m('b', 30)], [0.5, 0.1], ['b'], 2],
    ['a full mirror next to a partial one', [m('a', 100), m('b', 10)], [0.05], ['a', 'b'], 1],
  ])('%s', (_name, mirrors, draws, expected, drawsUsed) => {
    let used = 0;
    const draw = () => draws[used++] ?? 0.999;
    expect(chooseMirrors(mirrors, draw).map((mirror) => mirror.cluster)).toEqual(expected);
    expect(used).toBe(drawsUsed);
  });
});
