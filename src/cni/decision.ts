/**
 * Whether ADD enrolls the pod, decided from what the Kubernetes API says of it: the same labels as
 * everywhere in the mesh (`istio.io/dataplane-mode` on the pod or its namespace), minus what ambient never
 * captures (host-network pods share the node's namespace; excluded namespaces run the cluster itself).
 */
import { isEnrolled } from '../core/labels.ts';
import type { EnrolledPod } from '../redirect/enroll/protocol.ts';

/** The fields of a Pod and its Namespace that the decision reads. */
export interface PodFacts {
  uid: string;
  namespace: string;
  name: string;
  labels: Readonly<Record<string, string>>;
  namespaceLabels: Readonly<Record<string, string>>;
  serviceAccount: string;
  hostNetwork: boolean;
}

export type EnrollDecision = { enroll: true; pod: EnrolledPod } | { enroll: false; reason: string };

export function decideEnrollment(
  facts: PodFacts,
  context: { ips: readonly string[]; netns: string; excludeNamespaces: readonly string[] },
): EnrollDecision {
  if (facts.hostNetwork) return { enroll: false, reason: 'the pod uses the host network' };
  if (context.excludeNamespaces.includes(facts.namespace)) {
    return { enroll: false, reason: `namespace ${facts.namespace} is excluded` };
  }
  if (!isEnrolled(facts.labels, facts.namespaceLabels)) {
    return { enroll: false, reason: 'neither the pod nor its namespace is ambient' };
  }
  return {
    enroll: true,
    pod: {
      uid: facts.uid,
      name: facts.name,
      namespace: facts.namespace,
      serviceAccount: facts.serviceAccount,
      ips: [...context.ips],
      netns: context.netns,
    },
  };
}
