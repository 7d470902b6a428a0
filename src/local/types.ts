/**
 * What a local cluster is made of, as recorded in its state directory (`cluster.json`). Plain data: written
 * by `up`, read by every other command, by the supervisor and by the extensions that add the mesh. Its
 * nodes and ranges are static once up; labels (`ambit local label`), pods, Services and namespaces (live
 * objects, see live/) change while it runs, written back by the supervisor, the file's only writer after
 * `up`.
 */

import type { PortProtocol, RestartPolicy, ServicePortSpec, ServiceType } from '../core/config/kinds/core.ts';
import type { ProbeKind, ProbeTiming } from '../core/config/kinds/probes.ts';
import type { PortMappingSpec } from './port-mapping-spec.ts';
import type { SpanRecord } from './span/span.ts';

export interface AddressPlan {
  podCIDR: string;
  serviceCIDR: string;
  underlayCIDR: string;
  /** Cluster DNS VIP (10th address of the service range); resolv.conf of every pod points at it. */
  dnsVIP: string;
  /** The cluster file's `spec.dns.upstream`: where names outside the cluster domain are forwarded. */
  dnsUpstream?: string | undefined;
}

export interface FabricRecord {
  netns: string;
  netnsPath: string;
  bridge: string;
}

export interface NodeRecord {
  name: string;
  /** Position in the Cluster's `spec.nodes` (0-based); node 0 hosts the control plane. */
  index: number;
  netns: string;
  netnsPath: string;
  /** The node's address on the fabric (interface `uplink`): what other nodes and the control plane use. */
  underlayIP: string;
  underlayPrefix: number;
  uplink: string;
  /** The veth end in the fabric namespace. */
  fabricPort: string;
  /** This node's share of the pod range, e.g. 10.244.1.0/24. */
  podCIDR: string;
  /** Address of the node's pod bridge: every pod's default gateway. */
  gatewayIP: string;
  podBridge: string;
}

export interface NamespaceRecord {
  name: string;
  labels: Record<string, string>;
}

export interface PodRecord {
  /** `<namespace>/<name>`: the pod's id in the local cluster (the Workload uid of the mesh model). */
  uid: string;
  name: string;
  namespace: string;
  node: string;
  ips: string[];
  serviceAccount: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** What generated the pod, if anything: a Deployment, a waypoint's Gateway, or an addon (Prometheus). */
  owner?: { kind: 'Deployment' | 'Gateway' | 'Addon'; name: string } | undefined;
  netns: string;
  netnsPath: string;
  /** The pod's veth end in its node's namespace. */
  hostVeth: string;
  gatewayIP: string;
  /** The unix user and group the pod's process and `exec` run as. */
  runAsUser: number;
  runAsGroup: number;
  container: ContainerRecord;
  /** Run one after another to completion before `container` starts (pods the files give may have them). */
  initContainers?: InitContainerRecord[] | undefined;
  restartPolicy: RestartPolicy;
  /** Seconds between SIGTERM and SIGKILL when the pod's process is stopped. */
  terminationGracePeriodSeconds: number;
  /** Volumes bind-mounted into the pod's mount namespace (its process and `exec` see them). */
  mounts: MountRecord[];
}

/** An init container: what runs, in the pod's network namespace as the pod's user, with its own mounts. */
export type InitContainerRecord = Pick<ContainerRecord, 'name' | 'argv' | 'env' | 'workingDir'> & {
  mounts: MountRecord[];
};

export interface MountRecord {
  /** The volume's directory under `<state>/volumes/`, prepared by `up`. */
  source: string;
  mountPath: string;
  readOnly: boolean;
  /** `source` is one file (a ConfigMap's or Secret's key by `subPath`), mounted over a file. */
  file?: boolean | undefined;
}

/** A probe with its port resolved to a number; `host` defaults to the pod IP. */
export type ProbeRecord = ProbeTiming & {
  handler:
    | {
        type: 'httpGet';
        path: string;
        port: number;
        host: string;
        scheme: 'HTTP' | 'HTTPS';
        headers: { name: string; value: string }[];
      }
    | { type: 'tcpSocket'; port: number; host: string }
    | { type: 'exec'; command: string[] }
    | { type: 'grpc'; port: number; host: string; service: string };
};

