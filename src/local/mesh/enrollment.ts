/**
 * Pod enrollment in the local cluster (a ClusterExtension, on by default). Each node runs a node agent
 * (node-agent.ts); the supervisor holds one EnrollmentClient per node and keeps each pod's enrollment in
 * line with `isEnrolled(pod labels, namespace labels)`:
 *
 * - before a pod first starts, an enrolled pod is added to its node's agent and the pod starts only after
 *   the ACK (rules and listeners in place); a NACK or an unreachable agent rejects the start gate, so the pod
 *   stays Pending with the error and the supervisor retries with backoff (fail closed);
 * - when labels change (`ambit local label`), the pod is enrolled or unenrolled as it runs, never restarted;
 * - an enrollment or removal that failed (the agent refused, or did not answer while the control plane was
 *   frozen) is tried again with backoff until it succeeds, so the pod's status converges and clears;
 * - when an agent restarts, its client reconnects and resyncs every pod it holds (a snapshot).
 *
 * What each pod ended up as is reported to the supervisor's status (`MESH` in `ambit local status`).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type BackoffPolicy, backoffDelay } from '../../core/backoff.ts';
import { AmbitError, errorMessage } from '../../core/errors.ts';
import { KeyedQueue } from '../../core/keyed-queue.ts';
import { isEnrolled } from '../../core/labels.ts';
import { createLogger } from '../../core/log.ts';
import { EnrollmentClient } from '../../redirect/enroll/client.ts';
import type { EnrolledPod } from '../../redirect/enroll/protocol.ts';
import { backendChoice } from '../../redirect/rules.ts';
import { type ClusterExtension, type ExtensionContext, perContext } from '../extensions.ts';
import { checkUnixSocketPath } from '../state.ts';
import type { PodMesh, ProcessStatus } from '../supervisor/status.ts';
import type { PodRecord } from '../types.ts';
import { podPresence } from './control-plane.ts';
import { nodeAgentKind, nodeAgentProcess, nodeAgentSocket } from './node-agent.ts';

/** How long an add or a removal may wait for the agent (to be reachable, then to answer). */
const AGENT_TIMEOUT_MS = 10_000;

/** Retries of a failed reconcile: soon at first (a brief agent restart), then every half minute at most. */
const RETRY_BACKOFF: BackoffPolicy = { initialMs: 1_000, maxMs: 30_000 };

const log = createLogger('local.enrollment');

export function enrolledPod(pod: PodRecord): EnrolledPod {
  return {
    uid: pod.uid,
    name: pod.name,
    namespace: pod.namespace,
    serviceAccount: pod.serviceAccount,
    ips: pod.ips,
    netns: pod.netnsPath,
  };
}

/** Whether the latest labels of the pod and of its namespace enroll it. */
export function wantsEnrollment(context: ExtensionContext, pod: PodRecord): boolean {
  const namespace = context.cluster.namespaces.find((candidate) => candidate.name === pod.namespace);
  return isEnrolled(pod.labels, namespace?.labels ?? {});
}

/** The supervisor's side of enrollment for one cluster: a client per node, one operation per pod at a time. */
class Enrollments {
  readonly #context: ExtensionContext;
  readonly #clients = new Map<string, EnrollmentClient>();
  readonly #queue = new KeyedQueue();
  /**
   * Pods whose process ended for good. They are not enrolled by a later label change: nothing will run to
   * be captured, and the control plane no longer lists them, so the ztunnel would refuse them.
   */
  readonly #ended = new Set<string>();
  /** Pods whose last reconcile failed: the pending retry and how many came before it. */
  readonly #retries = new Map<string, { timer: NodeJS.Timeout; attempt: number }>();
  #closed = false;

  constructor(context: ExtensionContext) {
    this.#context = context;
  }

  processChanged(status: ProcessStatus): void {
    if (status.kind !== 'pod' || status.podUid === undefined) return;
    if (podPresence(status) === 'remove') this.#ended.add(status.podUid);
    else if (status.state === 'running') this.#ended.delete(status.podUid);
  }

