/**
 * The kubelet's probe decisions as pure functions: how consecutive results move a probe's verdict
 * (thresholds), when each probe is due (initial delay, period) and what the verdicts of a container's probes
 * mean together (started, ready, to be restarted). The supervisor only does I/O around these.
 *
 * Kubernetes semantics: a probe's verdict changes after `successThreshold` consecutive successes or
 * `failureThreshold` consecutive failures. Until a startup probe has passed, the other probes do not run; a
 * startup or liveness probe that fails has the container restarted; a container is ready only when its
 * readiness probe has passed (and started, if it has a startup probe).
 */
import type { ProbeKind, ProbeTiming } from '../../core/config/kinds/probes.ts';

/** `pending`: no verdict yet (not enough consecutive results). */
export type ProbeVerdict = 'pending' | 'pass' | 'fail';

export interface ProbeState {
  verdict: ProbeVerdict;
  successes: number;
  failures: number;
}

export const INITIAL_PROBE_STATE: ProbeState = { verdict: 'pending', successes: 0, failures: 0 };

export function recordProbeResult(
  state: ProbeState,
  timing: Pick<ProbeTiming, 'successThreshold' | 'failureThreshold'>,
  ok: boolean,
): ProbeState {
  if (ok) {
    const successes = state.successes + 1;
    return {
      verdict: successes >= timing.successThreshold ? 'pass' : state.verdict,
      successes,
      failures: 0,
    };
  }
  const failures = state.failures + 1;
  return { verdict: failures >= timing.failureThreshold ? 'fail' : state.verdict, successes: 0, failures };
}

export interface ContainerProbeView {
  /** No startup probe, or it has passed: liveness and readiness probes run. */
  started: boolean;
  /** Ready as far as probes say (without a readiness probe: once started). */
  ready: boolean;
  /** The probe whose failure means the container must be restarted. */
  restartFor?: 'startup' | 'liveness' | undefined;
}

export function containerProbeView(
  probes: ReadonlySet<ProbeKind>,
  verdicts: Partial<Record<ProbeKind, ProbeVerdict>>,
): ContainerProbeView {
  const verdict = (kind: ProbeKind) => verdicts[kind] ?? 'pending';
  const started = !probes.has('startup') || verdict('startup') === 'pass';
  let restartFor: ContainerProbeView['restartFor'];
  if (!started && verdict('startup') === 'fail') restartFor = 'startup';
  else if (started && probes.has('liveness') && verdict('liveness') === 'fail') restartFor = 'liveness';
  const ready =
    started && restartFor === undefined && (!probes.has('readiness') || verdict('readiness') === 'pass');
  return { started, ready, restartFor };
}

/** Whether a probe of this kind runs in this phase of the container (startup first, then the others). */
export function probeActive(kind: ProbeKind, view: Pick<ContainerProbeView, 'started'>): boolean {
  return kind === 'startup' ? !view.started : view.started;
}

/**
 * Milliseconds from now until the next attempt of a probe: the first at `initialDelaySeconds` after the
 * container started, then one every `periodSeconds` after the previous attempt began.
 */
export function nextProbeDelayMs(
  timing: Pick<ProbeTiming, 'initialDelaySeconds' | 'periodSeconds'>,
  sinceStartMs: number,
  lastAttemptStartedMs: number | undefined,
): number {
  const due =
    lastAttemptStartedMs === undefined
      ? timing.initialDelaySeconds * 1000
      : lastAttemptStartedMs + timing.periodSeconds * 1000;
  return Math.max(0, due - sinceStartMs);
}
