/**
 * Pods added and removed while the cluster runs, in the supervisor (the cluster record's only writer once
 * it is up). Adding: place the pod, create its network, record it in `cluster.json`, then supervise its
 * process, which starts once the extensions' start gates pass, as for the cluster file's pods. Removing:
 * traffic stops first (the control plane drops its endpoints, the record drops the pod), then, after the
 * caller's drain period, the extensions let go of it (its node agent stops capturing it), its process is
 * stopped and its network deleted. One change at a time.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { AmbitError, errorMessage } from '../../core/errors.ts';
import { writeJsonAtomic } from '../../core/files.ts';
import { KeyedQueue } from '../../core/keyed-queue.ts';
import type { Logger } from '../../core/log.ts';
import { labelsMatch } from '../../core/policy/selector.ts';
import type { ClusterExtension, ExtensionContext, PodRuntime } from '../extensions.ts';
import { createPodNetwork, deletePodNetwork, type PodTemplate, placePod } from '../pod-runtime.ts';
import { podProcess, podProcessId } from '../processes.ts';
import type { ClusterState, PodRecord } from '../types.ts';
import type { Supervisor } from './supervisor.ts';

const ONE_AT_A_TIME = 'pods';

/** The record with `pods` as its pods, and each Service's selected pods brought up to date. */
export function withPods(cluster: ClusterState, pods: PodRecord[]): ClusterState {
  return {
    ...cluster,
    pods,
    services: cluster.services.map((service) => {
      const selector = service.selector;
      if (!selector) return service;
      const podUids = pods
        .filter((pod) => pod.namespace === service.namespace && labelsMatch(selector, pod.labels))
        .map((pod) => pod.uid);
      return { ...service, podUids };
    }),
  };
}

export class SupervisedPods implements PodRuntime {
  readonly #queue = new KeyedQueue();
  /** Pods out of the record, draining before they stop: by uid. */
  readonly #draining = new Map<string, PodRecord>();
  private readonly context: ExtensionContext;
  private readonly supervisor: Supervisor;
  private readonly extensions: Promise<ClusterExtension[]>;
  private readonly log: Logger;

  constructor(
    context: ExtensionContext,
    supervisor: Supervisor,
    extensions: Promise<ClusterExtension[]>,
    log: Logger,
  ) {
    this.context = context;
    this.supervisor = supervisor;
    this.extensions = extensions;
    this.log = log;
  }

  add(template: PodTemplate): Promise<PodRecord> {
    return this.addPlaced((cluster) => placePod(cluster, template));
  }

  addPlaced(place: (cluster: ClusterState) => PodRecord): Promise<PodRecord> {
    return this.#queue.run(ONE_AT_A_TIME, async () => {
      const cluster = this.context.cluster;
      // Draining pods still hold their names, addresses and network namespaces.
      const holding = { ...cluster, pods: [...cluster.pods, ...this.#draining.values()] };
      const pod = place(holding);
      if (holding.pods.some((candidate) => candidate.uid === pod.uid))
        throw new AmbitError('CONFLICT', `pod ${pod.uid} already exists in cluster ${cluster.name}`);
      await createPodNetwork(cluster, this.context.paths, pod);
      this.#record(withPods(this.context.cluster, [...this.context.cluster.pods, pod]));
      this.supervisor.add(podProcess(this.context.paths, pod));
      this.log.info('pod added', { pod: pod.uid, node: pod.node, ip: pod.ips[0] });
      return pod;
    });
  }

  async remove(uid: string, options: { drainMs?: number } = {}): Promise<void> {
    const pod = await this.#queue.run(ONE_AT_A_TIME, async () => {
      const found = this.context.cluster.pods.find((candidate) => candidate.uid === uid);
      if (!found) return undefined;
      await this.#tell('podTerminating', found);
      // Out of the record too, so that what follows it (Service endpoints) lets go of the pod while it
      // still answers; it holds its address and name until its network is gone (see `#draining`).
      this.#draining.set(uid, found);
      this.#record(
        withPods(
          this.context.cluster,
          this.context.cluster.pods.filter((candidate) => candidate.uid !== uid),
        ),
      );
      return found;
    });
    if (!pod) return;
    // Outside the queue: other pods come and go meanwhile (a rollout drains several at once). The drain
    // counts from when every node has let go of the pod: a fixed sleep alone lost requests to a pushed
    // change that arrived late on a loaded machine.
    if (options.drainMs) {
      await this.#tell('podDraining', pod);
      await sleep(options.drainMs);
    }
    await this.#queue.run(ONE_AT_A_TIME, async () => {
      try {
        await this.#tell('podRemoved', pod);
        await this.supervisor.remove(podProcessId(pod));
        await deletePodNetwork(pod);
      } finally {
        this.#draining.delete(uid);
      }
      this.log.info('pod removed', { pod: uid });
    });
  }

  async #tell(hook: 'podTerminating' | 'podDraining' | 'podRemoved', pod: PodRecord): Promise<void> {
    for (const extension of await this.extensions) {
      await extension[hook]?.(pod, this.context).catch((error: unknown) =>
        // The pod goes anyway; the extension resyncs what it holds (e.g. the control plane's pod list).
        this.log.warn('extension failed on a pod removal', {
          pod: pod.uid,
          hook,
          error: errorMessage(error),
        }),
      );
    }
  }

  update(change: (cluster: ClusterState) => ClusterState): Promise<void> {
    return this.#queue.run(ONE_AT_A_TIME, async () => {
      const changed = change(this.context.cluster);
      this.#record(withPods(changed, changed.pods));
    });
  }

  #record(cluster: ClusterState): void {
    writeJsonAtomic(this.context.paths.cluster, cluster);
    this.context.cluster = cluster;
  }
}