export interface ContainerRecord {
  name: string;
  /** `command` + `args`, with `$(VAR)` references expanded as Kubernetes does. */
  argv: string[];
  /** The container's env, resolved (downward API values filled in), plus POD_NAME and friends. */
  env: Record<string, string>;
  workingDir: string;
  ports: { name?: string | undefined; containerPort: number; protocol: PortProtocol }[];
  /** The image as written, when the container names one (a stand-in may run for it). */
  image?: string | undefined;
  probes: Partial<Record<ProbeKind, ProbeRecord>>;
}

export interface ServiceRecord {
  name: string;
  namespace: string;
  type: ServiceType;
  labels: Record<string, string>;
  /** `sessionAffinity: ClientIP`: a client keeps its endpoint for `timeoutSeconds` after its last connection. */
  sessionAffinity?: { timeoutSeconds: number } | undefined;
  /** Not-ready pods are endpoints too (for the cluster DNS and the Service rules). */
  publishNotReadyAddresses?: boolean | undefined;
  /** Undefined for a headless Service (`clusterIP: None`). */
  clusterIP: string | undefined;
  ports: ServicePortSpec[];
  selector: Record<string, string> | undefined;
  /** uids of the pods the selector matches. */
  podUids: string[];
}

export interface ClusterState {
  /** Format of this record; bumped when it changes incompatibly. */
  version: 1;
  name: string;
  createdAt: string;
  stateDir: string;
  addresses: AddressPlan;
  /** Metric of this cluster's `unreachable` routes in the root namespace. */
  routeMetric: number;
  fabric: FabricRecord;
  nodes: NodeRecord[];
  namespaces: NamespaceRecord[];
  pods: PodRecord[];
  services: ServiceRecord[];
  /** Modules whose `extension` export adds to the cluster (see extensions.ts); the supervisor loads them. */
  extensions: string[];
  /** The cluster file's `spec.portMappings` (absent in records made before they existed). */
  portMappings?: PortMappingSpec[] | undefined;
  /** A cluster across hosts: the part of it this host realizes (see span/span.ts); none on one host. */
  span?: SpanRecord | undefined;
  /** Control-plane replicas, on the first nodes in order (absent in records made before replicas: one). */
  controlPlane?: { replicas: number } | undefined;
}

/** One process the supervisor runs and restarts: a pod's container or a system component. */
export interface ProcessSpec {
  /** Unique in the cluster: `pod/<namespace>/<name>` for pods, e.g. `control-plane`, `ztunnel/<node>`. */
  id: string;
  kind: 'pod' | 'system';
  /** The pod's uid for pods. */
  podUid?: string | undefined;
  /** The node the process belongs to (`ambit local logs <node>` shows its system processes). */
  node?: string | undefined;
  /** The network namespace it runs in (entered with `ip netns exec`, which also applies /etc/netns/<ns>). */
  netns: string;
  argv: string[];
  /** The whole environment: nothing is inherited from the supervisor. */
  env: Record<string, string>;
  runAsUser: number;
  runAsGroup: number;
  cwd: string;
  /** stdout and stderr go here (appended). */
  logFile: string;
  restartPolicy: RestartPolicy;
  /** The process is ready once TCP listeners on all these ports exist in its namespace (none: at start)... */
  readyPorts: number[];
  /** ...and unix sockets are listening at all these paths in its namespace (a node agent's socket). */
  readyUnixSockets: string[];
  /** Pods: probes run by the supervisor; a readiness probe replaces `readyPorts`. */
  probes?: Partial<Record<ProbeKind, ProbeRecord>> | undefined;
  /** Pods: run as root in the namespace before the user is dropped (volume mounts; see pod-volumes.ts). */
  prologue?: string[] | undefined;
  /** Time between SIGTERM and SIGKILL when the process is stopped (the supervisor's default otherwise). */
  stopGraceMs?: number | undefined;
  /**
   * Pods: their init containers, run to completion one after another before `argv` first starts (a failed
   * one is run again as `restartPolicy` says; `Never` fails the pod). Later restarts of `argv` skip them.
   */
  init?: InitStep[] | undefined;
}

/** One init container as the supervisor runs it: in the process's namespace, as its user, to its log file. */
export interface InitStep {
  name: string;
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  prologue: string[];
}
