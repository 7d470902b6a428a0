/**
 * What a Service stands for right now, as Kubernetes' EndpointSlices say it: the ready pods it selects and,
 * per Service port, the pod port each of them serves it on (a named targetPort is looked up among each
 * pod's container ports; a pod without that name serves no endpoint for the port). Pure: from the cluster
 * record and the supervisor's view of which pods are ready. The cluster DNS and the kube-proxy rules both
 * read Services through this one view.
 */
import type { PortProtocol } from '../../core/config/kinds/core.ts';
import type { ProcessStatus } from '../supervisor/status.ts';
import type { ClusterState, PodRecord, ServiceRecord } from '../types.ts';

/**
 * Whether a pod may receive Service traffic: running and ready as the supervisor says (its readiness probe
 * passes, or without one, it listens on every declared TCP port).
 */
export function podReady(status: ProcessStatus | undefined): boolean {
  return status?.state === 'running' && status.ready;
}

/** Ready pods by uid, from the supervisor's status (`status.json`). */
export function readyPodUids(processes: readonly ProcessStatus[]): Set<string> {
  const ready = new Set<string>();
  for (const process of processes) {
    if (process.kind === 'pod' && process.podUid !== undefined && podReady(process))
      ready.add(process.podUid);
  }
  return ready;
}

export interface Endpoint {
  ip: string;
  port: number;
  podUid: string;
}

export interface ServicePortView {
  name?: string | undefined;
  port: number;
  protocol: PortProtocol;
  nodePort?: number | undefined;
  /** Ready endpoints, in pod order (stable, so that rules change only when endpoints do). */
  endpoints: Endpoint[];
}

export interface ServiceView {
  name: string;
  namespace: string;
  type: ServiceRecord['type'];
  clusterIP: string | undefined;
  sessionAffinity?: ServiceRecord['sessionAffinity'];
  ports: ServicePortView[];
  /** The selected pods that are ready, or all of them with `publishNotReadyAddresses` (a headless Service's DNS answers). */
  readyPods: PodRecord[];
}

export interface ClusterServices {
  services: ServiceView[];
  pods: PodRecord[];
}

export function clusterServices(cluster: ClusterState, ready: ReadonlySet<string>): ClusterServices {
  const pods = new Map(cluster.pods.map((pod) => [pod.uid, pod]));
  const services = cluster.services.map((service): ServiceView => {
    const readyPods = service.podUids.flatMap((uid) => {
      const pod = pods.get(uid);
      return pod && (ready.has(uid) || service.publishNotReadyAddresses) ? [pod] : [];
    });
    return {
      name: service.name,
      namespace: service.namespace,
      type: service.type,
      clusterIP: service.clusterIP,
      sessionAffinity: service.sessionAffinity,
      ports: service.ports.map((port) => ({
        name: port.name,
        port: port.port,
        protocol: port.protocol,
        nodePort: port.nodePort,
        endpoints: readyPods.flatMap((pod) => {
          const target = targetPortOf(pod, port.targetPort, port.protocol);
          return target === undefined ? [] : [{ ip: pod.ips[0]!, port: target, podUid: pod.uid }];
        }),
      })),
      readyPods,
    };
  });
  return { services, pods: cluster.pods };
}

/** The pod port behind a Service's targetPort: the number itself, or the container port of that name. */
export function targetPortOf(
  pod: PodRecord,
  targetPort: number | string,
  protocol: PortProtocol,
): number | undefined {
  if (typeof targetPort === 'number') return targetPort;
  return pod.container.ports.find((port) => port.name === targetPort && port.protocol === protocol)
    ?.containerPort;
}
