/**
 * What every pod that talks to the control plane mounts, the ztunnels and the waypoints alike: its projected
 * service-account token for the control plane's audience (the TokenReview credential, rotated by the
 * kubelet) and the mesh root it verifies the control plane with; and the readiness probe both serve.
 */
import type { IProbe } from 'kubernetes-models/v1/Probe';
import type { IVolume } from 'kubernetes-models/v1/Volume';
import type { IVolumeMount } from 'kubernetes-models/v1/VolumeMount';
import { CONTROL_TOKEN_AUDIENCE } from './settings.ts';

const TOKEN_DIR = '/var/run/secrets/tokens';
const ROOT_DIR = '/etc/ambit/root';

export const CONTROL_TOKEN_FILE = `${TOKEN_DIR}/ambit-token`;
export const ROOT_CERT_FILE = `${ROOT_DIR}/root-cert.pem`;

export function controlCredentialMounts(): IVolumeMount[] {
  return [
    { name: 'ambit-token', mountPath: TOKEN_DIR, readOnly: true },
    { name: 'root-cert', mountPath: ROOT_DIR, readOnly: true },
  ];
}

/** The volumes of those mounts; `rootConfigMap` holds `root-cert.pem` in the pod's namespace. */
export function controlCredentialVolumes(rootConfigMap: string): IVolume[] {
  return [
    {
      name: 'ambit-token',
      projected: {
        sources: [
          {
            serviceAccountToken: {
              path: 'ambit-token',
              audience: CONTROL_TOKEN_AUDIENCE,
              expirationSeconds: 43_200,
            },
          },
        ],
      },
    },
    { name: 'root-cert', configMap: { name: rootConfigMap } },
  ];
}

export function readinessProbe(port: number): IProbe {
  return { httpGet: { path: '/healthz/ready', port }, periodSeconds: 5 };
}
