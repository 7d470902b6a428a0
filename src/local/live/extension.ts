/**
 * Live objects (a ClusterExtension, after the mesh's): the running cluster follows the core objects the
 * control plane stores, as Kubernetes' controllers follow the API server. `ambit apply|delete -f` of a
 * Namespace, Service, Pod, Deployment, ServiceAccount, ConfigMap or Secret reaches the control plane; this
 * extension sees its config revision change (polled through its API, as the waypoint deployment does for
 * Gateways), plans the stored objects as `up` plans a cluster file (see desired.ts) and brings the cluster
 * record and its pods in line: namespaces added, Services recorded with their ClusterIPs and node ports
 * (cluster DNS and kube-proxy follow the record), bare pods added and removed, Deployments scaled and
 * rolled out step by step (see rollout.ts), each step once the pods of the previous one are ready.
 *
 * Pods come and go through the supervisor's runtime (`context.pods`), which journals their network so that
 * `down` removes it, and runs every extension's start gate (control plane report, mesh enrollment per
 * labels). A removed pod leaves the record and the control plane first, and is stopped only after a drain
 * period, so that no node still sends it traffic when it stops.
 *
 * A Service applied without a ClusterIP gets one here; it is written back to the control plane, so that the
 * mesh serves the same VIP. Objects the local cluster cannot run (an image without stand-in, a missing
 * namespace) are refused by `ambit apply` before they reach the control plane (see check.ts); if some
 * still get there, the pass is logged and nothing is changed until the config is fixed.
 */
import { readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { parseYamlText } from '../../core/config/documents.ts';
import { isPlainObject } from '../../core/config/field.ts';
import { formatIssue } from '../../core/config/issues.ts';
import { ControlApiClient } from '../../core/control-api/client.ts';
import type { StoredResource } from '../../core/control-api/types.ts';
import { errorMessage } from '../../core/errors.ts';
import { createLogger } from '../../core/log.ts';
import { type ClusterExtension, type ExtensionContext, perContext } from '../extensions.ts';
import { controlPlaneEndpoint, isControlPlaneProcess } from '../mesh/control-plane.ts';
import { deploymentPodName } from '../pod-names.ts';
import { freePodAddress, leastLoadedNode } from '../pod-runtime.ts';
import { writePodVolumes } from '../pod-volumes.ts';
import type { ClusterState, PodRecord, ServiceRecord } from '../types.ts';
import {
  LIVE_KINDS,
  type LivePlan,
  liveChanges,
  planLive,
  type StoredDocument,
  TEMPLATE_HASH_LABEL,
} from './desired.ts';
import { storedDocuments } from './stored.ts';

/** How often the control plane's revision is checked, and a pending rollout looked at again. */
const POLL_MS = 250;
const API_TIMEOUT_MS = 5000;
/**
 * How long a removed pod keeps answering after it left its Services: the control plane pushes within its
 * debounce (100 ms) and the nodes' kube-proxy and cluster DNS re-read the record within tens of ms.
 */
export const POD_DRAIN_MS = 1000;
/** How long an address a removed pod held is not given to a new pod, if another is free. */
const ADDRESS_QUARANTINE_MS = 60_000;
/** How long the name of a removed Deployment pod is not given to a new one. */
const NAME_QUARANTINE_MS = 60_000;

const log = createLogger('local.live');
const CLUSTER_FILE_MISSING = 'cluster file missing';
/** The origin of a watched file's objects, as the API's StoredResource.origin documents it. */
const FILE_ORIGIN_PREFIX = 'file:';

/** A stored Service's document with the ClusterIP the cluster allocated, if it had none. */
function serviceWithClusterIP(resource: StoredResource, cluster: ClusterState): unknown | undefined {
  const document = resource.document;
  if (!isPlainObject(document) || !isPlainObject(document.spec) || document.spec.clusterIP !== undefined)
    return undefined;
  const recorded = cluster.services.find(
    (service) => service.namespace === (resource.namespace ?? 'default') && service.name === resource.name,
  );
  if (recorded?.clusterIP === undefined) return undefined;
  return { ...document, spec: { ...document.spec, clusterIP: recorded.clusterIP } };
}

class LiveObjects {
  readonly #context: ExtensionContext;
  readonly #api: ControlApiClient;
  /** Readiness of each pod's process, as the supervisor reports it. */
  readonly #ready = new Map<string, boolean>();
  /** Addresses of pods removed lately, with when they were released. */
  readonly #released = new Map<string, number>();
  /** uids of pods removed lately, with when. */
  readonly #releasedNames = new Map<string, number>();
  #revision: number | undefined;
  /** Something changed besides the config (a pod became ready, a step was taken): look again. */
  #dirty = true;
  #polling: NodeJS.Timeout | undefined;
  #running = false;
  #closed = false;
  /** The last refusal logged, so a bad config is logged once rather than at every poll. */
  #lastRefusal = '';
  /** Whether the cluster file holds objects of the kinds followed (read once). */
  #fileHasObjects: boolean | undefined;

  constructor(context: ExtensionContext) {
    this.#context = context;
    this.#api = new ControlApiClient(controlPlaneEndpoint(context.cluster).sockets, {
      timeoutMs: API_TIMEOUT_MS,
    });
  }

  /** Whether the stored objects include the cluster file's (or the file has none of the kinds followed). */
  #holdsClusterFile(stored: readonly StoredResource[]): boolean {
    const origin = `${FILE_ORIGIN_PREFIX}${this.#context.paths.resources}`;
    if (stored.some((resource) => resource.origin === origin)) return true;
    this.#fileHasObjects ??= (() => {
      try {
        const text = readFileSync(this.#context.paths.resources, 'utf8');
        const kinds = new Set<unknown>(LIVE_KINDS);
        return parseYamlText(text, 'resources.yaml').documents.some((document) =>
          kinds.has((document.value as { kind?: unknown } | null)?.kind),
        );
      } catch {
        return true;
      }
    })();
    return !this.#fileHasObjects;
  }

  /** Once the control plane is ready: follow its objects (again from scratch after it restarted). */
  follow(): void {
    this.#revision = undefined;
    if (this.#running || this.#closed) return;
    this.#running = true;
    const tick = () => {
      this.#polling = setTimeout(() => {
        void this.#poll().finally(() => {
          if (!this.#closed) tick();
        });
      }, POLL_MS);
    };
    void this.#poll().finally(tick);
  }

  podChanged(uid: string, ready: boolean): void {
    if (this.#ready.get(uid) === ready) return;
    this.#ready.set(uid, ready);
    this.#dirty = true;
  }

  async #poll(): Promise<void> {
    try {
      const { revision } = await this.#api.status();
      if (revision === this.#revision && !this.#dirty) return;
      this.#dirty = false;
      const stored = await storedDocuments(this.#api);
      if (!this.#holdsClusterFile(stored)) {
        // The control plane refused or has not read the cluster file: following it would delete its pods.
        if (this.#lastRefusal !== CLUSTER_FILE_MISSING)
          log.error('the control plane holds none of the cluster file; nothing changed', {
            file: this.#context.paths.resources,
          });
        this.#lastRefusal = CLUSTER_FILE_MISSING;
        return;
      }
      const acted = await this.#pass(stored);
      this.#revision = revision;
      if (acted) this.#dirty = true;
    } catch (error) {
      this.#dirty = true;
      log.warn('live objects pass failed; retrying', { error: errorMessage(error) });
    }
  }

  /** One step toward the stored objects; true if it changed anything (then another step may follow). */
  async #pass(stored: StoredResource[]): Promise<boolean> {
    const pods = this.#context.pods;
    if (!pods || this.#closed) return false;
    const cluster = this.#context.cluster;
    const documents: StoredDocument[] = stored.map(({ document, source }) => ({ document, source }));
    const live = planLive(cluster, documents);
    const refusal = live.issues
      .filter((issue) => issue.severity === 'error')
      .map(formatIssue)
      .join('\n');
    if (!live.plan.state || !live.plan.volumes) {
      if (refusal !== this.#lastRefusal)
        log.error('the stored objects cannot run on this cluster; nothing changed', { issues: refusal });
      this.#lastRefusal = refusal;
      return false;
    }
    if (refusal !== '' && refusal !== this.#lastRefusal)
      log.error('stored objects that cannot run on this cluster were left out; the rest are followed', {
        issues: refusal,
      });
    this.#lastRefusal = refusal;
    const changes = liveChanges(cluster, live, (uid) => this.#ready.get(uid) ?? false);
    // The selected pods are the record's to keep (the supervisor's runtime follows the pods it runs).
    const shape = (services: readonly ServiceRecord[]) =>
      JSON.stringify(services.map(({ podUids: _podUids, ...service }) => service));
    const servicesChanged = shape(changes.services) !== shape(cluster.services);
    if (changes.namespaces.length > 0 || servicesChanged) {
      await pods.update((latest) => ({
        ...latest,
        namespaces: [...latest.namespaces, ...changes.namespaces],
        services: changes.services,
      }));
      log.info('services and namespaces recorded', {
        services: changes.services.length,
        newNamespaces: changes.namespaces.map((namespace) => namespace.name),
      });
    }
    await this.#writeBackClusterIPs(stored);
    if (changes.create.length > 0) {
      const planned = live.plan.state.pods.filter((pod) => changes.create.includes(pod.uid));
      writePodVolumes(this.#context.paths, live.plan.volumes, planned);
    }
    for (const uid of changes.create) await this.#add(live, uid);
    await Promise.all(changes.remove.map((uid) => this.#remove(uid)));
    return changes.create.length > 0 || changes.remove.length > 0;
  }

  async #add(live: LivePlan, uid: string): Promise<void> {
    const planned = live.plan.state!.pods.find((pod) => pod.uid === uid)!;
    const place = (cluster: ClusterState): PodRecord => {
      const pinned = live.pinned.get(uid);
      const node =
        (pinned !== undefined && cluster.nodes.find((candidate) => candidate.name === pinned)) ||
        leastLoadedNode(cluster);
      const ip = freePodAddress(cluster, node, this.#recentlyReleased());
      return live.plan.podAt!(uid, node, ip, this.#freshName(planned, cluster));
    };
    const pod = await this.#context.pods!.addPlaced(place);
    log.info('pod created', { pod: pod.uid, node: pod.node, ip: pod.ips[0] });
  }

  /**
   * A Deployment pod's name that no pod holds or held lately: Kubernetes' pod names are random, ours come
   * from the replica's index, so a Deployment deleted and applied again would bring back the names (and
   * network namespaces) of pods just gone, which the nodes may still hold state for.
   */
  #freshName(planned: PodRecord, cluster: ClusterState): string | undefined {
    const owner = planned.owner;
    const hash = planned.labels[TEMPLATE_HASH_LABEL];
    if (owner?.kind !== 'Deployment' || hash === undefined) return undefined;
    this.#recentlyReleased();
    const taken = (name: string) =>
      this.#releasedNames.has(`${planned.namespace}/${name}`) ||
      cluster.pods.some((pod) => pod.uid === `${planned.namespace}/${name}`);
    if (!taken(planned.name)) return undefined;
    for (let index = 0; ; index++) {
      const name = deploymentPodName(owner.name, hash, index);
      if (!taken(name)) return name;
    }
  }

  #recentlyReleased(): Set<string> {
    const now = Date.now();
    for (const [ip, at] of this.#released) if (now - at > ADDRESS_QUARANTINE_MS) this.#released.delete(ip);
    for (const [uid, at] of this.#releasedNames)
      if (now - at > NAME_QUARANTINE_MS) this.#releasedNames.delete(uid);
    return new Set(this.#released.keys());
  }

  async #remove(uid: string): Promise<void> {
    const ips = this.#context.cluster.pods.find((pod) => pod.uid === uid)?.ips ?? [];
    await this.#context.pods!.remove(uid, { drainMs: POD_DRAIN_MS });
    for (const ip of ips) this.#released.set(ip, Date.now());
    this.#releasedNames.set(uid, Date.now());
    this.#ready.delete(uid);
    log.info('pod deleted', { pod: uid });
  }

  /** Services applied without a ClusterIP: the control plane learns the one allocated here. */
  async #writeBackClusterIPs(stored: StoredResource[]): Promise<void> {
    const files = stored.flatMap((resource) => {
      if (resource.kind !== 'Service') return [];
      const document = serviceWithClusterIP(resource, this.#context.cluster);
      if (document === undefined) return [];
      return [
        {
          name: `Service ${resource.namespace}/${resource.name} (ClusterIP allocated by the local cluster)`,
          content: stringify(document),
        },
      ];
    });
    if (files.length > 0) await this.#api.apply(files);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#polling);
  }
}

const perCluster = perContext((context) => new LiveObjects(context));

export const extension: ClusterExtension = {
  name: 'live-objects',

  async processChanged(process, context) {
    const live = perCluster.get(context);
    if (process.kind === 'pod' && process.podUid !== undefined)
      live.podChanged(process.podUid, process.state === 'running' && process.ready);
    if (isControlPlaneProcess(process.id) && process.state === 'running' && process.ready) live.follow();
  },

  async stop(context) {
    perCluster.drop(context)?.close();
  },
};
