/**
 * The mesh CA as Kubernetes objects: the Secret the control plane signs with (certificate and key) and the
 * ConfigMap of the root the ztunnels trust. Made by `ambit install` from a fresh root (or the operator's CA);
 * never rendered by `--dry-run`, so no key ever lands in a file that gets reviewed or committed.
 */
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import { asManifests, type ManifestObject, meta } from './metadata.ts';
import { type InstallSettings, NAMES } from './settings.ts';

export function caObjects(
  settings: InstallSettings,
  ca: { certPem: string; keyPem: string },
): ManifestObject[] {
  const secret: ISecret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: meta(NAMES.caSecret, settings),
    type: 'Opaque',
    stringData: { 'ca-cert.pem': ca.certPem, 'ca-key.pem': ca.keyPem },
  };
  const root: IConfigMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(NAMES.rootConfigMap, settings),
    data: { 'root-cert.pem': ca.certPem },
  };
  return asManifests(secret, root);
}
