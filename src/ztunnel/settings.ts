/** The ztunnel's process flags, socket mark and timeouts (Istio's defaults); its ports are in `core/ports.ts`. */
import { PROXY_SOCKET_MARK } from '../core/capture-handler.ts';
import { DEFAULT_HBONE_TIMEOUTS, type HboneTimeouts } from '../core/hbone/settings.ts';

/**
 * Node flags for the ztunnel process. A small young generation keeps the copy loop's short-lived buffers in
 * cache: measured on the HBONE benchmark, 1 MiB semi-spaces moved ~30-40% more bytes per CPU second than
 * Node 24's default and lowered RSS (see bench/hbone-throughput.ts, `--node-args`).
 */
export const ZTUNNEL_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

/** Mark on every socket the ztunnel opens inside a pod, so that the pod's rules never capture it again. */
export const ZTUNNEL_SOCKET_MARK = PROXY_SOCKET_MARK;

export interface TimeoutSettings extends HboneTimeouts {
  /** How long a new pod's connections wait for its workload to appear in the config before failing closed. */
  workloadWaitMs: number;
}

export const DEFAULT_TIMEOUTS: TimeoutSettings = { ...DEFAULT_HBONE_TIMEOUTS, workloadWaitMs: 5_000 };
