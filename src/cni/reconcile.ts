/**
 * Pods that were running before Ambit's node agent started (Ambit installed on a live cluster, or the agent
 * restarted) never passed through ADD: they are enrolled from the API, as istio-cni's reconciler does. The
 * pods of this node are listed, the same decision as ADD's is made for each (decision.ts), and each ambient
 * one's network namespace is the one pinned by the runtime that holds the pod's IPs (pinned-netns.ts: a
 * path the ztunnel, in another PID namespace, opens as it opens CNI_NETNS). Then `add` goes to the node
 * agent, which answers an already captured pod with an ACK (same namespace) and captures the others without
 * restarting them.
 */
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { RUNTIME_NETNS_DIR } from '../kube/manifests/settings.ts';
import { EnrollmentClient } from '../redirect/enroll/client.ts';
import { createRunner } from '../redirect/exec.ts';
import { decideEnrollment } from './decision.ts';
import { namespaceHolding, readPinnedNamespaces } from './pinned-netns.ts';

export interface ReconcileOutcome {
  enrolled: string[];
  skipped: Array<{ pod: string; reason: string }>;
  failed: Array<{ pod: string; error: string }>;
}

export async function reconcileNodePods(
  config: KubeConfig,
  options: {
    node: string;
    enrollSocket: string;
    excludeNamespaces: readonly string[];
    timeoutMs?: number | undefined;
    log: Logger;
  },
): Promise<ReconcileOutcome> {
  const api = config.makeApiClient(CoreV1Api);
  const [pods, namespaces, pinned] = await Promise.all([
    api.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${options.node}` }),
    api.listNamespace(),
    readPinnedNamespaces(RUNTIME_NETNS_DIR, createRunner()),
  ]);
  const namespaceLabels = new Map(
    namespaces.items.map((ns) => [ns.metadata?.name, ns.metadata?.labels ?? {}]),
  );
  const outcome: ReconcileOutcome = { enrolled: [], skipped: [], failed: [] };
  const client = new EnrollmentClient(options.enrollSocket, {
    requestTimeoutMs: options.timeoutMs,
    reconnect: false,
  });
  try {
    for (const pod of pods.items) {
      const { name, namespace, uid } = pod.metadata ?? {};
      if (pod.spec?.nodeName !== options.node || !name || !namespace || !uid) continue;
      const key = `${namespace}/${name}`;
      if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') continue;
      const ips = (pod.status?.podIPs ?? []).map((entry) => entry.ip);
      const netns = namespaceHolding(ips, pinned);
      const decision = decideEnrollment(
        {
          uid,
          namespace,
          name,
          labels: pod.metadata?.labels ?? {},
          namespaceLabels: namespaceLabels.get(namespace) ?? {},
          serviceAccount: pod.spec?.serviceAccountName || 'default',
          hostNetwork: pod.spec?.hostNetwork === true,
        },
        {
          ips,
          netns: 'path' in netns ? netns.path : '',
          excludeNamespaces: options.excludeNamespaces,
        },
      );
      if (!decision.enroll) {
        outcome.skipped.push({ pod: key, reason: decision.reason });
        continue;
      }
      if ('problem' in netns) {
        outcome.skipped.push({ pod: key, reason: `${netns.problem} (its ADD will enroll it)` });
        continue;
      }
      try {
        await client.enroll(decision.pod);
        outcome.enrolled.push(key);
      } catch (error) {
        outcome.failed.push({ pod: key, error: errorMessage(error) });
        options.log.warn('cannot enroll a running pod', { pod: key, error: errorMessage(error) });
      }
    }
  } finally {
    client.close();
  }
  return outcome;
}
