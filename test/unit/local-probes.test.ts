/** The kubelet's probe rules as the supervisor applies them, and the words `status` uses for a pod. */
import { describe, expect, it } from 'vitest';
import type { ProbeKind } from '../../src/core/config/kinds/probes.ts';
import { notReadyReason } from '../../src/local/report.ts';
import {
  containerProbeView,
  INITIAL_PROBE_STATE,
  nextProbeDelayMs,
  type ProbeVerdict,
  probeActive,
  recordProbeResult,
} from '../../src/local/supervisor/probe-state.ts';

/** Folds a run of results (`+` success, `-` failure) and lists the verdict after each. */
function verdicts(results: string, successThreshold: number, failureThreshold: number): ProbeVerdict[] {
  let state = INITIAL_PROBE_STATE;
  return [...results].map((result) => {
    state = recordProbeResult(state, { successThreshold, failureThreshold }, result === '+');
    return state.verdict;
  });
}

describe('probe thresholds', () => {
  it.each([
    ['+', 1, 3, ['pass']],
    ['--+', 1, 3, ['pending', 'pending', 'pass']],
    ['---', 1, 3, ['pending', 'pending', 'fail']],
    ['+--', 1, 3, ['pass', 'pass', 'pass']],
    ['+---', 1, 3, ['pass', 'pass', 'pass', 'fail']],
    ['+--+---', 1, 3, ['pass', 'pass', 'pass', 'pass', 'pass', 'pass', 'fail']],
    ['++', 2, 1, ['pending', 'pass']],
    ['+-+', 2, 1, ['pending', 'fail', 'fail']],
    ['+-++', 2, 1, ['pending', 'fail', 'fail', 'pass']],
    ['++-', 2, 1, ['pending', 'pass', 'fail']],
  ])('%s with successThreshold %i and failureThreshold %i', (results, success, failure, expected) => {
    expect(verdicts(results, success, failure)).toEqual(expected);
  });
});

describe('what the probes mean for the container', () => {
  const kinds = (...list: ProbeKind[]) => new Set(list);
  it.each([
    [kinds(), {}, { started: true, ready: true, restartFor: undefined }],
    [kinds('readiness'), {}, { started: true, ready: false, restartFor: undefined }],
    [kinds('readiness'), { readiness: 'pass' }, { started: true, ready: true, restartFor: undefined }],
    [kinds('readiness'), { readiness: 'fail' }, { started: true, ready: false, restartFor: undefined }],
    [kinds('liveness'), {}, { started: true, ready: true, restartFor: undefined }],
    [kinds('liveness'), { liveness: 'fail' }, { started: true, ready: false, restartFor: 'liveness' }],
    [
      kinds('startup', 'readiness'),
      { readiness: 'pass' },
      { started: false, ready: false, restartFor: undefined },
    ],
    [kinds('startup'), { startup: 'fail' }, { started: false, ready: false, restartFor: 'startup' }],
    [
      kinds('startup', 'liveness'),
      { startup: 'pass', liveness: 'fail' },
      { started: true, ready: false, restartFor: 'liveness' },
    ],
    [
      kinds('startup', 'readiness'),
      { startup: 'pass', readiness: 'pass' },
      { started: true, ready: true, restartFor: undefined },
    ],
    // A liveness verdict left over from before the startup probe passed does not count.
    [
      kinds('startup', 'liveness'),
      { startup: 'pending', liveness: 'fail' },
      { started: false, ready: false, restartFor: undefined },
    ],
  ] as const)('probes %j with verdicts %j', (probes, verdictMap, expected) => {
    expect(containerProbeView(probes, verdictMap)).toEqual(expected);
  });

  it.each([
    ['startup', false, true],
    ['startup', true, false],
    ['liveness', false, false],
    ['liveness', true, true],
    ['readiness', false, false],
    ['readiness', true, true],
  ] as const)('a %s probe runs when started=%s: %s', (kind, started, active) => {
    expect(probeActive(kind, { started })).toBe(active);
  });
});

describe('probe timing', () => {
  it.each([
    // initialDelaySeconds, periodSeconds, ms since the container started, last attempt began at, expected delay
    [0, 10, 0, undefined, 0],
    [5, 10, 0, undefined, 5000],
    [5, 10, 7000, undefined, 0],
    [5, 10, 6000, 5000, 9000],
    [0, 1, 1500, 1000, 500],
    [0, 1, 2500, 1000, 0],
  ])(
    'initial delay %is, period %is, at %i ms, last attempt at %s ms: next in %i ms',
    (initial, period, now, last, delay) => {
      expect(nextProbeDelayMs({ initialDelaySeconds: initial, periodSeconds: period }, now, last)).toBe(
        delay,
      );
    },
  );
});

describe('why a pod is not running or not ready', () => {
  const exit = (code: number | null, signal: string | null = null) => ({ code, signal, at: '' });
  it.each([
    [{ state: 'running', ready: true }, 'last', undefined],
    [
      { state: 'running', ready: false, probe: 'readiness probe failed (3/3): HTTP 503 from /' },
      'x',
      'readiness probe failed (3/3): HTTP 503 from /',
    ],
    [{ state: 'running', ready: false }, undefined, 'not listening on its declared ports yet'],
    [
      { state: 'backoff', ready: false, lastExit: exit(127) },
      'sh: 1: nosuch: not found',
      'exited with code 127; last log line: sh: 1: nosuch: not found',
    ],
    [{ state: 'failed', ready: false, lastExit: exit(null, 'SIGKILL') }, undefined, 'killed by SIGKILL'],
    [
      {
        state: 'backoff',
        ready: false,
        message: 'killed by the supervisor: liveness probe failed (1/1): connect ECONNREFUSED',
        lastExit: exit(null, 'SIGTERM'),
      },
      'bye',
      'killed by the supervisor: liveness probe failed (1/1): connect ECONNREFUSED; killed by SIGTERM; last log line: bye',
    ],
    [
      { state: 'waiting', ready: false, message: 'start gate failed (retrying in 250 ms): no node agent' },
      'x',
      'start gate failed (retrying in 250 ms): no node agent',
    ],
    [{ state: 'succeeded', ready: false, lastExit: exit(0) }, 'done', undefined],
  ] as const)('%j with last log line %j: %j', (process, line, reason) => {
    expect(notReadyReason(process, () => line)).toBe(reason);
  });
});