  /**
   * Brings the pod's enrollment in line with its latest labels; rejects when it should be enrolled and is
   * not (the agent refused or cannot be reached). Operations on one pod never overlap, and each reads the
   * labels when it runs, so a start gate and a label change racing each other end in the latest intent.
   */
  reconcile(uid: string): Promise<void> {
    return this.#queue
      .run(uid, () => this.#reconcile(uid))
      .then(
        () => this.#cancelRetry(uid),
        (error: unknown) => {
          this.#retryLater(uid, error);
          throw error;
        },
      );
  }

  /**
   * Nobody else would try again for a running pod (the start gate retries only before the first start), and
   * an add the agent did not answer may still have captured the pod: reconcile again until it converges.
   */
  #retryLater(uid: string, error: unknown): void {
    if (this.#closed || !this.#context.cluster.pods.some((pod) => pod.uid === uid)) return;
    const attempt = (this.#retries.get(uid)?.attempt ?? -1) + 1;
    this.#cancelRetry(uid);
    const delay = backoffDelay(attempt, RETRY_BACKOFF);
    const timer = setTimeout(() => void this.reconcile(uid).catch(() => {}), delay);
    timer.unref();
    this.#retries.set(uid, { timer, attempt });
    log.info('enrollment not converged; retrying', {
      pod: uid,
      retryInMs: delay,
      error: errorMessage(error),
    });
  }

  #cancelRetry(uid: string): void {
    clearTimeout(this.#retries.get(uid)?.timer);
    this.#retries.delete(uid);
  }

  async #reconcile(uid: string): Promise<void> {
    const pod = this.#context.cluster.pods.find((candidate) => candidate.uid === uid);
    if (!pod) throw new AmbitError('NOT_FOUND', `pod ${uid} is not in the cluster record`);
    const client = this.#client(pod.node);
    const enrolled = client.enrolled.some((candidate) => candidate.uid === uid);
    if (wantsEnrollment(this.#context, pod)) {
      if (!enrolled && this.#ended.has(uid)) {
        log.info('pod ended; not enrolling it', { pod: uid });
        return;
      }
      if (!enrolled) {
        try {
          await client.enroll(enrolledPod(pod));
        } catch (error) {
          this.#report(uid, { state: 'error', message: errorMessage(error) });
          throw error;
        }
        log.info('pod enrolled', { pod: uid, node: pod.node });
      }
      this.#report(uid, { state: 'ambient' });
      return;
    }
    // Also when the agent never answered an add: it may have captured the pod after all.
    if (client.mayHold(uid)) await this.#unenroll(client, pod);
    this.#report(uid, { state: 'none' });
  }

  /** The pod is being deleted: its capture goes first (if it has one), and nothing is kept about it. */
  forget(pod: PodRecord): Promise<void> {
    this.#cancelRetry(pod.uid);
    return this.#queue.run(pod.uid, async () => {
      this.#ended.delete(pod.uid);
      const client = this.#client(pod.node);
      if (client.mayHold(pod.uid)) await this.#unenroll(client, pod);
    });
  }

  /**
   * The client keeps a removal until the agent confirms it (and replays it when the agent is back), so
   * waiting for it is bounded here only to tell the caller in time; the pod's state follows the outcome.
   */
  async #unenroll(client: EnrollmentClient, pod: PodRecord): Promise<void> {
    const removal = client.unenroll(pod.uid, pod.netnsPath).then(
      () => true,
      (error: unknown) => {
        this.#report(pod.uid, { state: 'error', message: `unenroll failed: ${errorMessage(error)}` });
        throw error;
      },
    );
    const late = new AbortController();
    let done: boolean;
    try {
      done = await Promise.race([
        removal,
        sleep(AGENT_TIMEOUT_MS, false, { signal: late.signal }).catch(() => false),
      ]);
    } finally {
      late.abort();
    }
    if (!done) {
      const message = `the node agent of ${pod.node} has not confirmed the removal within ${AGENT_TIMEOUT_MS} ms; it is sent again when the agent is back`;
      this.#report(pod.uid, { state: 'error', message });
      void removal.then(
        () => this.#report(pod.uid, { state: 'none' }),
        () => {},
      );
      throw new AmbitError('UNAVAILABLE', message);
    }
    log.info('pod unenrolled', { pod: pod.uid, node: pod.node });
  }

  #client(node: string): EnrollmentClient {
    let client = this.#clients.get(node);
    if (!client) {
      client = new EnrollmentClient(nodeAgentSocket(this.#context.cluster, node), {
        requestTimeoutMs: AGENT_TIMEOUT_MS,
        log: log.child(node),
        onResync: ({ failed }) => {
          for (const { uid, error } of failed) {
            this.#report(uid, {
              state: 'error',
              message: `the node agent refused the pod when resyncing after a restart: ${error.message}`,
            });
          }
        },
      });
      this.#clients.set(node, client);
    }
    return client;
  }

  #report(uid: string, mesh: PodMesh): void {
    this.#context.reportMesh?.(uid, mesh);
  }

  close(): void {
    this.#closed = true;
    for (const uid of [...this.#retries.keys()]) this.#cancelRetry(uid);
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
  }
}

const perCluster = perContext((context) => new Enrollments(context));
const enrollments = perCluster.get;

export const extension: ClusterExtension = {
  name: 'enrollment',

  async prepare({ cluster }) {
    for (const node of cluster.nodes) {
      checkUnixSocketPath(nodeAgentSocket(cluster, node.name), `the node agent socket of ${node.name}`);
    }
  },

  systemProcesses(context) {
    // Read once at `up` (a bad value fails `up`) and written into the processes' command lines.
    const setup = { kind: nodeAgentKind(), backend: backendChoice() };
    return context.cluster.nodes.map((node) => nodeAgentProcess(context, node, setup));
  },

  beforePodStart(pod, context) {
    return enrollments(context).reconcile(pod.uid);
  },

  podRelabeled(pod, context) {
    return enrollments(context).reconcile(pod.uid);
  },

  podRemoved(pod, context) {
    return enrollments(context).forget(pod);
  },

  async processChanged(process, context) {
    enrollments(context).processChanged(process);
  },

  async stop(context) {
    perCluster.drop(context)?.close();
  },
};
