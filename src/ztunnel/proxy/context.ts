/** What the proxy handlers share: the state they ask, the pool, the tracker, the injected socket seams. */
import type { Socket } from 'node:net';
import type { HbonePool } from '../../core/hbone/pool.ts';
import type { LogFields, Logger } from '../../core/log.ts';
import type { TimeoutSettings } from '../settings.ts';
import type { StateStore } from '../state/store.ts';
import type { ConnectionTracker } from './connections.ts';
import type { OriginalDestination, PodSockets, TcpConnectOptions } from './sockets.ts';

export interface ProxyContext {
  state: StateStore;
  pool: HbonePool;
  tracker: ConnectionTracker;
  originalDestination: OriginalDestination;
  timeouts: TimeoutSettings;
  /** Connect to the app with the original client's IP as source (needs transparent sockets in the pod). */
  preserveSourceIp: boolean;
  log: Logger;
  /** Counts a connection or tunnel refused before relaying (a loop, a limit) and logs it, rate-limited. */
  refused(listener: Listener, reason: string, fields: LogFields): void;
}

/** The ztunnel's listeners in a pod, as refusals name them. */
export type Listener = 'outbound' | 'inbound-plaintext' | 'hbone';

/** One enrolled pod on this node, as the capture layer hands it over. */
export interface PodContext {
  /** The workload uid the pod has in the config (`<namespace>/<name>` locally). */
  uid: string;
  sockets: PodSockets;
}

/** Opens a TCP connection from the pod and waits for it; rejects on error or after `timeoutMs`. */
/** Whether `ip` is an address where a ztunnel listens (a workload of the mesh). */
export function servesIp(ctx: ProxyContext, ip: string): boolean {
  return ctx.state.workloadByIp(ip)?.enrolled === true;
}

/**
 * Whether the pod may open one more tunnel (the node's and the pod's limits); counts and logs the refusal
 * when not. Call it right before `tracker.open`, in the same tick.
 */
export function admitTunnel(ctx: ProxyContext, listener: Listener, pod: string, fields: LogFields): boolean {
  const refusal = ctx.tracker.refusal(pod);
  if (refusal === undefined) return true;
  ctx.refused(listener, refusal, { pod, ...fields });
  return false;
}

export function connectTcp(
  sockets: PodSockets,
  options: TcpConnectOptions,
  timeoutMs: number,
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = sockets.connect(options);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        Object.assign(new Error(`connect to ${options.ip}:${options.port} timed out`), { code: 'ETIMEDOUT' }),
      );
    }, timeoutMs);
    const onError = (error: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}
