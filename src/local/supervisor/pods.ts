/**
 * Pods added and removed while the cluster runs, in the supervisor (the cluster record's only writer once
 * it is up). Adding: place the pod, create its network, record it in `cluster.json`, then supervise its
 * process, which starts once the extensions' start gates pass, as for the cluster file's pods. Removing:
 * the extensions let go of it first (the control plane stops routing to it, its node agent stops capturing
 * it), then its process is stopped, its record dropped and its network deleted. One change at a time.
 */
import { errorMessage } from '../../core/errors.ts';
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
    return this.#queue.run(ONE_AT_A_TIME, async () => {
      const pod = placePod(this.context.cluster, template);
      await createPodNetwork(this.context.cluster, this.context.paths, pod);
      this.#record(withPods(this.context.cluster, [...this.context.cluster.pods, pod]));
      this.supervisor.add(podProcess(this.context.paths, pod));
      this.log.info('pod added', { pod: pod.uid, node: pod.node, ip: pod.ips[0] });
      return pod;
    });
  }

  remove(uid: string): Promise<void> {
    return this.#queue.run(ONE_AT_A_TIME, async () => {
      const pod = this.context.cluster.pods.find((candidate) => candidate.uid === uid);
      if (!pod) return;
      for (const extension of await this.extensions) {
        await extension.podRemoved?.(pod, this.context).catch((error: unknown) =>
          // The pod goes anyway; the extension resyncs what it holds (e.g. the control plane's pod list).
          this.log.warn('extension failed on a pod removal', { pod: uid, error: errorMessage(error) }),
        );
      }
      await this.supervisor.remove(podProcessId(pod));
      this.#record(
        withPods(
          this.context.cluster,
          this.context.cluster.pods.filter((candidate) => candidate.uid !== uid),
        ),
      );
      await deletePodNetwork(pod);
      this.log.info('pod removed', { pod: uid });
    });
  }

  #record(cluster: ClusterState): void {
    writeJsonAtomic(this.context.paths.cluster, cluster);
    this.context.cluster = cluster;
  }
}
