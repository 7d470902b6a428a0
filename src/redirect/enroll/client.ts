/**
 * The runtime side of the enrollment protocol (the local cluster now, the Kubernetes CNI plugin later).
 *
 * The client holds the runtime's intent: the pods it has enrolled and the removals not yet confirmed. If the
 * connection drops (the agent restarted), it reconnects with backoff and resyncs on its own: pending
 * removals first, then an add for every enrolled pod, then snapshot-done, so the agent ends up with exactly
 * these pods. `enroll` fails fast when the agent cannot confirm (the pod must then not start: fail closed);
 * `unenroll` is kept and retried until the agent confirms it.
 */
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { AmbitError, asAmbitError } from '../../core/errors.ts';
import { createLogger, type Logger } from '../../core/log.ts';
import { readLines } from './lines.ts';
import {
  type AgentMessage,
  type ClientMessage,
  type EnrolledPod,
  EnrollmentError,
  encodeMessage,
  MAX_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  parseAgentMessage,
} from './protocol.ts';

export interface EnrollmentClientOptions {
  /** How long a request may wait for the agent (to be reachable, then to answer). Default 30 s. */
  requestTimeoutMs?: number | undefined;
  /** Reconnect and resync when the connection drops. Default true; a one-shot caller turns it off. */
  reconnect?: boolean | undefined;
  /** Called after each automatic resync with the pods the agent refused. */
  onResync?: ((result: SnapshotResult) => void) | undefined;
  log?: Logger | undefined;
}

export interface SnapshotResult {
  /** Pods the agent could not capture; they are no longer considered enrolled. */
  failed: Array<{ uid: string; error: AmbitError }>;
}

interface Pending {
  resolve: () => void;
  reject: (error: AmbitError) => void;
}

const unavailable = (why: string) => new AmbitError('UNAVAILABLE', `node agent unavailable: ${why}`);

export class EnrollmentClient {
  readonly socketPath: string;
  readonly #timeoutMs: number;
  readonly #reconnect: boolean;
  readonly #onResync: ((result: SnapshotResult) => void) | undefined;
  readonly #log: Logger;

  readonly #enrolled = new Map<string, EnrolledPod>();
  /**
   * Adds the agent did not answer in time: it may still capture the pod later (the control plane was slow to
   * give it the pod's workload or certificate), so until an add or a removal is confirmed the pod counts as
   * possibly captured and a change of intent must remove it.
   */
  readonly #unconfirmed = new Map<string, EnrolledPod>();
  /** uid -> netns path of the pod, for removals the agent has not confirmed yet. */
  readonly #removals = new Map<string, string | undefined>();
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #socket: net.Socket | undefined;
  #readyWaiters: Array<() => void> = [];
  #loop: Promise<void> | undefined;
  #closed = false;

  constructor(socketPath: string, options: EnrollmentClientOptions = {}) {
    this.socketPath = socketPath;
    this.#timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.#reconnect = options.reconnect ?? true;
    this.#onResync = options.onResync;
    this.#log = options.log ?? createLogger('enroll-client');
  }

