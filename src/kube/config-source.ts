/**
 * The Kubernetes API as a config source of the control plane: Namespaces, Services and the Istio and
 * Gateway API kinds, each watched (watch.ts) and fed to the same config store as files and `ambit apply`.
 * Each object is its own origin (`kube:<Kind>/<namespace>/<name>`), so an invalid one is refused alone and
 * its previous version stays in force; the refusal is reported where Kubernetes users look: a condition in
 * the object's status (kinds with a status subresource) and a Warning Event naming the field. With several
 * control-plane replicas, every one applies every object, but only the holder of a Lease (`lease.ts`, as
 * client-go's leader election) writes status and Events: a new holder writes the status of every object it
 * knows, since the one before may have stopped between an object's change and its status write.
 */
import { CoreV1Api, CustomObjectsApi, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { ConfigError, type ConfigIssue } from '../core/config/issues.ts';
import { errorMessage } from '../core/errors.ts';
import { createLogger, type Logger } from '../core/log.ts';
import { LeaderElector, type LeaseSettings } from './lease.ts';
import { KindWatch, type WatchedKind } from './watch.ts';

/** What the source needs of the control plane's store (ConfigStore has these). */
export interface ConfigSink {
  replaceOrigin(origin: string, files: readonly { name: string; content: string }[]): unknown;
  removeOrigin(origin: string): unknown;
  origins(): Set<string>;
}

const ORIGIN_PREFIX = 'kube:';

export const CONFIG_KINDS: Array<WatchedKind & { status: boolean }> = [
  { apiVersion: 'v1', kind: 'Namespace', plural: 'namespaces', status: false },
  { apiVersion: 'v1', kind: 'Service', plural: 'services', status: false },
  { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', plural: 'virtualservices', status: true },
  { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', plural: 'destinationrules', status: true },
  {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    plural: 'authorizationpolicies',
    status: true,
  },
  {
    apiVersion: 'security.istio.io/v1',
    kind: 'PeerAuthentication',
    plural: 'peerauthentications',
    status: true,
  },
  { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', plural: 'gateways', status: true },
  { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', plural: 'httproutes', status: true },
];

/** The condition type an object's status carries for Ambit's validation (Istio reports `Reconciled`). */
export const VALID_CONDITION = 'Accepted';
const REPORTER = 'ambit-control';

export function originOf(object: KubernetesObject): string {
  const { namespace, name } = object.metadata ?? {};
  return `${ORIGIN_PREFIX}${object.kind}/${namespace ?? ''}/${name}`;
}

/**
 * The object as a config document: what the user wrote (apiVersion, kind, spec and the metadata that
 * carries meaning), without what the API server adds (uid, resourceVersion, managedFields, status...).
 */
export function configDocument(object: KubernetesObject & { spec?: unknown }): Record<string, unknown> {
  const { name, namespace, labels, annotations } = object.metadata ?? {};
  const metadata: Record<string, unknown> = { name };
  if (namespace !== undefined) metadata.namespace = namespace;
  if (labels && Object.keys(labels).length > 0) metadata.labels = labels;
  if (annotations) {
    // kubectl's copy of the last applied object duplicates the object; nothing reads it.
    const kept = Object.fromEntries(
      Object.entries(annotations).filter(
        ([key]) => key !== 'kubectl.kubernetes.io/last-applied-configuration',
      ),
    );
    if (Object.keys(kept).length > 0) metadata.annotations = kept;
  }
  const document: Record<string, unknown> = { apiVersion: object.apiVersion, kind: object.kind, metadata };
  if (object.spec !== undefined) document.spec = object.spec;
  return document;
}

/** The issues as one line per error, for the condition's and the Event's message. */
export function refusalMessage(issues: readonly ConfigIssue[]): string {
  return issues
    .filter((issue) => issue.severity === 'error')
    .map((issue) => `${issue.path ? `${issue.path}: ` : ''}${issue.message}`)
    .join('; ');
}

type Outcome = { valid: boolean; message: string };

export class KubernetesConfigSource {
  readonly #config: KubeConfig;
  readonly #sink: ConfigSink;
  readonly #log: Logger;
  readonly #watches: KindWatch<KubernetesObject>[] = [];
  /** Without one, this source writes status and Events itself (a single replica). */
  readonly #elector: LeaderElector | undefined;
  /** Each status-bearing object's last outcome, by origin: what a new Lease holder writes. */
  readonly #outcomes = new Map<string, { kind: WatchedKind; object: KubernetesObject; outcome: Outcome }>();

  constructor(
    config: KubeConfig,
    sink: ConfigSink,
    log: Logger = createLogger('kube.config'),
    options: { lease?: LeaseSettings | undefined } = {},
  ) {
    this.#config = config;
    this.#sink = sink;
    this.#log = log;
    this.#elector =
      options.lease &&
      new LeaderElector(
        config,
        options.lease,
        {
          started: () => {
            for (const { kind, object, outcome } of this.#outcomes.values())
              void this.#report(kind, object, outcome);
          },
          stopped: () => {},
        },
        log,
      );
  }

  /** Whether this source writes status and Events (it holds the Lease, or has none to share). */
  get writing(): boolean {
    return this.#elector?.leading ?? true;
  }

  get identity(): string | undefined {
    return this.#elector?.identity;
  }

  /**
   * Starts every watch; resolves once each kind's first list has been applied and what the store kept from
   * an earlier run (it persists its config) but the API no longer has is removed.
   */
  async start(): Promise<void> {
    for (const kind of CONFIG_KINDS) {
      const watch = new KindWatch<KubernetesObject>(
        this.#config,
        kind,
        {
          upsert: (object) => this.#upsert(kind, { ...object, apiVersion: kind.apiVersion, kind: kind.kind }),
          remove: (object) => {
            const origin = originOf({ ...object, kind: kind.kind });
            this.#outcomes.delete(origin);
            this.#sink.removeOrigin(origin);
          },
        },
        this.#log,
      );
      this.#watches.push(watch);
    }
    await Promise.all(this.#watches.map((watch) => watch.start()));
    const listed = new Set(
      this.#watches.flatMap((watch, i) =>
        watch.list().map((object) => originOf({ ...object, kind: CONFIG_KINDS[i]!.kind })),
      ),
    );
    for (const origin of this.#sink.origins()) {
      if (origin.startsWith(ORIGIN_PREFIX) && !listed.has(origin)) this.#sink.removeOrigin(origin);
    }
    this.#elector?.start();
  }

  async stop(): Promise<void> {
    // The Lease given up first: another replica writes from then on.
    await this.#elector?.stop();
    await Promise.all(this.#watches.map((watch) => watch.stop()));
  }

  #upsert(kind: (typeof CONFIG_KINDS)[number], object: KubernetesObject): void {
    const origin = originOf(object);
    const name = `kubernetes ${object.kind} ${object.metadata?.namespace ? `${object.metadata.namespace}/` : ''}${object.metadata?.name}`;
    try {
      this.#sink.replaceOrigin(origin, [{ name, content: stringify(configDocument(object)) }]);
      if (kind.status) this.#outcome(kind, origin, object, { valid: true, message: 'accepted by ambit' });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      const message = refusalMessage(error.issues);
      this.#log.warn('refused an invalid object; its previous version stays in force', { origin, message });
      if (kind.status) this.#outcome(kind, origin, object, { valid: false, message });
      if (this.writing) void this.#event(object, message);
    }
  }

  #outcome(kind: WatchedKind, origin: string, object: KubernetesObject, outcome: Outcome): void {
    this.#outcomes.set(origin, { kind, object, outcome });
    if (this.writing) void this.#report(kind, object, outcome);
  }

  /** Sets the object's `Accepted` condition, for its generation, through the status subresource. */
  async #report(kind: WatchedKind, object: KubernetesObject, outcome: Outcome) {
    const condition = {
      type: VALID_CONDITION,
      status: outcome.valid ? 'True' : 'False',
      reason: outcome.valid ? 'Accepted' : 'Invalid',
      message: outcome.message,
      observedGeneration: object.metadata?.generation,
      lastTransitionTime: new Date().toISOString(),
    };
    const current = (object as { status?: { conditions?: Array<{ type: string }> } }).status;
    if (
      outcome.valid &&
      current?.conditions?.some(
        (c) => c.type === VALID_CONDITION && (c as { status?: string }).status === 'True',
      )
    ) {
      return; // already says so: no write (every write would come back as a watch event)
    }
    const conditions = [...(current?.conditions ?? []).filter((c) => c.type !== VALID_CONDITION), condition];
    const { namespace, name } = object.metadata ?? {};
    const [group, version] = kind.apiVersion.split('/') as [string, string];
    try {
      await this.#config.makeApiClient(CustomObjectsApi).replaceNamespacedCustomObjectStatus({
        group,
        version,
        namespace: namespace!,
        plural: kind.plural,
        name: name!,
        body: { ...object, status: { ...current, conditions } },
        fieldManager: REPORTER,
      });
    } catch (error) {
      this.#log.warn('cannot write the status condition', {
        object: originOf(object),
        error: errorMessage(error),
      });
    }
  }

  async #event(object: KubernetesObject, message: string): Promise<void> {
    const namespace = object.metadata?.namespace ?? 'default';
    try {
      await this.#config.makeApiClient(CoreV1Api).createNamespacedEvent({
        namespace,
        body: {
          metadata: { generateName: `${object.metadata?.name}.`, namespace },
          involvedObject: {
            apiVersion: object.apiVersion,
            kind: object.kind,
            name: object.metadata?.name,
            namespace: object.metadata?.namespace,
            uid: object.metadata?.uid,
            resourceVersion: object.metadata?.resourceVersion,
          },
          type: 'Warning',
          reason: 'InvalidConfig',
          message: `refused by ambit, previous version stays in force: ${message}`,
          source: { component: REPORTER },
          reportingComponent: REPORTER,
          firstTimestamp: new Date(),
          lastTimestamp: new Date(),
          count: 1,
        },
      });
    } catch (error) {
      this.#log.warn('cannot record the Event', { object: originOf(object), error: errorMessage(error) });
    }
  }
}
