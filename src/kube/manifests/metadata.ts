/** The metadata every rendered object shares: its name, the install's namespace, Ambit's labels. */
import type { IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import type { INamespace } from 'kubernetes-models/v1/Namespace';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import { type InstallSettings, PART_OF, PART_OF_LABEL } from './settings.ts';

/** ObjectMeta, as kubernetes-models types it (every rendered object is checked against these types). */
export type ObjectMeta = NonNullable<INamespace['metadata']>;

export function meta(
  name: string,
  settings: InstallSettings,
  options: { namespaced?: boolean } = {},
): ObjectMeta {
  return {
    name,
    ...(options.namespaced === false ? {} : { namespace: settings.namespace }),
    labels: { [PART_OF_LABEL]: PART_OF, 'app.kubernetes.io/name': name },
  };
}

/** The selector (and pod labels) of a workload named `name`. */
export const appLabels = (name: string) => ({ app: name });

/** Any rendered object: apiVersion, kind and metadata always set. */
export interface ManifestObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [field: string]: unknown };
  [field: string]: unknown;
}

/** Objects built against kubernetes-models' types, as the untyped list that is applied and printed. */
export function asManifests(
  ...objects: ReadonlyArray<{ apiVersion?: string; kind?: string }>
): ManifestObject[] {
  return objects as ManifestObject[];
}

/**
 * A DaemonSet of Ambit on every Linux node, whatever its taints, as node-critical: its pods run as the
 * service account of the same name; `pod` is the rest of the pod spec.
 */
export function nodeDaemonSet(
  name: string,
  settings: InstallSettings,
  pod: Omit<IPodSpec, 'serviceAccountName' | 'priorityClassName' | 'tolerations' | 'nodeSelector'>,
): IDaemonSet {
  const labels = appLabels(name);
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: meta(name, settings),
    spec: {
      selector: { matchLabels: labels },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
      template: {
        metadata: { labels },
        spec: {
          serviceAccountName: name,
          priorityClassName: 'system-node-critical',
          tolerations: [{ operator: 'Exists' }],
          nodeSelector: { 'kubernetes.io/os': 'linux' },
          ...pod,
        },
      },
    },
  };
}
