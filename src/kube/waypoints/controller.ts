/**
 * The waypoint deployment controller: for every Gateway of class `istio-waypoint` it applies what
 * render.ts renders (ServiceAccount, root ConfigMap, Deployment, Service; owned by the Gateway), applies it
 * again when the Gateway changes, deletes it when the Gateway goes (the API server's garbage collector would
 * too, through the ownerReferences; deleting is idempotent), and writes `Programmed` with the Service's
 * address into the Gateway's status. It also watches what it deployed: an object deleted or edited by hand
 * (drift.ts) is restored by reconciling its Gateway again. Only the
 * leader of the Lease acts (lease.ts): every replica watches, one writes. Work is one reconcile at a time per
 * Gateway; a failed one is retried with backoff.
 */
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { type BackoffPolicy, backoffDelay } from '../../core/backoff.ts';
import { errorMessage } from '../../core/errors.ts';
import { KeyedQueue } from '../../core/keyed-queue.ts';
import { CLUSTER_DOMAIN, WAYPOINT_GATEWAY_CLASS } from '../../core/labels.ts';
import type { Logger } from '../../core/log.ts';
import { applyObjects, deleteObjects } from '../apply.ts';
import { LeaderElector, type LeaseSettings } from '../lease.ts';
import { KindWatch, type WatchedKind } from '../watch.ts';
import { drifted } from './drift.ts';
import {
  type GatewayStatusFields,
  MANAGED_BY_MESH_CONTROLLER,
  MANAGED_LABEL,
  programmedStatus,
  type WaypointGateway,
  type WaypointSettings,
  waypointObjects,
} from './render.ts';

const GATEWAY_KIND: WatchedKind = {
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'Gateway',
  plural: 'gateways',
};
/**
 * What `waypointObjects` renders, watched for hand edits and deletions: only the objects carrying the label
 * it renders on all of them, so the control plane holds no other ServiceAccount, ConfigMap, Deployment or
 * Service of the cluster. One whose label is edited away leaves the selection, which the watch reports as a
 * deletion, and it is restored like a deleted one.
 */
