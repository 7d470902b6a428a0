/**
 * The control plane of the local cluster (a ClusterExtension, on by default, before enrollment). It runs
 * `ambit control` in the first node's namespace, listening on that node's underlay address (every node
 * reaches it across the fabric), with its state in `<state>/control/` (config, reported pods, the mesh CA,
 * one credential per node, the API socket) and the cluster's own config (`<state>/resources.yaml`) watched.
 *
 * - At `up`, before any process starts: a bearer token per node (`control/nodes/<node>.token`) and the
 *   mesh root CA (`control/ca/root-cert.pem`), so a node's ztunnel finds both from its first start.
 * - The supervisor is the runtime that tells the control plane which pods run where: before a pod first
 *   starts it is reported (not ready; its node may then obtain its certificate), then again on each change
 *   of its process (ready or not), reported not ready when it is being deleted (out of its Services, still
 *   a workload every node serves while it drains), and removed once it has ended for good. A pod that cannot be reported
 *   waits (fail closed: no identity, no start) and is retried with backoff.
 * - `ambit local label` reaches the control plane too: a pod is reported again with its new labels; a
 *   namespace's Namespace document is applied with its new labels, so that the workloads' enrollment seen
 *   by the control plane is the one the node agents enforce.
 * - Each time the control plane (re)becomes ready, every node's pods and every namespace's labels are synced
 *   again: what happened while it was down is not lost.
 *
 * Everything the supervisor sends goes through one queue and reads the latest state when it runs, so the
 * last word the control plane hears about a pod is always its current state.
 *
 * Replicas (`spec.controlPlane.replicas`, `up --control-plane-replicas`): one `ambit control` on each of the
 * first N nodes, all on the same state directory (config, pods, CA, node credentials are shared; see
 * `src/control/state`), each with its own API socket. Every data plane is given all their addresses, its
 * own node's replica (or, past the replicas, one in turn) first, so clients spread and fail over; the
 * supervisor and the CLI use whichever replica's socket answers.
 */
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual, promisify } from 'node:util';
import { stringify } from 'yaml';
import { type BackoffPolicy, backoffDelay } from '../../core/backoff.ts';
import { ControlApiClient } from '../../core/control-api/client.ts';
import { controlPaths, nodeTokenFile } from '../../core/control-api/paths.ts';
import type { PodInfo } from '../../core/control-api/types.ts';
import { AmbitError, errorMessage } from '../../core/errors.ts';
import { DEFAULT_TRUST_DOMAIN } from '../../core/identity.ts';
import { KeyedQueue } from '../../core/keyed-queue.ts';
import { createLogger } from '../../core/log.ts';
import { createNodeCredential } from '../../core/node-credentials.ts';
import { CONTROL_PLANE_PORTS } from '../../core/ports.ts';
import { type ClusterExtension, type ExtensionContext, perContext } from '../extensions.ts';
import { AMBIT_ENTRY, systemProcess } from '../processes.ts';
import { ensureGatewayCredential } from '../span/gateway-credential.ts';
import { nodeGatewayClient, nodeGatewayProcess } from '../span/node-gateway-process.ts';
import { hostsControlPlane, localNodes } from '../span/span.ts';
import { checkUnixSocketPath, type StatePaths } from '../state.ts';
import type { ProcessStatus } from '../supervisor/status.ts';
import type { ClusterState, NamespaceRecord, NodeRecord, PodRecord, ProcessSpec } from '../types.ts';

const execFileAsync = promisify(execFile);

/** The process id and component name: `ambit local logs control-plane`. */
export const CONTROL_PLANE = 'control-plane';

/**
 * Ports on the first node's underlay address: gRPC (discovery and CA) on Istio's 15012; metrics on istiod's
 * monitoring port 15014, since the node's ztunnel, in the same namespace, serves its own on 15020.
 */

/** How long one call to the control plane's API may take before the supervisor gives up on it. */
const API_TIMEOUT_MS = 5000;
/**
 * How long a removed pod waits for every data plane to confirm it gone: a push is ACKed in well under a
 * second; past this a data plane is stuck or gone, and the pod must not be held for it.
 */
const DRAIN_PUSH_WAIT_MS = 10_000;
/** Retries of a full resync after a failed call, until one succeeds. */
const RESYNC_BACKOFF: BackoffPolicy = { initialMs: 250, maxMs: 10_000 };

