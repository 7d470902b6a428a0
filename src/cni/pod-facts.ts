/** Reads what the enrollment decision needs of a pod (and of its namespace) from the Kubernetes API. */
import { CoreV1Api } from '@kubernetes/client-node';
import { withDeadline } from '../core/deadline.ts';
import { errorMessage } from '../core/errors.ts';
import { loadKubeConfig } from '../kube/client.ts';
import type { PodFacts } from './decision.ts';
import type { PodRef } from './request.ts';
import { CNI_ERROR, CniError } from './spec.ts';

export async function readPodFacts(
  ref: PodRef,
  kubeconfig: string | undefined,
  timeoutMs: number,
): Promise<PodFacts> {
  const what = `reading pod ${ref.namespace}/${ref.name} from the Kubernetes API`;
  try {
    const api = loadKubeConfig(kubeconfig).makeApiClient(CoreV1Api);
    const [pod, namespace] = await withDeadline(
      Promise.all([
        api.readNamespacedPod({ name: ref.name, namespace: ref.namespace }),
        api.readNamespace({ name: ref.namespace }),
      ]),
      timeoutMs,
      what,
    );
    const uid = pod.metadata?.uid;
    if (!uid) throw new Error('the pod has no metadata.uid');
    if (ref.uid !== undefined && ref.uid !== uid) {
      throw new Error(
        `the API's pod has uid ${uid}, the runtime's K8S_POD_UID is ${ref.uid} (a replaced pod)`,
      );
    }
    return {
      uid,
      namespace: ref.namespace,
      name: ref.name,
      labels: pod.metadata?.labels ?? {},
      namespaceLabels: namespace.metadata?.labels ?? {},
      serviceAccount: pod.spec?.serviceAccountName || 'default',
      hostNetwork: pod.spec?.hostNetwork === true,
    };
  } catch (error) {
    // Not knowing whether the pod is ambient must not let it start uncaptured: fail closed.
    throw new CniError(CNI_ERROR.podLookupFailed, `${what} failed`, errorMessage(error));
  }
}
