/** What both node DaemonSets (the ztunnel and the CNI node agent) need alike from their node. */
import type { IEnvVar } from 'kubernetes-models/v1/EnvVar';
import type { IVolume } from 'kubernetes-models/v1/Volume';
import type { IVolumeMount } from 'kubernetes-models/v1/VolumeMount';
import { RUNTIME_NETNS_DIR } from './settings.ts';

export const NODE_NAME_ENV: IEnvVar = {
  name: 'NODE_NAME',
  valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } },
};

/**
 * The host's directory where the runtime pins pod namespaces, at the same path inside: a path one pod finds
 * there (CNI_NETNS, or the agent's reconcile) is a path the other opens. HostToContainer, so namespaces
 * pinned after the container started are visible; read-only, since neither pins or unpins any.
 */
export const RUNTIME_NETNS_VOLUME: IVolume = {
  name: 'netns',
  hostPath: { path: RUNTIME_NETNS_DIR, type: 'DirectoryOrCreate' },
};
export const RUNTIME_NETNS_MOUNT: IVolumeMount = {
  name: 'netns',
  mountPath: RUNTIME_NETNS_DIR,
  mountPropagation: 'HostToContainer',
  readOnly: true,
};
