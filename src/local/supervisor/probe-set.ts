/**
 * The probes of one run of a pod's process: each probe on its own timer (initial delay, then one attempt per
 * period, never two at once), its results folded by the pure rules of probe-state.ts, and every change of
 * the container's view (started, ready, restart needed) reported to the supervisor with the reason.
 */
import type { ProbeKind } from '../../core/config/kinds/probes.ts';
import type { Logger } from '../../core/log.ts';
import { Netns } from '../../core/sys/netns-socket.ts';
import { netnsPath } from '../names.ts';
import type { ProbeRecord, ProcessSpec } from '../types.ts';
import { type ProbeContext, runProbe } from './probe-runner.ts';
import {
  type ContainerProbeView,
  containerProbeView,
  INITIAL_PROBE_STATE,
  nextProbeDelayMs,
  type ProbeState,
  probeActive,
  recordProbeResult,
} from './probe-state.ts';

export interface ProbeReport extends ContainerProbeView {
  /** The last failed attempt that matters for the view (e.g. `readiness probe failed: HTTP 503 from /`). */
  message?: string | undefined;
}

export class ProbeSet {
  readonly #spec: ProcessSpec;
  readonly #probes: [ProbeKind, ProbeRecord][];
  readonly #kinds: ReadonlySet<ProbeKind>;
  readonly #states = new Map<ProbeKind, ProbeState>();
  readonly #messages = new Map<ProbeKind, string>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #startedAt = Date.now();
  readonly #onChange: (report: ProbeReport) => void;
  readonly #log: Logger;
  readonly #socketDir: string;
  #netns: Netns | undefined;
  #stopped = false;
  #view: ContainerProbeView;

  constructor(spec: ProcessSpec, socketDir: string, log: Logger, onChange: (report: ProbeReport) => void) {
    this.#spec = spec;
    this.#probes = Object.entries(spec.probes ?? {}) as [ProbeKind, ProbeRecord][];
    this.#kinds = new Set(this.#probes.map(([kind]) => kind));
    this.#socketDir = socketDir;
    this.#log = log;
    this.#onChange = onChange;
    this.#view = containerProbeView(this.#kinds, {});
  }

  get hasReadinessProbe(): boolean {
    return this.#kinds.has('readiness');
  }

  get view(): ProbeReport {
    return { ...this.#view, message: this.#message() };
  }

  start(): void {
    for (const [kind, probe] of this.#probes) this.#schedule(kind, probe, undefined);
  }

  stop(): void {
    this.#stopped = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#netns?.close();
  }

  #schedule(kind: ProbeKind, probe: ProbeRecord, lastAttemptMs: number | undefined): void {
    if (this.#stopped) return;
    const delay = nextProbeDelayMs(probe, Date.now() - this.#startedAt, lastAttemptMs);
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      void this.#attempt(kind, probe);
    }, delay);
    this.#timers.add(timer);
  }

  async #attempt(kind: ProbeKind, probe: ProbeRecord): Promise<void> {
    const began = Date.now() - this.#startedAt;
    if (!probeActive(kind, this.#view)) {
      this.#schedule(kind, probe, began);
      return;
    }
    let context: ProbeContext;
    try {
      this.#netns ??= Netns.open(netnsPath(this.#spec.netns));
      context = { netns: this.#netns, spec: this.#spec, socketDir: this.#socketDir };
    } catch (error) {
      this.#log.warn('cannot open the pod network namespace for probes', { id: this.#spec.id, error });
      this.#schedule(kind, probe, began);
      return;
    }
    const outcome = await runProbe(probe, context);
    if (this.#stopped) return;
    const state = recordProbeResult(this.#states.get(kind) ?? INITIAL_PROBE_STATE, probe, outcome.ok);
    this.#states.set(kind, state);
    if (outcome.ok) this.#messages.delete(kind);
    else
      this.#messages.set(
        kind,
        `${kind} probe failed (${state.failures}/${probe.failureThreshold}): ${outcome.detail}`,
      );
    const verdicts = Object.fromEntries([...this.#states].map(([key, value]) => [key, value.verdict]));
    const view = containerProbeView(this.#kinds, verdicts);
    const changed =
      view.ready !== this.#view.ready ||
      view.started !== this.#view.started ||
      view.restartFor !== this.#view.restartFor;
    const messageChanged = !outcome.ok || state.successes === 1;
    this.#view = view;
    if (changed || messageChanged) this.#onChange(this.view);
    if (view.restartFor === undefined) this.#schedule(kind, probe, began);
  }

  /** The failure that explains the view: the one forcing a restart, else the readiness or startup one. */
  #message(): string | undefined {
    if (this.#view.restartFor) return this.#messages.get(this.#view.restartFor);
    return this.#messages.get('startup') ?? this.#messages.get('readiness') ?? this.#messages.get('liveness');
  }
}