  /** Pods the agent has confirmed (or is being asked again to confirm after a reconnect). */
  get enrolled(): EnrolledPod[] {
    return [...this.#enrolled.values()];
  }

  /** Whether the agent may be capturing the pod: it confirmed the add, or did not answer it in time. */
  mayHold(uid: string): boolean {
    return this.#enrolled.has(uid) || this.#unconfirmed.has(uid);
  }

  get connected(): boolean {
    return this.#socket !== undefined;
  }

  /** Connects (retrying while the agent is not up yet) and resolves once the agent has said hello. */
  async connect(): Promise<void> {
    this.#loop ??= this.#run();
    await this.#whenReady(this.#timeoutMs);
  }

  /**
   * Asks the agent to capture the pod; resolves on ACK (the pod may start now), rejects with the agent's
   * error on NACK, or UNAVAILABLE when it cannot tell. Never start the pod after a reject.
   */
  async enroll(pod: EnrolledPod): Promise<void> {
    this.#removals.delete(pod.uid);
    try {
      await this.#request((id) => ({ type: 'add', id, pod }));
      this.#unconfirmed.delete(pod.uid);
      this.#enrolled.set(pod.uid, pod);
    } catch (error) {
      this.#enrolled.delete(pod.uid);
      // A NACK is the agent's answer (nothing of the pod stays installed); no answer leaves it unknown.
      if (error instanceof EnrollmentError) this.#unconfirmed.delete(pod.uid);
      else this.#unconfirmed.set(pod.uid, pod);
      throw error;
    }
  }

  /**
   * Asks the agent to stop capturing the pod (label removed, pod deleted). Kept until confirmed: if the
   * agent is away, the removal is sent again when it is back. Resolves on ACK. `netnsPath` matters only for
   * a pod this client did not enroll (after a runtime restart): it lets an agent that does not know the pod
   * still clean the rules out of its namespace.
   */
  async unenroll(uid: string, netnsPath?: string): Promise<void> {
    const netns =
      (this.#enrolled.get(uid) ?? this.#unconfirmed.get(uid))?.netns ?? netnsPath ?? this.#removals.get(uid);
    this.#enrolled.delete(uid);
    this.#unconfirmed.delete(uid);
    this.#removals.set(uid, netns);
    for (;;) {
      try {
        await this.#request((id) => ({ type: 'remove', id, uid, netns }));
        if (this.#removals.get(uid) === netns) this.#removals.delete(uid);
        return;
      } catch (error) {
        if (!(error instanceof AmbitError) || error.code !== 'UNAVAILABLE' || this.#closed) {
          throw error;
        }
        if (!this.#removals.has(uid)) return; // enrolled again meanwhile
      }
    }
  }

  /**
   * Replaces the agent's set of pods with `pods` (after a runtime restart): the agent adds what it lacks and
   * removes any other pod. Resolves with the pods it refused.
   */
  async snapshot(pods: readonly EnrolledPod[]): Promise<SnapshotResult> {
    this.#enrolled.clear();
    for (const pod of pods) this.#enrolled.set(pod.uid, pod);
    await this.connect();
    return this.#sendSnapshot();
  }

  /** Stops reconnecting and drops the connection; requests still waiting are rejected. */
  close(): void {
    this.#closed = true;
    this.#socket?.destroy();
    this.#failPending(unavailable('client closed'));
  }

  async #sendSnapshot(): Promise<SnapshotResult> {
    const removals = [...this.#removals].map(([uid, netns]) =>
      this.#request((id) => ({ type: 'remove', id, uid, netns })).then(() => this.#removals.delete(uid)),
    );
    const pods = [...this.#enrolled.values()];
    const unconfirmed = [...this.#unconfirmed.keys()];
    const adds = pods.map((pod) => this.#request((id) => ({ type: 'add', id, pod })));
    const done = this.#request((id) => ({ type: 'snapshot-done', id }));
    const results = await Promise.allSettled(adds);
    await Promise.allSettled(removals);
    await done;
    // The snapshot left out the unanswered adds, so the agent has removed those pods.
    for (const uid of unconfirmed) this.#unconfirmed.delete(uid);
    const failed: SnapshotResult['failed'] = [];
    results.forEach((result, i) => {
      if (result.status === 'rejected') {
        const uid = pods[i]!.uid;
        this.#enrolled.delete(uid);
        failed.push({ uid, error: asAmbitError(result.reason) });
      }
    });
    return { failed };
  }

  async #request(build: (id: number) => ClientMessage): Promise<void> {
    const socket = await this.#whenReady(this.#timeoutMs);
    const id = this.#nextId++;
    const message = build(id);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(unavailable(`no answer to ${message.type} within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#pending.set(id, {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      socket.write(encodeMessage(message));
    });
  }

  #whenReady(timeoutMs: number): Promise<net.Socket> {
    if (this.#closed) return Promise.reject(unavailable('client closed'));
    if (this.#socket) return Promise.resolve(this.#socket);
    this.#loop ??= this.#run();
    return new Promise((resolve, reject) => {
      const waiter = () => {
        clearTimeout(timer);
        if (this.#socket) resolve(this.#socket);
        else reject(unavailable('client closed'));
      };
      const timer = setTimeout(() => {
        this.#readyWaiters = this.#readyWaiters.filter((w) => w !== waiter);
        reject(unavailable(`cannot reach ${this.socketPath} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#readyWaiters.push(waiter);
    });
  }

  #wakeWaiters(): void {
    const waiters = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const waiter of waiters) waiter();
  }

  #failPending(error: AmbitError): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const request of pending) request.reject(error);
    if (this.#closed) this.#wakeWaiters();
  }

  /** The connection loop: connect, greet, (re)sync, serve until the socket closes, back off, again. */
  async #run(): Promise<void> {
    let delay = 100;
    let connectedBefore = false;
    while (!this.#closed) {
      const socket = await this.#open().catch((error: unknown) => {
        this.#log.debug('agent not reachable', { socket: this.socketPath, error });
        return undefined;
      });
      if (socket) {
        delay = 100;
        const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
        this.#socket = socket;
        if (connectedBefore) {
          // The agent restarted (it knows no pods) or we lost it: bring it back to our intent first; other
          // requests wait behind the resync on the same connection.
          void this.#sendSnapshot().then(
            (result) => {
              this.#log.info('resynced with the node agent', {
                pods: this.#enrolled.size,
                failed: result.failed.length,
              });
              this.#onResync?.(result);
            },
            (error: unknown) => this.#log.warn('resync with the node agent failed', { error }),
          );
        }
        connectedBefore = true;
        this.#wakeWaiters();
        await closed;
        this.#socket = undefined;
        this.#failPending(unavailable('connection lost before the answer'));
      }
      if (!this.#reconnect && connectedBefore) break;
      await sleep(delay, undefined, { ref: false });
      delay = Math.min(delay * 2, 2000);
    }
    this.#closed = true;
    this.#wakeWaiters();
  }

  /** Connects and exchanges hellos; resolves with a socket whose answers are routed to pending requests. */
  #open(): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(this.socketPath);
      let greeted = false;
      socket.on('error', (error) => {
        if (greeted) this.#log.warn('enrollment connection error', { error });
        else reject(error);
      });
      socket.once('close', () => {
        if (!greeted) reject(unavailable('closed during hello'));
      });
      socket.once('connect', () => socket.write(encodeMessage({ type: 'hello', version: PROTOCOL_VERSION })));
      readLines(
        socket,
        MAX_MESSAGE_BYTES,
        (line) => {
          let message: AgentMessage;
          try {
            message = parseAgentMessage(line);
          } catch (error) {
            this.#log.warn('bad message from the agent', { error });
            socket.destroy();
            return;
          }
          if (!greeted) {
            if (message.type === 'hello') {
              greeted = true;
              resolve(socket);
            } else {
              reject(message.type === 'error' ? new EnrollmentError(message.error) : unavailable('no hello'));
              socket.destroy();
            }
            return;
          }
          this.#onAnswer(message);
        },
        () => socket.destroy(),
      );
    });
  }

  #onAnswer(message: AgentMessage): void {
    if (message.type === 'error') {
      this.#log.warn('the agent closed the connection', { error: message.error });
      return;
    }
    if (message.type === 'hello') return;
    const request = this.#pending.get(message.id);
    if (!request) return;
    this.#pending.delete(message.id);
    if (message.type === 'ack') request.resolve();
    else request.reject(new EnrollmentError(message.error));
  }
}
