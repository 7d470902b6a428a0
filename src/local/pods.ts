/** Finding a pod of a cluster by the name a user typed (`name`, `-n ns name` or `ns/name`). */
import { AmbitError } from '../core/errors.ts';
import type { ClusterState, PodRecord } from './types.ts';

/**
 * Without a namespace, `default` is meant (as kubectl does), unless the name exists in exactly one other
 * namespace: then that pod is unambiguous and is the one returned.
 */
export function findPod(cluster: ClusterState, name: string, namespace?: string): PodRecord {
  if (namespace === undefined && name.includes('/'))
    [namespace, name] = name.split('/', 2) as [string, string];
  const candidates = cluster.pods.filter((pod) => pod.name === name);
  const pod =
    namespace !== undefined
      ? candidates.find((candidate) => candidate.namespace === namespace)
      : (candidates.find((candidate) => candidate.namespace === 'default') ??
        (candidates.length === 1 ? candidates[0] : undefined));
  if (pod) return pod;
  const hint =
    candidates.length > 1 && namespace === undefined
      ? `several pods are named ${name} (${candidates.map((c) => c.uid).join(', ')}): pick one with -n`
      : `pods: ${cluster.pods.map((p) => p.uid).join(', ') || 'none'}`;
  throw new AmbitError(
    'NOT_FOUND',
    `no pod ${namespace ? `${namespace}/` : ''}${name} in cluster ${cluster.name} (${hint})`,
  );
}