const log = createLogger('local.control-plane');

/** What a node's ztunnel needs to reach the control plane. */
export interface ControlPlaneEndpoint {
  /**
   * `<first node's underlay IP>:15012`: gRPC over TLS, discovery and certificates, from every node; with
   * replicas, every replica's in node order, comma-separated (`controlPlaneAddressFor` orders it per node).
   */
  address: string;
  /** The mesh root (PEM) that the control plane's server certificate chains to; exists once `up` prepared. */
  rootCertFile: string;
  /** The node whose namespace runs the (first) control plane. */
  node: string;
  /** The (first) control plane's API socket (root only): `ambit apply|get|delete --name <cluster>` use it. */
  socket: string;
  /** Every replica's API socket, the first's first. */
  sockets: string[];
}

/** One control-plane replica: its process, the node it runs on, its gRPC address and its API socket. */
export interface ControlPlaneReplica {
  /** `control-plane` for the first (as a cluster without replicas has it), `control-plane/<node>` after. */
  id: string;
  node: NodeRecord;
  address: string;
  socket: string;
}

/** The control plane's state directory: `<cluster state>/control/` (mode 0700). */
export function controlPlaneStateDir(cluster: Pick<ClusterState, 'stateDir'>): string {
  return join(cluster.stateDir, 'control');
}

/** The replicas, on the first nodes in order (the plan keeps them within the nodes, and there is one). */
export function controlPlaneReplicas(cluster: ClusterState): ControlPlaneReplica[] {
  const dir = controlPlaneStateDir(cluster);
  const count = cluster.controlPlane?.replicas ?? 1;
  return cluster.nodes.slice(0, count).map((node, index) => ({
    id: index === 0 ? CONTROL_PLANE : `${CONTROL_PLANE}/${node.name}`,
    node,
    address: `${node.underlayIP}:${CONTROL_PLANE_PORTS.grpc}`,
    socket: index === 0 ? controlPaths(dir).socket : join(dir, `replica-${node.name}.sock`),
  }));
}

/** Whether supervised process `id` is a control-plane replica. */
export function isControlPlaneProcess(id: string): boolean {
  return id.split('/')[0] === CONTROL_PLANE;
}

export function controlPlaneEndpoint(cluster: ClusterState): ControlPlaneEndpoint {
  const replicas = controlPlaneReplicas(cluster);
  const first = replicas[0]!;
  return {
    address: replicas.map((replica) => replica.address).join(','),
    rootCertFile: controlPaths(controlPlaneStateDir(cluster)).rootCert,
    node: first.node.name,
    socket: first.socket,
    sockets: replicas.map((replica) => replica.socket),
  };
}

/**
 * The addresses a data plane on `node` dials, in the order it tries them: its own node's replica first, or
 * on a node without one the replica its index falls to in turn, then the others in order. Clients spread
 * over the replicas, and a replica's loss moves only its own clients.
 */
export function controlPlaneAddressFor(cluster: ClusterState, node: string): string {
  const addresses = controlPlaneReplicas(cluster).map((replica) => replica.address);
  const index = Math.max(
    0,
    cluster.nodes.findIndex((candidate) => candidate.name === node),
  );
  const start = index % addresses.length;
  return [...addresses.slice(start), ...addresses.slice(0, start)].join(',');
}

/** The bearer token file (mode 0600) that `node`'s ztunnel authenticates to the control plane with. */
export function nodeCredentialFile(cluster: Pick<ClusterState, 'stateDir'>, node: string): string {
  return nodeTokenFile(controlPlaneStateDir(cluster), node);
}

/**
 * The supervised `ambit control` of each replica: root in its node's namespace, on the shared state
 * directory, ready once it serves all it serves.
 */
export function controlPlaneProcesses(cluster: ClusterState, paths: StatePaths): ProcessSpec[] {
  const first = controlPaths(controlPlaneStateDir(cluster)).socket;
  return controlPlaneReplicas(cluster).map((replica) =>
    systemProcess(paths, {
      id: replica.id,
      node: replica.node,
      argv: [
        'ambit',
        'control',
        '--state-dir',
        controlPlaneStateDir(cluster),
        '--config',
        paths.resources,
        '--listen',
        replica.address,
        '--metrics-port',
        String(CONTROL_PLANE_PORTS.metrics),
        ...(replica.socket === first ? [] : ['--api-socket', replica.socket]),
      ],
      readyPorts: [CONTROL_PLANE_PORTS.grpc, CONTROL_PLANE_PORTS.metrics],
      readyUnixSockets: [replica.socket],
    }),
  );
}

