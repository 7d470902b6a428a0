/**
 * `ambit install` / `ambit uninstall` through the Kubernetes API: the rendered manifests, plus the mesh CA
 * (Secret and root ConfigMap) on the first install. A later install keeps the CA that is there: replacing
 * it would leave every workload certificate in the mesh untrusted.
 */
import { ApiException, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { type ApplyOutcome, applyObjects, deleteObjects } from './apply.ts';
import { caObjects } from './manifests/ca.ts';
import { type ManifestObject, renderManifests } from './manifests/render.ts';
import { type InstallSettings, NAMES } from './manifests/settings.ts';

export type Report = (object: ManifestObject, outcome: ApplyOutcome | 'kept') => void;

async function caSecretExists(config: KubeConfig, namespace: string): Promise<boolean> {
  try {
    await config.makeApiClient(CoreV1Api).readNamespacedSecret({ name: NAMES.caSecret, namespace });
    return true;
  } catch (error) {
    if (error instanceof ApiException && error.code === 404) return false;
    throw error;
  }
}

export async function install(
  config: KubeConfig,
  settings: InstallSettings,
  report: Report,
  /** Makes (or loads) the mesh root; called only when the cluster has no CA Secret yet. */
  makeCa: () => { certPem: string; keyPem: string },
): Promise<void> {
  const [namespace, ...rest] = renderManifests(settings);
  await applyObjects(config, [namespace!], report);
  if (await caSecretExists(config, settings.namespace)) {
    for (const object of caObjects(settings, { certPem: '', keyPem: '' })) report(object, 'kept');
  } else {
    await applyObjects(config, caObjects(settings, makeCa()), report);
  }
  await applyObjects(config, rest, report);
}

/** Removes what install made, the CA included (the mesh's identities end with it). */
export async function uninstall(
  config: KubeConfig,
  settings: InstallSettings,
  report: Report,
): Promise<void> {
  const [namespace, ...rest] = renderManifests(settings);
  const ca = caObjects(settings, { certPem: '', keyPem: '' });
  await deleteObjects(config, [namespace!, ...ca, ...rest], report);
}
