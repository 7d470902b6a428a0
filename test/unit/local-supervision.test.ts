import { describe, expect, it } from 'vitest';
import { expandVars } from '../../src/local/env.ts';
import { lastLines } from '../../src/local/logs.ts';
import { table } from '../../src/local/report.ts';
import { DEFAULT_BACKOFF, nextCrashCount, restartDelay } from '../../src/local/supervisor/backoff.ts';
import { parseListeningPorts } from '../../src/local/supervisor/readiness.ts';

describe('restart backoff', () => {
  it('doubles per consecutive crash up to the ceiling', () => {
    const delays = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => restartDelay(n));
    expect(delays).toEqual([250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
    expect(restartDelay(1000)).toBe(DEFAULT_BACKOFF.maxMs);
    expect(restartDelay(0)).toBe(0);
  });

  it('forgives a process that ran long enough', () => {
    expect(nextCrashCount(5, 100)).toBe(6);
    expect(nextCrashCount(5, DEFAULT_BACKOFF.resetAfterMs)).toBe(1);
  });
});

describe('readiness from /proc/net/tcp', () => {
  it('finds listening ports and ignores other states', () => {
    const table = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 65534        0 1 1 0000 100 0 0 10 0',
      '   1: 0100007F:2328 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0000 100 0 0 10 0',
      '   2: 0300F40A:1F90 0200F40A:C350 01 00000000:00000000 00:00000000 00000000 65534        0 3 1 0000 20 4 30 10 -1',
    ].join('\n');
    expect(parseListeningPorts(table)).toEqual([8080, 9000]);
    expect(parseListeningPorts('header only\n')).toEqual([]);
  });
});

describe('$(VAR) expansion', () => {
  const env = { POD_IP: '10.244.0.2', PORT: '8080' };
  it.each([
    ['--host=$(POD_IP)', '--host=10.244.0.2'],
    ['$(POD_IP):$(PORT)', '10.244.0.2:8080'],
    ['$(UNKNOWN)', '$(UNKNOWN)'],
    ['$$(POD_IP)', '$(POD_IP)'],
    ['cost: $$5', 'cost: $5'],
    ['$POD_IP', '$POD_IP'],
  ])('%s -> %s', (text, expected) => expect(expandVars(text, env)).toBe(expected));
});

describe('log tails and tables', () => {
  it('keeps the last lines', () => {
    expect(lastLines('a\nb\nc\n', 2)).toBe('b\nc\n');
    expect(lastLines('a\nb\nc', 5)).toBe('a\nb\nc\n');
    expect(lastLines('a\nb\n', 0)).toBe('');
    expect(lastLines('a\nb\n', undefined)).toBe('a\nb\n');
  });

  it('aligns columns', () => {
    expect(
      table(
        ['A', 'BB'],
        [
          ['xxx', 'y'],
          ['z', 'w'],
        ],
      ),
    ).toBe('A     BB\nxxx   y\nz     w');
  });
});
