import { describe, expect, it } from 'vitest';
import { type LimitFlag, limitFlagsHelp, limitOptions, parseLimitFlags } from '../../src/cli/limit-flags.ts';
import { UsageError } from '../../src/core/errors.ts';

const FLAGS = [
  { flag: 'max-things', key: 'maxThings', unit: 'count', help: 'things at once' },
  { flag: 'max-bytes', key: 'maxBytes', unit: 'bytes', help: 'bytes per message', max: 4 * 1024 * 1024 },
  { flag: 'idle-timeout', key: 'idleMs', unit: 'duration', help: 'closed when idle' },
] as const satisfies readonly LimitFlag<'maxThings' | 'maxBytes' | 'idleMs'>[];

describe('limit flags', () => {
  it.each([
    [{}, {}],
    [{ 'max-things': '7' }, { maxThings: 7 }],
    [
      { 'max-bytes': '4194304', 'idle-timeout': '90s' },
      { maxBytes: 4_194_304, idleMs: 90_000 },
    ],
    [{ 'idle-timeout': '250ms', other: 'x' }, { idleMs: 250 }],
  ])('%j -> %j', (values, settings) => {
    expect(parseLimitFlags(values, FLAGS)).toEqual(settings);
  });

  it.each([
    [{ 'max-things': '0' }, '--max-things: expected a whole number from 1'],
    [{ 'max-things': '-3' }, '--max-things'],
    [{ 'max-things': '1.5' }, '--max-things'],
    [{ 'max-things': 'many' }, '--max-things'],
    [{ 'max-bytes': '4194305' }, '--max-bytes: expected a whole number from 1 to 4194304'],
    [{ 'idle-timeout': '10' }, '--idle-timeout: expected a duration'],
    [{ 'idle-timeout': '0s' }, '--idle-timeout'],
  ])('refuses %j', (values, message) => {
    expect(() => parseLimitFlags(values, FLAGS)).toThrow(UsageError);
    expect(() => parseLimitFlags(values, FLAGS)).toThrow(message);
  });

  it('gives parseArgs a string option per flag', () => {
    expect(limitOptions(FLAGS)).toEqual({
      'max-things': { type: 'string' },
      'max-bytes': { type: 'string' },
      'idle-timeout': { type: 'string' },
    });
  });

  it('documents every flag with its default', () => {
    expect(
      limitFlagsHelp(FLAGS, { maxThings: 100, maxBytes: 2 * 1024 * 1024, idleMs: 300_000 }).split('\n'),
    ).toEqual([
      '  --max-things N (default 100)',
      '        things at once',
      '  --max-bytes N (default 2097152 = 2 MiB)',
      '        bytes per message',
      '  --idle-timeout DUR (default 5m)',
      '        closed when idle',
    ]);
  });
});
