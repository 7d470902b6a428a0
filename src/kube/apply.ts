/**
 * Applies objects through the Kubernetes API the way `kubectl apply` without server-side apply does: read
 * each object; create it if absent, else replace it carrying the live resourceVersion (a concurrent change
 * is a conflict, not a lost write). Deletes in reverse order, where a missing object is already done.
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

export async function applyObjects(
  config: KubeConfig,
  objects: readonly ManifestObject[],
  report: (object: ManifestObject, outcome: ApplyOutcome) => void,
): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(config);
  for (const object of objects) {
    const { name, namespace } = object.metadata;
    const header = {
      apiVersion: object.apiVersion,
      kind: object.kind,
      metadata: namespace === undefined ? { name } : { name, namespace },
    };
    let live: { metadata?: { resourceVersion?: string } } | undefined;
    try {
      live = await api.read(header);
    } catch (error) {
      if (!isNotFound(error)) throw failure('reading', object, error);
    }
    try {
      if (live === undefined) {
        await api.create(object, undefined, undefined, FIELD_MANAGER);
        report(object, 'created');
      } else {
        const metadata = { ...object.metadata, resourceVersion: live.metadata?.resourceVersion };
        await api.replace({ ...object, metadata }, undefined, undefined, FIELD_MANAGER);
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
