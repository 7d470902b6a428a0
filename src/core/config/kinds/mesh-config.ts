/**
 * Istio's mesh config: the `mesh` key of the ConfigMap `istio` in `istio-system`, a YAML document of
 * MeshConfig fields. Ambit reads `outboundTrafficPolicy.mode`; the other fields are Istio's and left alone.
 * Checked when the ConfigMap is applied, so a typo in the mode is refused rather than read as a default.
 */
import { parse } from 'yaml';
import type { OutboundTrafficPolicy } from '../../model/index.ts';
import { Field, isPlainObject } from '../field.ts';

export const MESH_CONFIG_NAMESPACE = 'istio-system';
export const MESH_CONFIG_NAME = 'istio';
export const MESH_CONFIG_KEY = 'mesh';

export interface MeshConfig {
  outboundTrafficPolicy: OutboundTrafficPolicy;
}

export const DEFAULT_MESH_CONFIG: MeshConfig = { outboundTrafficPolicy: 'ALLOW_ANY' };

/** Whether a ConfigMap is the mesh config. */
export function isMeshConfigMap(meta: { name: string; namespace: string | undefined }): boolean {
  return meta.name === MESH_CONFIG_NAME && meta.namespace === MESH_CONFIG_NAMESPACE;
}

/** Reads the mesh config text into `field`'s issues (path `data.mesh...`); undefined if it is not valid. */
export function parseMeshConfig(text: string, field: Field): MeshConfig | undefined {
  let value: unknown;
  try {
    value = parse(text);
  } catch (error) {
    return field.error(`not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  if (value !== null && value !== undefined && !isPlainObject(value))
    return field.error('the mesh config must be a mapping of MeshConfig fields');
  const mesh = new Field(value ?? {}, field.path, field.issues);
  const policy = mesh.child('outboundTrafficPolicy').object(['mode', 'egressProxy']);
  const mode = policy?.child('mode').oneOf(['ALLOW_ANY', 'REGISTRY_ONLY'] as const);
  if (policy?.child('mode').present && mode === undefined) return undefined;
  return { outboundTrafficPolicy: mode ?? DEFAULT_MESH_CONFIG.outboundTrafficPolicy };
}
