/** The ztunnel's process flags, socket mark and timeouts (Istio's defaults); its ports are in `core/ports.ts`. */
import { PROXY_SOCKET_MARK } from '../core/capture-handler.ts';
import { DEFAULT_HBONE_TIMEOUTS, type HboneTimeouts } from '../core/hbone/settings.ts';

/**
 * Node flags for the ztunnel process. Re-measured under sustained load on the loopback HBONE benchmark
 * (one run, 3 interleaved repetitions, medians, 8-stream bulk; `--variants
 * 'framer:--max-semi-space-size=1;framer:;node-http2:--max-semi-space-size=1;node-http2:'`): CPU per GiB
 * did not change with the flag (framer 5.59 vs 5.51 s, node:http2 3.92 vs 3.91 s; stunnel 2.54 s in the same
 * run), while RSS with 1000 idle tunnels was lower with it (framer 114 vs 125-127 MiB, node:http2 118-120
 * vs 126-131 MiB). So 1 MiB semi-spaces stay, for memory; the study's CPU gain without the flag did not
 * show on this (heavily shared) machine.
 */
export const ZTUNNEL_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

/** Mark on every socket the ztunnel opens inside a pod, so that the pod's rules never capture it again. */
export const ZTUNNEL_SOCKET_MARK = PROXY_SOCKET_MARK;

export interface TimeoutSettings extends HboneTimeouts {
  /** How long a new pod's connections wait for its workload to appear in the config before failing closed. */
  workloadWaitMs: number;
}

export const DEFAULT_TIMEOUTS: TimeoutSettings = { ...DEFAULT_HBONE_TIMEOUTS, workloadWaitMs: 5_000 };
