/** The ztunnel's process flags, socket mark and timeouts (Istio's defaults); its ports are in `core/ports.ts`. */

import { readFileSync } from 'node:fs';
import { PROXY_SOCKET_MARK } from '../core/capture-handler.ts';
import { DEFAULT_HBONE_SERVER_LIMITS, type HboneServerLimits } from '../core/hbone/limits.ts';
import { DEFAULT_HBONE_TIMEOUTS, type HboneTimeouts } from '../core/hbone/settings.ts';

/**
 * Node flags for the ztunnel process. Re-measured under sustained load on the loopback HBONE benchmark
 * (one run, 3 interleaved repetitions, medians, 8-stream bulk; `--variants
 * 'framer:--max-semi-space-size=1;framer:;node-http2:--max-semi-space-size=1;node-http2:'`): CPU per GiB
 * did not change with the flag (framer 5.59 vs 5.51 s, node:http2 3.92 vs 3.91 s; stunnel 2.54 s in the same
 * run), while RSS with 1000 idle tunnels was lower with it (framer 114 vs 125-127 MiB, node:http2 118-120
 * vs 126-131 MiB). Again after the framer's GC work (compiled ztunnels, all variants up at once, 10
 * interleaved 1 s rounds of 1-connection request/response, two runs): scavenges per 1000 requests (both
 * ztunnels) 2.1 with 1 MiB semi-spaces against 1.4 with V8's default, since the young generation grows only
 * when much survives; added p50 +99/+96 us (1 MiB), +110/+78 us (default), +119 us (8 MiB), +68 us (2 MiB),
 * +62 us (4 MiB), i.e. within the run-to-run noise of this shared machine, as was p99 (0.3 to 4.2 ms for
 * the same flags); `--single-threaded-gc` cost 15% more CPU per request. RSS with 1000 idle tunnels: 93 MiB
 * with the flag, 105-108 without. So 1 MiB semi-spaces stay, for memory.
 */
export const ZTUNNEL_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

/** Mark on every socket the ztunnel opens inside a pod, so that the pod's rules never capture it again. */
export const ZTUNNEL_SOCKET_MARK = PROXY_SOCKET_MARK;

export interface TimeoutSettings extends HboneTimeouts {
  /** How long a new pod's connections wait for its workload to appear in the config before failing closed. */
  workloadWaitMs: number;
}

export const DEFAULT_TIMEOUTS: TimeoutSettings = { ...DEFAULT_HBONE_TIMEOUTS, workloadWaitMs: 5_000 };

/** What peers and pods may make the ztunnel hold: the HBONE listeners' limits, and open tunnels. */
export interface ZtunnelLimits extends HboneServerLimits {
  /** Open tunnels (proxied connections, any direction) of one pod. */
  tunnelsPerPod: number;
  /** Open tunnels of the whole node: below the process's descriptor limit, with a reserve (`fdReserve`). */
  tunnelsPerNode: number;
}

/**
 * The defaults. The node's tunnel limit follows from the process's open-file limit: each tunnel may hold two
 * descriptors (the app's socket and the upstream one), and a reserve stays free for what must never starve
 * (the control-plane stream, certificate requests, new pods' listeners, admin and metrics), so that a flood
 * meets a clear refusal instead of EMFILE.
 */
export function defaultLimits(openFiles = openFileLimit()): ZtunnelLimits {
  return {
    ...DEFAULT_HBONE_SERVER_LIMITS,
    tunnelsPerPod: 4_096,
    tunnelsPerNode: Math.max(64, Math.min(16_384, Math.floor((openFiles - fdReserve(openFiles)) / 2))),
  };
}

/** Descriptors kept out of the tunnels' reach: a quarter of the limit, at most 1024. */
export function fdReserve(openFiles: number): number {
  return Math.min(1_024, Math.floor(openFiles / 4));
}

/** The soft `RLIMIT_NOFILE` of this process (from /proc/self/limits; 1024, Linux's default, if unreadable). */
export function openFileLimit(): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((text) => text.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    const value = soft === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(soft);
    return Number.isFinite(value) && value > 0 ? value : 1_024;
  } catch {
    return 1_024;
  }
}
