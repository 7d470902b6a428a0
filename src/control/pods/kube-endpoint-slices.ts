/**
 * EndpointSlices watched on the API server (the same informer as pods and config, `src/kube/watch.ts`),
 * gathered per Service by their `kubernetes.io/service-name` label. The model builder uses them for
 * Services without a selector only: a selector's pods are already known, with their identities, from the
 * pod source.
 */
import type { KubeConfig, V1EndpointSlice } from '@kubernetes/client-node';
import { createLogger, type Logger } from '../../core/log.ts';
import { KindWatch, type WatchedKind } from '../../kube/watch.ts';
import {
  SERVICE_NAME_LABEL,
  type SliceEndpoint,
  type SliceEndpointSource,
  type SliceEndpointsByService,
  sliceEndpoints,
} from './slice-endpoints.ts';

export const ENDPOINT_SLICE_KIND: WatchedKind = {
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  plural: 'endpointslices',
};

/** `<namespace>/<service>` of the slice, or undefined for a slice that names no Service. */
function serviceKeyOf(slice: V1EndpointSlice): string | undefined {
  const service = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
  const namespace = slice.metadata?.namespace;
  return service && namespace ? `${namespace}/${service}` : undefined;
}

/**
 * One Service's endpoints over all its slices. An address may sit in two slices for a moment while a writer
 * moves it; it counts once, ready if either says so.
 */
export function mergeSlices(slices: Iterable<readonly SliceEndpoint[]>): SliceEndpoint[] {
  const byIp = new Map<string, SliceEndpoint>();
  for (const endpoints of slices) {
    for (const endpoint of endpoints) {
      const seen = byIp.get(endpoint.ip);
      if (seen === undefined || (!seen.ready && endpoint.ready)) byIp.set(endpoint.ip, endpoint);
    }
  }
  return [...byIp.values()];
}

export class KubernetesEndpointSlices implements SliceEndpointSource {
  readonly #watch: KindWatch<V1EndpointSlice>;
  /** Service key -> slice name -> that slice's endpoints. */
  readonly #slices = new Map<string, Map<string, readonly SliceEndpoint[]>>();
  /** Slice `<namespace>/<name>` -> the Service it was filed under (a slice's label may change). */
  readonly #filedUnder = new Map<string, string>();
  readonly #byService = new Map<string, readonly SliceEndpoint[]>();
  readonly #listeners: (() => void)[] = [];

  constructor(config: KubeConfig, log: Logger = createLogger('kube.endpointslices')) {
    this.#watch = new KindWatch<V1EndpointSlice>(
      config,
      ENDPOINT_SLICE_KIND,
      { upsert: (slice) => this.#upsert(slice), remove: (slice) => this.#remove(slice) },
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

  byService(): SliceEndpointsByService {
    return this.#byService;
  }

  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  #upsert(slice: V1EndpointSlice): void {
    const id = `${slice.metadata?.namespace}/${slice.metadata?.name}`;
    const service = serviceKeyOf(slice);
    const endpoints = sliceEndpoints(slice);
    const before = this.#filedUnder.get(id);
    if (before !== undefined && before !== service) this.#drop(id, before);
    if (service === undefined) {
      if (before !== undefined) this.#changed();
      return;
    }
    const slices = this.#slices.get(service) ?? new Map<string, readonly SliceEndpoint[]>();
    // Status-only updates of a slice writer change nothing the mesh reads: no rebuild for them.
    if (before === service && JSON.stringify(slices.get(id)) === JSON.stringify(endpoints)) return;
    slices.set(id, endpoints);
    this.#slices.set(service, slices);
    this.#filedUnder.set(id, service);
    this.#byService.set(service, mergeSlices(slices.values()));
    this.#changed();
  }

  #remove(slice: V1EndpointSlice): void {
    const id = `${slice.metadata?.namespace}/${slice.metadata?.name}`;
    const service = this.#filedUnder.get(id);
    if (service === undefined) return;
    this.#drop(id, service);
    this.#changed();
  }

  #drop(id: string, service: string): void {
    this.#filedUnder.delete(id);
    const slices = this.#slices.get(service);
    slices?.delete(id);
    if (!slices || slices.size === 0) {
      this.#slices.delete(service);
      this.#byService.delete(service);
    } else {
      this.#byService.set(service, mergeSlices(slices.values()));
    }
  }

  #changed(): void {
    for (const listener of this.#listeners) listener();
  }
}
