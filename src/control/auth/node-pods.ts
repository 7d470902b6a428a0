/** What a node's credential is scoped by: the pods the runtime reported on that node. */
import type { PodRecord, PodSource } from '../pods/pod-source.ts';

/** Whether `node` runs a pod that `matches`. */
export function nodeRunsPod(pods: PodSource, node: string, matches: (pod: PodRecord) => boolean): boolean {
  return pods.list().some((pod) => pod.node === node && matches(pod));
}
