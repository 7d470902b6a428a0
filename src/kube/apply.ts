/**
 * Applies objects through the Kubernetes API the way `kubectl apply` without server-side apply does: read
 * each object; create it if absent, else replace it carrying the live resourceVersion (a concurrent change
 * is a conflict, not a lost write). A Service keeps the cluster IPs the API server gave it (they are
 * immutable: a replacement without them would be refused), and a Deployment keeps its live replica count:
 * once it exists, its scale is the operator's or a HorizontalPodAutoscaler's (as Istio's waypoint deployer
 * leaves `replicas` alone), so a re-apply or a restore never fights them. Deletes in reverse order, where a
 * missing object is already done.
 */
import { ApiException, type KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node';
import { AmbitError, errorMessage } from '../core/errors.ts';
import type { ManifestObject } from './manifests/render.ts';

export type ApplyOutcome = 'created' | 'configured' | 'deleted' | 'absent';

const FIELD_MANAGER = 'ambit-install';

const describe = (object: ManifestObject) =>
  `${object.kind} ${object.metadata.namespace ? `${object.metadata.namespace}/` : ''}${object.metadata.name}`;

const isNotFound = (error: unknown) => error instanceof ApiException && error.code === 404;

function failure(action: string, object: ManifestObject, error: unknown): AmbitError {
  const status = error instanceof ApiException ? ` (HTTP ${error.code})` : '';
  return new AmbitError(
    'UNAVAILABLE',
    `${action} ${describe(object)} failed${status}: ${errorMessage(error)}`,
  );
}

/** The replacement of `live` by `object`: what was rendered, with the live fields a replacement keeps. */
export function replacementFor(object: ManifestObject, live: LiveObject): ManifestObject {
  const metadata = { ...object.metadata, resourceVersion: live.metadata?.resourceVersion };
  const spec = object.spec as Record<string, unknown> | undefined;
  if (object.kind === 'Service' && object.apiVersion === 'v1' && live.spec?.clusterIP !== undefined) {
    const { clusterIP, clusterIPs } = live.spec;
    return { ...object, metadata, spec: { ...spec, clusterIP, clusterIPs } };
  }
  if (object.kind === 'Deployment' && object.apiVersion === 'apps/v1' && live.spec?.replicas !== undefined) {
    return { ...object, metadata, spec: { ...spec, replicas: live.spec.replicas } };
  }
  return { ...object, metadata };
}

export interface LiveObject {
  metadata?: { resourceVersion?: string };
  spec?: { clusterIP?: string; clusterIPs?: string[]; replicas?: number };
}

export async function applyObjects(
  config: KubeConfig,
  objects: readonly ManifestObject[],
  report: (object: ManifestObject, outcome: ApplyOutcome) => void,
  options: { fieldManager?: string } = {},
): Promise<void> {
  const fieldManager = options.fieldManager ?? FIELD_MANAGER;
  const api = KubernetesObjectApi.makeApiClient(config);
  for (const object of objects) {
    const { name, namespace } = object.metadata;
    const header = {
      apiVersion: object.apiVersion,
      kind: object.kind,
      metadata: namespace === undefined ? { name } : { name, namespace },
    };
    let live: LiveObject | undefined;
    try {
      live = await api.read(header);
    } catch (error) {
      if (!isNotFound(error)) throw failure('reading', object, error);
    }
    try {
      if (live === undefined) {
        await api.create(object, undefined, undefined, fieldManager);
        report(object, 'created');
      } else {
        await api.replace(replacementFor(object, live), undefined, undefined, fieldManager);
        report(object, 'configured');
      }
    } catch (error) {
      throw failure(live === undefined ? 'creating' : 'replacing', object, error);
    }
  }
}

export async function deleteObjects(
  config: KubeConfig,
  objects: readonly ManifestObject[],
  report: (object: ManifestObject, outcome: ApplyOutcome) => void,
): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(config);
  for (const object of [...objects].reverse()) {
    try {
      await api.delete(object);
      report(object, 'deleted');
    } catch (error) {
      if (!isNotFound(error)) throw failure('deleting', object, error);
      report(object, 'absent');
    }
  }
}

export { describe as describeObject };
