/**
 * One kind of object kept in sync from the API with `@kubernetes/client-node`'s informer: a list, then a
 * watch from the list's resourceVersion, re-watched from the last seen one when the server ends it, and
 * relisted when the server answers 410 Gone (the informer reconciles the relist against its cache, so no
 * object is lost or reported twice). Bookmarks are asked for, so a quiet watch still advances its
 * resourceVersion and a re-watch rarely needs a relist. Where the informer gives up (a failed list, an
 * error other than 410), this restarts it with exponential backoff.
 */
import {
  type KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  makeInformer,
} from '@kubernetes/client-node';
import { type BackoffPolicy, backoffDelay } from '../core/backoff.ts';
import { errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';

/** A kind as the API serves it: `apiVersion` (`v1`, `networking.istio.io/v1`), `kind`, and its plural. */
export interface WatchedKind {
  apiVersion: string;
  kind: string;
  plural: string;
  /**
   * Only the objects with these labels (`key=value,...`), for list and watch alike: the API server then
   * sends no other, and an object that stops matching comes as a deletion, so the cache holds only these.
   */
  labelSelector?: string | undefined;
}

export interface WatchHandlers<T extends KubernetesObject> {
  upsert(object: T): void;
  remove(object: T): void;
}

const RESTART: BackoffPolicy = { initialMs: 500, maxMs: 30_000 };

export function collectionPath(kind: WatchedKind): string {
  return kind.apiVersion.includes('/')
    ? `/apis/${kind.apiVersion}/${kind.plural}`
    : `/api/${kind.apiVersion}/${kind.plural}`;
}

export class KindWatch<T extends KubernetesObject> {
  readonly #informer;
  readonly #log: Logger;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(config: KubeConfig, kind: WatchedKind, handlers: WatchHandlers<T>, log: Logger) {
    this.#log = log;
    const api = KubernetesObjectApi.makeApiClient(config);
    // The informer appends its own query (resourceVersion) to this path for each watch.
    const path = `${collectionPath(kind)}?allowWatchBookmarks=true`;
    const { labelSelector } = kind;
    this.#informer = makeInformer<T>(
      config,
      path,
      async () => {
        const list = await api.list<T>(
          kind.apiVersion,
          kind.kind,
          undefined,
          undefined,
          undefined,
          undefined,
          undefined,
          labelSelector,
        );
        this.#failures = 0;
        return list;
      },
      labelSelector,
    );
    this.#informer.on('add', (object) => handlers.upsert(object));
    this.#informer.on('update', (object) => handlers.upsert(object));
    this.#informer.on('delete', (object) => handlers.remove(object));
    this.#informer.on('error', (error) => this.#restart(kind, error));
  }

  /** Resolves once the first list is in (its objects handed to `upsert`). */
  start(): Promise<void> {
    return this.#informer.start();
  }

  /** What the informer holds now. */
  list(): readonly T[] {
    return this.#informer.list();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#informer.stop();
  }

  #restart(kind: WatchedKind, error: unknown): void {
    if (this.#stopped) return;
    const delay = backoffDelay(this.#failures++, RESTART);
    this.#log.warn('watch failed; restarting', {
      kind: kind.kind,
      error: errorMessage(error),
      delayMs: delay,
    });
    this.#timer = setTimeout(() => {
      this.#informer.start().catch((failure: unknown) => this.#restart(kind, failure));
    }, delay);
  }
}