const OWNED_SELECTOR = `${MANAGED_LABEL}=${MANAGED_BY_MESH_CONTROLLER}`;
const OWNED_KINDS: WatchedKind[] = [
  { apiVersion: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts' },
  { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps' },
  { apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments' },
  { apiVersion: 'v1', kind: 'Service', plural: 'services' },
].map((kind) => ({ ...kind, labelSelector: OWNED_SELECTOR }));
const RETRY: BackoffPolicy = { initialMs: 500, maxMs: 30_000 };
const FIELD_MANAGER = 'ambit-waypoint-controller';

type GatewayObject = KubernetesObject & {
  spec?: { gatewayClassName?: string; infrastructure?: WaypointGateway['infrastructure'] };
  status?: GatewayStatusFields;
};

const keyOf = (gateway: KubernetesObject) => `${gateway.metadata?.namespace}/${gateway.metadata?.name}`;

export class WaypointController {
  readonly #config: KubeConfig;
  readonly #settings: WaypointSettings;
  readonly #log: Logger;
  readonly #watch: KindWatch<GatewayObject>;
  readonly #owned: KindWatch<KubernetesObject>[];
  readonly #elector: LeaderElector;
  readonly #queue = new KeyedQueue();
  /** What was applied last per Gateway (JSON), so an unchanged Gateway (a status write) re-applies nothing. */
  readonly #applied = new Map<string, string>();
  readonly #failures = new Map<string, number>();
  readonly #retries = new Map<string, NodeJS.Timeout>();
  /** Reconciles queued and not yet started, by Gateway key. */
  readonly #waiting = new Map<string, { restore: boolean; last: GatewayObject }>();
  /** Set by stop(): nothing more is queued while the reconciles under way finish. */
  #stopping = false;

  constructor(config: KubeConfig, settings: WaypointSettings & { lease: LeaseSettings }, log: Logger) {
    this.#config = config;
    this.#settings = settings;
    this.#log = log;
    this.#watch = new KindWatch<GatewayObject>(
      config,
      GATEWAY_KIND,
      {
        upsert: (gateway) => this.#enqueue(gateway),
        remove: (gateway) => this.#enqueue(gateway),
      },
      log,
    );
    this.#owned = OWNED_KINDS.map(
      (kind) =>
        new KindWatch<KubernetesObject>(
          config,
          kind,
          {
            upsert: (object) => this.#checkOwned({ ...object, kind: kind.kind }, false),
            remove: (object) => this.#checkOwned({ ...object, kind: kind.kind }, true),
          },
          log,
        ),
    );
    this.#elector = new LeaderElector(
      config,
      settings.lease,
      {
        started: () => {
          // A new leader trusts nothing it did before: everything is applied again.
          this.#applied.clear();
          for (const gateway of this.#watch.list()) this.#enqueue(gateway);
        },
        stopped: () => {
          for (const timer of this.#retries.values()) clearTimeout(timer);
          this.#retries.clear();
        },
      },
      log,
    );
  }

  get identity(): string {
    return this.#elector.identity;
  }

  get leading(): boolean {
    return this.#elector.leading;
  }

  /** The objects of the deployed kinds this controller holds in memory (`Kind namespace/name`). */
  heldObjects(): string[] {
    return this.#owned.flatMap((watch, i) =>
      watch.list().map((o) => `${OWNED_KINDS[i]!.kind} ${o.metadata?.namespace}/${o.metadata?.name}`),
    );
  }

  async start(): Promise<void> {
    await Promise.all([this.#watch.start(), ...this.#owned.map((watch) => watch.start())]);
    this.#elector.start();
  }

  async stop(): Promise<void> {
    // No reconcile outlives the Lease: the next holder may start as soon as it is released, and a write of ours
    // after that (a status from a reconcile still under way) would contend with its writes.
    this.#stopping = true;
    for (const timer of this.#retries.values()) clearTimeout(timer);
    this.#retries.clear();
    await this.#queue.drain();
    await this.#elector.stop();
    await Promise.all([this.#watch.stop(), ...this.#owned.map((watch) => watch.stop())]);
  }

  /**
   * An object changed or went (or lost its label, so left the watch): if it is one that a waypoint Gateway's
   * rendering names (by kind, namespace and name) and it no longer says what we render (or is gone), the Gateway is reconciled again from scratch, which restores it. A Gateway being deleted or
   * changed to another class is no longer a waypoint here, so what goes with it is let go.
   */
  #checkOwned(object: KubernetesObject, deleted: boolean): void {
    if (!this.#elector.leading) return;
    const { namespace, name } = object.metadata ?? {};
    for (const gateway of this.#watch.list()) {
      if (
        gateway.metadata?.namespace !== namespace ||
        gateway.spec?.gatewayClassName !== WAYPOINT_GATEWAY_CLASS
      )
        continue;
      const rendered = waypointObjects(this.#target(gateway), this.#settings).find(
        (candidate) => candidate.kind === object.kind && candidate.metadata.name === name,
      );
      if (rendered === undefined) continue;
      if (!deleted && !drifted(rendered, object)) return;
      const key = keyOf(gateway);
      this.#log.warn('a waypoint object was changed by hand; restoring it', {
        gateway: key,
        object: `${object.kind}/${name}`,
        deleted,
      });
      this.#enqueue(gateway, { restore: true });
      return;
    }
  }

  /**
   * Queues a reconcile of the Gateway's key, at most one waiting per key (a burst of events makes one), run
   * on the Gateway as the watch has it then (gone: its objects are deleted; `gateway` is the last copy, for
   * their names). `restore`: apply even if the rendering is what was applied last (something of it was
   * changed by hand); forgotten when the reconcile runs, so that an apply under way cannot record it again.
   */
  #enqueue(gateway: GatewayObject, options: { restore?: boolean } = {}): void {
    if (this.#stopping || !this.#elector.leading) return;
    const key = keyOf(gateway);
    clearTimeout(this.#retries.get(key));
    this.#retries.delete(key);
    const waiting = this.#waiting.get(key);
    if (waiting !== undefined) {
      waiting.restore ||= options.restore === true;
      waiting.last = gateway;
      return;
    }
    const entry = { restore: options.restore === true, last: gateway };
    this.#waiting.set(key, entry);
    void this.#queue
      .run(key, () => {
        this.#waiting.delete(key);
        if (entry.restore) this.#applied.delete(key);
        const latest = this.#watch.list().find((candidate) => keyOf(candidate) === key);
        return this.#reconcile(latest ?? entry.last, latest === undefined);
      })
      .then(
        () => this.#failures.delete(key),
        (error: unknown) => {
          const failures = this.#failures.get(key) ?? 0;
          this.#failures.set(key, failures + 1);
          const delay = backoffDelay(failures, RETRY);
          this.#log.warn('waypoint reconcile failed; retrying', {
            gateway: key,
            error: errorMessage(error),
            delayMs: delay,
          });
          this.#retries.set(
            key,
            setTimeout(() => {
              this.#retries.delete(key);
              this.#enqueue(entry.last);
            }, delay),
          );
        },
      );
  }

  async #reconcile(gateway: GatewayObject, deleted: boolean): Promise<void> {
    if (!this.#elector.leading) return;
    const key = keyOf(gateway);
    const target = this.#target(gateway);
    const objects = waypointObjects(target, this.#settings);
    if (deleted || gateway.spec?.gatewayClassName !== WAYPOINT_GATEWAY_CLASS) {
      if (!this.#applied.delete(key) && !deleted) return; // never ours
      await deleteObjects(this.#config, objects, () => {});
      this.#log.info('waypoint removed', { gateway: key });
      return;
    }
    const rendered = JSON.stringify(objects);
    if (this.#applied.get(key) !== rendered) {
      await applyObjects(this.#config, objects, () => {}, { fieldManager: FIELD_MANAGER });
      this.#applied.set(key, rendered);
      this.#log.info('waypoint deployed', { gateway: key });
    }
    await this.#writeStatus(gateway, target);
  }

  #target(gateway: GatewayObject): WaypointGateway {
    const { name, namespace, uid } = gateway.metadata ?? {};
    return {
      name: name!,
      namespace: namespace ?? 'default',
      uid: uid ?? '',
      infrastructure: gateway.spec?.infrastructure,
    };
  }

  async #writeStatus(gateway: GatewayObject, target: WaypointGateway): Promise<void> {
    const service = await this.#config
      .makeApiClient(CoreV1Api)
      .readNamespacedService({ name: target.name, namespace: target.namespace });
    const clusterIPs = (
      service.spec?.clusterIPs ?? (service.spec?.clusterIP ? [service.spec.clusterIP] : [])
    ).filter((ip) => ip !== 'None');
    // The latest copy: a status written from a stale one would be refused as a conflict.
    const latest = this.#watch.list().find((candidate) => keyOf(candidate) === keyOf(gateway)) ?? gateway;
    const status = programmedStatus(
      latest.status,
      { clusterIPs, hostname: `${target.name}.${target.namespace}.svc.${CLUSTER_DOMAIN}` },
      latest.metadata?.generation,
      new Date(),
    );
    // The Lease may have been lost while the Service was read: the new holder writes the status from now on.
    if (status === undefined || !this.#elector.leading) return;
    try {
      await this.#config.makeApiClient(CustomObjectsApi).replaceNamespacedCustomObjectStatus({
        group: 'gateway.networking.k8s.io',
        version: 'v1',
        namespace: target.namespace,
        plural: GATEWAY_KIND.plural,
        name: target.name,
        body: { ...latest, status },
        fieldManager: FIELD_MANAGER,
      });
    } catch (error) {
      // Gone meanwhile: its removal is on its way through the watch.
      if (error instanceof ApiException && error.code === 404) return;
      throw error;
    }
  }
}
