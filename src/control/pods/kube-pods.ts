/**
 * The pod source on Kubernetes: Pods watched on the API server (the same informer as the config source,
 * `src/kube/watch.ts`), each turned into the `PodRecord` the local runtime reports, so one model builder
 * serves both. Only pods that have a place in the mesh are kept: scheduled to a node, given an IP, not on
 * the host network (such a pod shares its node's addresses and is never captured, as in Istio ambient), and
 * not finished (Succeeded/Failed pods keep their IP in the API but nothing listens there any more).
 */

import { isIP } from 'node:net';
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import type { PodPort } from '../../core/control-api/types.ts';
import { createLogger, type Logger } from '../../core/log.ts';
import { KindWatch, type WatchedKind } from '../../kube/watch.ts';
import { type PodRecord, type PodSource, podKey } from './pod-source.ts';

export const POD_KIND: WatchedKind = { apiVersion: 'v1', kind: 'Pod', plural: 'pods' };

const FINISHED_PHASES = new Set(['Succeeded', 'Failed']);

/** The pod as the mesh sees it, or undefined when it has no place in the mesh (see the header). */
export function podRecordOf(pod: V1Pod): PodRecord | undefined {
  const { metadata, spec, status } = pod;
  const name = metadata?.name;
  const namespace = metadata?.namespace;
  const node = spec?.nodeName;
  if (!name || !namespace || !node) return undefined;
  if (spec?.hostNetwork === true || FINISHED_PHASES.has(status?.phase ?? '')) return undefined;
  const listed = status?.podIPs?.map((entry) => entry.ip) ?? (status?.podIP ? [status.podIP] : []);
  const ips = listed.filter((ip) => isIP(ip) !== 0);
  if (ips.length === 0) return undefined;
  const ports: PodPort[] = (spec?.containers ?? []).flatMap((container) =>
    (container.ports ?? []).map((port) => ({
      name: port.name,
      containerPort: port.containerPort,
      protocol: port.protocol === 'UDP' ? 'UDP' : 'TCP',
    })),
  );
  return {
    uid: metadata?.uid ?? podKey(namespace, name),
    name,
    namespace,
    node,
    ips,
    serviceAccount: spec?.serviceAccountName || 'default',
    labels: metadata?.labels ?? {},
    // A terminating pod stops taking new connections, as the EndpointSlice controller marks it not ready.
    ready:
      metadata?.deletionTimestamp === undefined &&
      (status?.conditions ?? []).some(
        (condition) => condition.type === 'Ready' && condition.status === 'True',
      ),
    ports,
  };
}

export class KubernetesPods implements PodSource {
  readonly #watch: KindWatch<V1Pod>;
  readonly #pods = new Map<string, PodRecord>();
  readonly #listeners: (() => void)[] = [];
  readonly #removedListeners: ((uid: string) => void)[] = [];
  /** `list()` is asked on every rebuild and CSR: one array per change, not per call. */
  #listed: readonly PodRecord[] | undefined;

  constructor(config: KubeConfig, log: Logger = createLogger('kube.pods')) {
    this.#watch = new KindWatch<V1Pod>(
      config,
      POD_KIND,
      { upsert: (pod) => this.#upsert(pod), remove: (pod) => this.#remove(pod) },
      log,
    );
  }

  /** Resolves once the first list is in. */
  start(): Promise<void> {
    return this.#watch.start();
  }

  stop(): Promise<void> {
    return this.#watch.stop();
  }

  list(): readonly PodRecord[] {
    this.#listed ??= [...this.#pods.values()];
    return this.#listed;
  }

  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  /** Called with the uid of every pod deleted from the API, in the mesh or not (a ztunnel's, a waypoint's). */
  onRemoved(listener: (uid: string) => void): void {
    this.#removedListeners.push(listener);
  }

  #upsert(pod: V1Pod): void {
    const key = podKey(pod.metadata?.namespace ?? '', pod.metadata?.name ?? '');
    const record = podRecordOf(pod);
    if (record === undefined) {
      if (this.#pods.delete(key)) this.#changed();
      return;
    }
    // Most pod updates (status heartbeats, annotations) change nothing the mesh reads: no rebuild for them.
    if (JSON.stringify(this.#pods.get(key)) === JSON.stringify(record)) return;
    this.#pods.set(key, record);
    this.#changed();
  }

  #remove(pod: V1Pod): void {
    const uid = pod.metadata?.uid;
    if (uid !== undefined) for (const listener of this.#removedListeners) listener(uid);
    if (this.#pods.delete(podKey(pod.metadata?.namespace ?? '', pod.metadata?.name ?? ''))) this.#changed();
  }

  #changed(): void {
    this.#listed = undefined;
    for (const listener of this.#listeners) listener();
  }
}
