/**
 * The waypoint deployment controller: for every Gateway of class `istio-waypoint` it applies what
 * render.ts renders (ServiceAccount, root ConfigMap, Deployment, Service; owned by the Gateway), applies it
 * again when the Gateway changes, deletes it when the Gateway goes (the API server's garbage collector would
 * too, through the ownerReferences; deleting is idempotent), and writes `Programmed` with the Service's
 * address into the Gateway's status. Only the leader of the Lease acts (lease.ts): every replica watches,
 * one writes. Work is one reconcile at a time per Gateway; a failed one is retried with backoff.
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
import {
  type GatewayStatusFields,
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
  readonly #elector: LeaderElector;
  readonly #queue = new KeyedQueue();
  /** What was applied last per Gateway (JSON), so an unchanged Gateway (a status write) re-applies nothing. */
  readonly #applied = new Map<string, string>();
  readonly #failures = new Map<string, number>();
  readonly #retries = new Map<string, NodeJS.Timeout>();

  constructor(config: KubeConfig, settings: WaypointSettings & { lease: LeaseSettings }, log: Logger) {
    this.#config = config;
    this.#settings = settings;
    this.#log = log;
    this.#watch = new KindWatch<GatewayObject>(
      config,
      GATEWAY_KIND,
      {
        upsert: (gateway) => this.#enqueue(gateway),
        remove: (gateway) => this.#enqueue(gateway, { deleted: true }),
      },
      log,
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

  async start(): Promise<void> {
    await this.#watch.start();
    this.#elector.start();
  }

  async stop(): Promise<void> {
    await this.#elector.stop();
    await this.#watch.stop();
  }

  #enqueue(gateway: GatewayObject, options: { deleted?: boolean } = {}): void {
    if (!this.#elector.leading) return;
    const key = keyOf(gateway);
    clearTimeout(this.#retries.get(key));
    this.#retries.delete(key);
    void this.#queue
      .run(key, () => this.#reconcile(gateway, options.deleted === true))
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
              const latest = this.#watch.list().find((candidate) => keyOf(candidate) === key);
              this.#enqueue(latest ?? gateway, { deleted: latest === undefined });
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
    if (status === undefined) return;
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
