/**
 * Pods that were running before Ambit's node agent started (Ambit installed on a live cluster, or the agent
 * restarted) never passed through ADD: they are enrolled from the API, as istio-cni's reconciler does. The
 * pods of this node are listed, the same decision as ADD's is made for each (decision.ts), and each ambient
 * one's network namespace is found through a process of its sandbox: the kubelet puts every container of a
 * pod in a cgroup whose name carries the pod's UID (`pod<uid>` for the cgroupfs driver, `pod<uid with _>`
 * for systemd's), so `/proc/<pid>/cgroup` names the pod and `/proc/<pid>/ns/net` is its namespace. Then
 * `add` goes to the node agent, which answers an already captured pod with an ACK (same namespace) and
 * captures the others without restarting them.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { EnrollmentClient } from '../redirect/enroll/client.ts';
import { decideEnrollment } from './decision.ts';

/** Whether a `/proc/<pid>/cgroup` text puts the process in the pod with `uid`. */
export function cgroupOfPod(cgroupText: string, uid: string): boolean {
  const names = [`pod${uid}`, `pod${uid.replaceAll('-', '_')}`];
  return cgroupText
    .split('\n')
    .flatMap((line) => line.split('/'))
    .some((part) => names.some((name) => part === name || part.endsWith(`-${name}.slice`)));
}

/**
 * The network namespace of a process of the pod, or undefined. One in the agent's own namespace (the host's:
 * the agent runs on the host network) is no sandbox's: a host-network pod's.
 */
export function podNetnsPath(uid: string, procRoot = '/proc'): string | undefined {
  const host = statSync(join(procRoot, 'self', 'ns', 'net')).ino;
  for (const entry of readdirSync(procRoot)) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!cgroupOfPod(readFileSync(join(procRoot, entry, 'cgroup'), 'utf8'), uid)) continue;
      const netns = join(procRoot, entry, 'ns', 'net');
      if (statSync(netns).ino !== host) return netns;
    } catch {
      // The process ended meanwhile.
    }
  }
  return undefined;
}

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
    procRoot?: string | undefined;
    timeoutMs?: number | undefined;
    log: Logger;
  },
): Promise<ReconcileOutcome> {
  const api = config.makeApiClient(CoreV1Api);
  const [pods, namespaces] = await Promise.all([api.listPodForAllNamespaces(), api.listNamespace()]);
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
      const netns = podNetnsPath(uid, options.procRoot);
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
          ips: (pod.status?.podIPs ?? []).map((entry) => entry.ip),
          netns: netns ?? '',
          excludeNamespaces: options.excludeNamespaces,
        },
      );
      if (!decision.enroll) {
        outcome.skipped.push({ pod: key, reason: decision.reason });
        continue;
      }
      if (netns === undefined || decision.pod.ips.length === 0) {
        outcome.skipped.push({ pod: key, reason: 'no running sandbox (its ADD will enroll it)' });
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