/** A pod as the control plane's API takes it. */
export function podInfo(pod: PodRecord, ready: boolean): PodInfo {
  return {
    uid: pod.uid,
    name: pod.name,
    namespace: pod.namespace,
    node: pod.node,
    ips: pod.ips,
    serviceAccount: pod.serviceAccount,
    labels: pod.labels,
    ready,
    ports: pod.container.ports.map((port) => ({
      name: port.name,
      containerPort: port.containerPort,
      protocol: port.protocol,
    })),
  };
}

/**
 * What the control plane should hold for a pod whose process is in `status`: the pod (ready or not), nothing
 * (it ended for good), or whatever it holds (not started yet: the start gate reports it; or stopped because
 * the whole cluster is going down, control plane included).
 */
export function podPresence(status: Pick<ProcessStatus, 'state' | 'ready'>):
  | 'keep'
  | 'remove'
  | {
      ready: boolean;
    } {
  switch (status.state) {
    case 'running':
      return { ready: status.ready };
    case 'backoff':
      return { ready: false };
    case 'succeeded':
    case 'failed':
      return 'remove';
    case 'waiting':
    case 'stopped':
      return 'keep';
  }
}

/** The Namespace document to apply for `namespace`: the stored one with the record's labels, or a new one. */
export function namespaceDocument(namespace: NamespaceRecord, stored: unknown): Record<string, unknown> {
  const document = (stored ?? {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: namespace.name },
  }) as Record<string, unknown> & { metadata: Record<string, unknown> };
  return { ...document, metadata: { ...document.metadata, labels: namespace.labels } };
}

/** The supervisor's side of the control plane for one cluster. */
class ControlPlaneSync {
  readonly #context: ExtensionContext;
  /** The control plane's API socket; undefined on a host that reaches it through the node gateway. */
  readonly #api: ControlApiClient | undefined;
  /** On such a host: a client per local node, each authenticated by that node's token. */
  readonly #remote = new Map<string, ControlApiClient>();
  /** One call at a time, in order (a report and a node resync racing would leave the older state last). */
  readonly #queue = new KeyedQueue();
  /** Pods the control plane should hold, and whether each is ready. */
  readonly #pods = new Map<string, { ready: boolean }>();
  /**
   * Pods withdrawn from their Services until they are forgotten, by uid: their readiness changes no longer
   * count, and a resync reports them (not ready) although the record no longer lists them.
   */
  readonly #terminating = new Map<string, PodRecord>();
  /** A full resync is due (a call failed): retried with backoff until one succeeds. */
  #retry: NodeJS.Timeout | undefined;
  #failedResyncs = 0;
  #closed = false;

  constructor(context: ExtensionContext) {
    this.#context = context;
    this.#api = hostsControlPlane(context.cluster)
      ? new ControlApiClient(controlPlaneEndpoint(context.cluster).sockets, { timeoutMs: API_TIMEOUT_MS })
      : undefined;
  }

  /** Who to tell about `node`'s pods: the API socket, or the node gateway with that node's token. */
  #apiFor(node: string): ControlApiClient {
    if (this.#api) return this.#api;
    let client = this.#remote.get(node);
    const record = this.#context.cluster.nodes.find((candidate) => candidate.name === node);
    if (!client && record) {
      client = nodeGatewayClient(this.#context.cluster, record, API_TIMEOUT_MS);
      this.#remote.set(node, client);
    }
    if (!client) throw new AmbitError('NOT_FOUND', `no node ${node} in the cluster`);
    return client;
  }

  /**
   * Runs a call in turn. If it fails, the control plane may now hold something stale: a full resync is
   * scheduled, and the caller learns why.
   */
  async #send(what: string, operation: () => Promise<void>): Promise<void> {
    try {
      await this.#queue.run(CONTROL_PLANE, operation);
    } catch (error) {
      this.#scheduleResync();
      throw new AmbitError(
        'UNAVAILABLE',
        `cannot tell the control plane ${what} (it is told again as soon as it answers): ${errorMessage(error)}`,
      );
    }
  }

