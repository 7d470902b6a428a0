/**
 * The ztunnel as the node agent's `CaptureHandler`: an enrolled pod is served by the ztunnel's proxies and
 * DNS, with sockets opened inside the pod's network namespace. A new pod whose workload the config does not
 * know yet waits for it (bounded) rather than run unserved; if it never comes, `addPod` rejects and the pod is
 * not started (fail closed).
 */

import type { CaptureHandler, EnrolledPod } from '../../core/capture-handler.ts';
import { AmbitError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import type { Netns } from '../../core/sys/netns-socket.ts';
import { DEFAULT_TIMEOUTS } from '../settings.ts';
import type { Ztunnel } from '../ztunnel.ts';
import { NetnsPodSockets } from './netns-sockets.ts';

export interface ZtunnelCaptureOptions {
  /** How long a pod waits for its workload to appear in the config (default: the ztunnel's 5 s). */
  workloadWaitMs?: number | undefined;
  log?: Logger | undefined;
}

export class ZtunnelCaptureHandler implements CaptureHandler {
  readonly #ztunnel: Ztunnel;
  readonly #options: ZtunnelCaptureOptions;

  constructor(ztunnel: Ztunnel, options: ZtunnelCaptureOptions = {}) {
    this.#ztunnel = ztunnel;
    this.#options = options;
  }

  async addPod(pod: EnrolledPod, netns: Netns): Promise<void> {
    const waitMs = this.#options.workloadWaitMs ?? DEFAULT_TIMEOUTS.workloadWaitMs;
    const workload = await this.#ztunnel.state.waitForWorkload(pod.uid, waitMs);
    if (!workload) {
      throw new AmbitError(
        'NOT_FOUND',
        `the configuration has no workload ${pod.uid} after ${waitMs} ms; not serving it`,
      );
    }
    if (workload.node !== this.#ztunnel.node) {
      throw new AmbitError(
        'BAD_REQUEST',
        `workload ${pod.uid} runs on node ${workload.node}, not on ${this.#ztunnel.node}`,
      );
    }
    const sockets = new NetnsPodSockets(netns, {
      ipv6: pod.ips.some((ip) => ip.includes(':')),
      log: this.#options.log,
    });
    await this.#ztunnel.addPod({ uid: pod.uid, sockets });
  }

  removePod(uid: string): Promise<void> {
    return this.#ztunnel.removePod(uid);
  }
}
