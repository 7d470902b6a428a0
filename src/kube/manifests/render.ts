/**
 * Ambit on Kubernetes as a list of objects, in the order they are applied (namespace and identities first,
 * workloads last; `uninstall` deletes in reverse). The one source of truth for `ambit install`, its
 * `--dry-run` YAML and the golden file.
 *
 * The Istio and Gateway API CRDs are not rendered: Ambit serves those kinds as Istio defines them, so a
 * cluster installs them the way it would for Istio (Istio's `base` chart, the Gateway API standard CRDs).
 */
import type { INamespace } from 'kubernetes-models/v1/Namespace';
import { stringify } from 'yaml';
import { cniNodeObjects } from './cni-node.ts';
import { controlPlaneObjects } from './control-plane.ts';
import { asManifests, type ManifestObject, meta } from './metadata.ts';
import { rbacObjects } from './rbac.ts';
import { type InstallSettings, KUBERNETES_VERSION } from './settings.ts';
import { ztunnelObjects } from './ztunnel.ts';

export type { ManifestObject } from './metadata.ts';

export function renderManifests(settings: InstallSettings): ManifestObject[] {
  const namespace: INamespace = {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: meta(settings.namespace, settings, { namespaced: false }),
  };
  return asManifests(
    namespace,
    ...rbacObjects(settings),
    ...controlPlaneObjects(settings),
    ...ztunnelObjects(settings),
    ...cniNodeObjects(settings),
  );
}

/** The objects as one multi-document YAML stream, with a header saying what it is for. */
export function manifestsYaml(objects: readonly ManifestObject[], version: string): string {
  const header = [
    `# Ambit ${version} on Kubernetes ${KUBERNETES_VERSION} or later (rendered by \`ambit install --dry-run\`).`,
    '# Needs the Istio CRDs (networking.istio.io, security.istio.io) and the Gateway API standard CRDs.',
    '# `ambit install` also creates the mesh CA: Secret ambit-ca and ConfigMap ambit-root-cert (not shown).',
  ].join('\n');
  return `${header}\n${yamlStream(objects)}`;
}

/** The objects as YAML documents, each after its `---`. */
export function yamlStream(objects: readonly ManifestObject[]): string {
  return objects.map((object) => `---\n${stringify(object, { lineWidth: 0 })}`).join('');
}