  /** Before the pod first starts: the control plane must know it (and its node may hold its identity). */
  admit(pod: PodRecord): Promise<void> {
    if (!this.#pods.has(pod.uid)) this.#pods.set(pod.uid, { ready: false });
    return this.#send(`about pod ${pod.uid}`, () => this.#sendPod(pod.uid));
  }

  /** Brings the control plane's copy of the pod in line with the record and the pod's process. */
  sendPod(uid: string): Promise<void> {
    return this.#send(`about pod ${uid}`, () => this.#sendPod(uid));
  }

  /**
   * The pod is being deleted: it leaves its Services now (reported not ready, so no node picks it for a new
   * connection), while every node still knows it as a workload until it has stopped (`forget`). Forgetting it
   * at once made its own node refuse (503, a reset for the app) what a slower node still routed to it, and
   * what was already on its way, during the drain meant for exactly that (Kubernetes likewise keeps a
   * terminating pod, only marking its endpoints not ready).
   */
  withdraw(pod: PodRecord): Promise<void> {
    this.#terminating.set(pod.uid, pod);
    if (this.#pods.has(pod.uid)) this.#pods.set(pod.uid, { ready: false });
    return this.#send(`that pod ${pod.uid} is terminating`, async () => {
      await this.#apiFor(pod.node).reportPod(podInfo(pod, false));
    });
  }

