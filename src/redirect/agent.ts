/**
 * The node agent's enrollment logic: for each pod, open its listeners (through the CaptureHandler) and
 * install its rules; undo both on removal. It keeps only what it can get back from the runtime (the pods and
 * the open netns handles, in memory); after a restart the runtime's snapshot rebuilds it.
 *
 * Order, both ways, so that a running pod (enrolled or unenrolled by a label change) never has rules that
 * point at ports with nobody listening: add = listeners, then rules; remove = rules, then listeners. The
 * ACK comes after both, and the runtime starts a new pod's process only after the ACK.
 */

import type { CaptureHandler } from '../core/capture-handler.ts';
import { AmbitError, errorMessage } from '../core/errors.ts';
import { KeyedQueue } from '../core/keyed-queue.ts';
import { createLogger, type Logger } from '../core/log.ts';
import { Netns } from '../core/sys/netns-socket.ts';
import type { BackendChoice } from './backend/types.ts';
import type { EnrolledPod } from './enroll/protocol.ts';
import type { EnrollmentHandler } from './enroll/server.ts';
import type { CommandRunner, NetnsTarget } from './exec.ts';
import { applyRules, removeRules } from './rules.ts';

export interface CaptureAgentOptions {
  handler: CaptureHandler;
  backend?: BackendChoice | undefined;
  runner?: CommandRunner | undefined;
  /** Pods being enrolled or removed at once (each runs a few short rule commands). Default 8. */
  concurrency?: number | undefined;
  log?: Logger | undefined;
}

interface Captured {
  pod: EnrolledPod;
  netns: Netns;
}

/** The netns as nsenter should open it: through our own fd, so it is the very namespace we hold. */
function targetOf(netns: Netns): NetnsTarget {
  return { path: `/proc/${process.pid}/fd/${netns.fd}` };
}

export class CaptureAgent implements EnrollmentHandler {
  readonly #options: CaptureAgentOptions;
  readonly #log: Logger;
  readonly #pods = new Map<string, Captured>();
  /** Add and remove of one pod never overlap. */
  readonly #queue = new KeyedQueue();
  readonly #slots: Array<() => void> = [];
  #busy = 0;

  constructor(options: CaptureAgentOptions) {
    this.#options = options;
    this.#log = options.log ?? createLogger('capture-agent');
  }

  /** Pods currently captured. */
  get pods(): EnrolledPod[] {
    return [...this.#pods.values()].map((captured) => captured.pod);
  }

  add(pod: EnrolledPod): Promise<void> {
    return this.#queue.run(pod.uid, () => this.#add(pod));
  }

  remove(uid: string, netnsPath: string | undefined): Promise<void> {
    return this.#queue.run(uid, () => this.#remove(uid, netnsPath));
  }

  async retainOnly(uids: ReadonlySet<string>): Promise<void> {
    const gone = [...this.#pods.keys()].filter((uid) => !uids.has(uid));
    if (gone.length > 0) this.#log.info('removing pods missing from the snapshot', { pods: gone });
    const results = await Promise.allSettled(gone.map((uid) => this.remove(uid, undefined)));
    const failed = results.filter((result) => result.status === 'rejected');
    if (failed.length > 0) {
      throw new AmbitError(
        'ENROLL_CAPTURE',
        `could not remove ${failed.length} pod(s) missing from the snapshot: ${failed.map((f) => errorMessage(f.reason)).join('; ')}`,
      );
    }
  }

  async #add(pod: EnrolledPod): Promise<void> {
    const existing = this.#pods.get(pod.uid);
    let netns: Netns;
    try {
      netns = Netns.open(pod.netns);
    } catch (error) {
      throw new AmbitError('ENROLL_NETNS', `pod ${pod.uid}: ${errorMessage(error)}`);
    }
    if (existing && existing.netns.inode === netns.inode) {
      // Already captured (a resync after the runtime restarted): listeners and rules are in place.
      netns.close();
      existing.pod = pod;
      return;
    }
    if (existing) await this.#remove(pod.uid, undefined);
    let listening = false;
    try {
      await this.#withSlot(async () => {
        await this.#options.handler.addPod(pod, netns);
        listening = true;
        await applyRules(targetOf(netns), this.#ruleOptions());
      });
    } catch (error) {
      // Fail closed: nothing of the pod stays half-installed (applyRules undoes its own part).
      if (listening) await this.#options.handler.removePod(pod.uid).catch(() => {});
      netns.close();
      this.#log.error('cannot capture pod', { pod: pod.uid, error });
      throw new AmbitError('ENROLL_CAPTURE', `pod ${pod.uid}: ${errorMessage(error)}`);
    }
    this.#pods.set(pod.uid, { pod, netns });
    this.#log.info('pod captured', { pod: pod.uid, netns: pod.netns });
  }

  async #remove(uid: string, netnsPath: string | undefined): Promise<void> {
    const captured = this.#pods.get(uid);
    if (!captured) {
      if (netnsPath !== undefined) await this.#removeLeftover(uid, netnsPath);
      return;
    }
    await this.#withSlot(() => removeRules(targetOf(captured.netns), this.#ruleOptions()));
    this.#pods.delete(uid);
    try {
      await this.#options.handler.removePod(uid);
    } finally {
      captured.netns.close();
    }
    this.#log.info('pod released', { pod: uid });
  }

  /** A pod we do not know (we restarted) that the runtime says was unenrolled: clean its netns of our rules. */
  async #removeLeftover(uid: string, netnsPath: string): Promise<void> {
    let netns: Netns;
    try {
      netns = Netns.open(netnsPath);
    } catch {
      return; // The namespace is gone, and our rules with it.
    }
    try {
      await this.#withSlot(() => removeRules(targetOf(netns), this.#ruleOptions()));
      this.#log.info('removed leftover rules', { pod: uid, netns: netnsPath });
    } finally {
      netns.close();
    }
  }

  #ruleOptions() {
    return { backend: this.#options.backend, runner: this.#options.runner };
  }

  async #withSlot<T>(work: () => Promise<T>): Promise<T> {
    const limit = this.#options.concurrency ?? 8;
    if (this.#busy >= limit) await new Promise<void>((resolve) => this.#slots.push(resolve));
    else this.#busy++;
    try {
      return await work();
    } finally {
      const next = this.#slots.shift();
      if (next) next();
      else this.#busy--;
    }
  }

  /** Closes every pod's listeners and netns handles; the rules stay (pods stay captured, fail closed). */
  async close(): Promise<void> {
    const pods = [...this.#pods.values()];
    this.#pods.clear();
    await Promise.allSettled(pods.map((captured) => this.#options.handler.removePod(captured.pod.uid)));
    for (const captured of pods) captured.netns.close();
  }
}
