/**
 * What the node gateway lets a node do: the three calls a supervisor makes about its own pods, each only
 * for pods that the plan places on the calling node and with the plan's identity (address and service
 * account). The control plane hands certificates to a node for the identities of the pods reported on it,
 * so a node that could report any pod could obtain any identity: the gateway is where that is bounded.
 */
import type { PodInfo } from '../../core/control-api/types.ts';
import type { PodRecord } from '../types.ts';

export type NodeCall =
  | { kind: 'report'; pod: PodInfo }
  | { kind: 'remove'; namespace: string; name: string }
  | { kind: 'sync'; node: string; pods: PodInfo[] };

/** Why a call was refused (the gateway counts refusals by these). */
export type RefusalReason = 'no-such-call' | 'bad-body' | 'other-node' | 'not-planned' | 'identity-mismatch';

export type NodeCallDecision =
  | { allowed: true; call: NodeCall }
  | { allowed: false; status: number; reason: RefusalReason };

const REFUSAL_STATUS: Record<RefusalReason, number> = {
  'no-such-call': 404,
  'bad-body': 400,
  'other-node': 403,
  'not-planned': 403,
  'identity-mismatch': 403,
};

function refuse(reason: RefusalReason): NodeCallDecision {
  return { allowed: false, status: REFUSAL_STATUS[reason], reason };
}

/** The planned pod `namespace/name`, if the plan has it. */
export type PlannedPods = (namespace: string, name: string) => PodRecord | undefined;

const POD_PATH = /^\/v1\/pods\/([^/]+)\/([^/]+)$/;
const NODE_PODS_PATH = /^\/v1\/nodes\/([^/]+)\/pods$/;

export function authorizeNodeCall(
  caller: string,
  method: string,
  path: string,
  body: unknown,
  planned: PlannedPods,
): NodeCallDecision {
  if (method === 'PUT' && path === '/v1/pods') {
    const problem = checkPod(caller, body, planned);
    return problem ? refuse(problem) : { allowed: true, call: { kind: 'report', pod: body as PodInfo } };
  }
  const podPath = method === 'DELETE' ? POD_PATH.exec(path) : null;
  if (podPath) {
    const namespace = safeDecode(podPath[1]!);
    const name = safeDecode(podPath[2]!);
    if (namespace === undefined || name === undefined) return refuse('bad-body');
    const pod = planned(namespace, name);
    if (!pod) return refuse('not-planned');
    if (pod.node !== caller) return refuse('other-node');
    return { allowed: true, call: { kind: 'remove', namespace, name } };
  }
  const nodePath = method === 'PUT' ? NODE_PODS_PATH.exec(path) : null;
  if (nodePath) {
    if (safeDecode(nodePath[1]!) !== caller) return refuse('other-node');
    const pods = (body as { pods?: unknown } | null)?.pods;
    if (!Array.isArray(pods)) return refuse('bad-body');
    for (const pod of pods) {
      const problem = checkPod(caller, pod, planned);
      if (problem) return refuse(problem);
    }
    return { allowed: true, call: { kind: 'sync', node: caller, pods: pods as PodInfo[] } };
  }
  return refuse('no-such-call');
}

function checkPod(caller: string, value: unknown, planned: PlannedPods): RefusalReason | undefined {
  const pod = value as Partial<PodInfo> | null;
  if (
    pod === null ||
    typeof pod !== 'object' ||
    typeof pod.name !== 'string' ||
    typeof pod.namespace !== 'string' ||
    typeof pod.node !== 'string' ||
    !Array.isArray(pod.ips)
  ) {
    return 'bad-body';
  }
  if (pod.node !== caller) return 'other-node';
  const record = planned(pod.namespace, pod.name);
  if (!record) return 'not-planned';
  if (record.node !== caller) return 'other-node';
  const sameIdentity =
    (pod.uid ?? `${pod.namespace}/${pod.name}`) === record.uid &&
    (pod.serviceAccount ?? 'default') === record.serviceAccount &&
    pod.ips.length === record.ips.length &&
    pod.ips.every((ip, i) => ip === record.ips[i]);
  return sameIdentity ? undefined : 'identity-mismatch';
}

function safeDecode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}