  /** The pod has stopped and is being deleted: the control plane forgets it. */
  forget(pod: PodRecord): Promise<void> {
    this.#terminating.delete(pod.uid);
    this.#pods.delete(pod.uid);
    return this.#send(`that pod ${pod.uid} is gone`, async () => {
      await this.#apiFor(pod.node).removePod(pod.namespace, pod.name);
    });
  }

  /**
   * Resolves once every ztunnel and waypoint has the pod out of its Services (`withdraw` came first), or at the
   * bound. Outside the call queue: the wait must not hold up the pods that start meanwhile. On a host that
   * reaches the control plane through the node gateway there is nothing to ask: the drain period alone.
   */
  async awaitWithdrawn(pod: PodRecord): Promise<void> {
    if (!this.#api) return;
    const report = await this.#api.awaitPushed(DRAIN_PUSH_WAIT_MS);
    if (report.timedOut)
      log.warn('a terminating pod stops before every data plane confirmed it out of its Services', {
        pod: pod.uid,
        waitedMs: DRAIN_PUSH_WAIT_MS,
        pending: report.clients
          .filter((client) => client.state !== 'acked')
          .map((client) => `${client.kind} ${client.waypoint ?? client.node}`),
      });
  }

  applyNamespace(namespace: NamespaceRecord): Promise<void> {
    return this.#send(`the labels of namespace ${namespace.name}`, () =>
      this.#applyNamespace(namespace.name),
    );
  }

  processChanged(status: ProcessStatus): void {
    if (status.kind === 'system') {
      // Started afresh (its state on disk may predate what happened while it was down): tell it everything.
      if (isControlPlaneProcess(status.id) && status.state === 'running' && status.ready) this.#resyncNow();
      return;
    }
    const uid = status.podUid;
    if (uid === undefined || this.#terminating.has(uid)) return;
    const presence = podPresence(status);
    if (presence === 'keep') return;
    if (presence === 'remove') this.#pods.delete(uid);
    else this.#pods.set(uid, presence);
    this.sendPod(uid).catch((error: unknown) =>
      log.warn('pod change not reported', { pod: uid, error: errorMessage(error) }),
    );
  }

  #resyncNow(): void {
    clearTimeout(this.#retry);
    this.#retry = undefined;
    this.#queue
      .run(CONTROL_PLANE, () => this.#resync())
      .then(
        () => {
          this.#failedResyncs = 0;
        },
        (error: unknown) => {
          this.#failedResyncs++;
          log.warn('control plane resync failed; retrying', { error: errorMessage(error) });
          this.#scheduleResync();
        },
      );
  }

  #scheduleResync(): void {
    if (this.#retry || this.#closed) return;
    const delay = backoffDelay(this.#failedResyncs, RESYNC_BACKOFF);
    this.#retry = setTimeout(() => this.#resyncNow(), delay);
    this.#retry.unref();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
  }

  async #sendPod(uid: string): Promise<void> {
    const pod = this.#context.cluster.pods.find((candidate) => candidate.uid === uid);
    if (!pod) return;
    const known = this.#pods.get(uid);
    const api = this.#apiFor(pod.node);
    if (known) await api.reportPod(podInfo(pod, known.ready));
    else await api.removePod(pod.namespace, pod.name);
  }

  /** Applies the namespace's labels from the record, unless the control plane already has them. */
  async #applyNamespace(name: string): Promise<void> {
    const namespace = this.#context.cluster.namespaces.find((candidate) => candidate.name === name);
    // Namespaces are the control plane host's to apply (the node gateway takes pod calls only).
    if (!namespace || !this.#api) return;
    const [stored] = await this.#api.get({ kind: 'Namespace', name });
    const storedLabels =
      (stored?.document as { metadata?: { labels?: Record<string, string> } } | undefined)?.metadata
        ?.labels ?? {};
    if (isDeepStrictEqual(storedLabels, namespace.labels)) return;
    const result = await this.#api.apply([
      {
        name: `namespace ${name} (ambit local label)`,
        content: stringify(namespaceDocument(namespace, stored?.document)),
      },
    ]);
    log.info('namespace labels applied', { namespace: name, revision: result.revision });
  }

  /** Everything again: the labels of every namespace, then every node's pods. */
  async #resync(): Promise<void> {
    const { cluster } = this.#context;
    for (const namespace of cluster.namespaces) await this.#applyNamespace(namespace.name);
    // Only this host's nodes: another host's pods are that host's to report.
    for (const node of localNodes(cluster)) {
      const pods = cluster.pods.flatMap((pod) => {
        const known = this.#pods.get(pod.uid);
        return pod.node === node.name && known && !this.#terminating.has(pod.uid)
          ? [podInfo(pod, known.ready)]
          : [];
      });
      for (const pod of this.#terminating.values())
        if (pod.node === node.name) pods.push(podInfo(pod, false));
      await this.#apiFor(node.name).syncNodePods(node.name, pods);
    }
    log.info('control plane synced', { pods: this.#pods.size });
  }
}

const perCluster = perContext((context) => new ControlPlaneSync(context));
const sync = perCluster.get;

export const extension: ClusterExtension = {
  name: 'control-plane',

  async prepare({ cluster }) {
    // A joining host has the root and its nodes' tokens from the join bundle (installed by `up`).
    if (!hostsControlPlane(cluster)) return;
    const dir = controlPlaneStateDir(cluster);
    for (const replica of controlPlaneReplicas(cluster))
      checkUnixSocketPath(replica.socket, "the control plane's API socket");
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const node of cluster.nodes) createNodeCredential(dir, node.name);
    if (cluster.span) ensureGatewayCredential(cluster);
    // The root exists before any process starts, so a ztunnel never waits for it. The control plane makes it
    // (`ambit control init`, a process like the control plane itself: the cluster never loads its code).
    await execFileAsync(process.execPath, [
      AMBIT_ENTRY,
      'control',
      'init',
      '--state-dir',
      dir,
      '--trust-domain',
      DEFAULT_TRUST_DOMAIN,
    ]);
  },

  systemProcesses({ cluster, paths }) {
    // Across hosts, the node gateway beside it takes the other hosts' pod reports.
    return [
      ...controlPlaneProcesses(cluster, paths),
      ...(cluster.span ? [nodeGatewayProcess(cluster, paths)] : []),
    ];
  },

  beforePodStart(pod, context) {
    return sync(context).admit(pod);
  },

  podRelabeled(pod, context) {
    return sync(context).sendPod(pod.uid);
  },

  podTerminating(pod, context) {
    return sync(context).withdraw(pod);
  },

  podDraining(pod, context) {
    return sync(context).awaitWithdrawn(pod);
  },

  podRemoved(pod, context) {
    return sync(context).forget(pod);
  },

  namespaceRelabeled(namespace, context) {
    return sync(context).applyNamespace(namespace);
  },

  async processChanged(process, context) {
    sync(context).processChanged(process);
  },

  async stop(context) {
    perCluster.drop(context)?.close();
  },
};
