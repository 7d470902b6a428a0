/** The mesh config in force: Istio's `istio-system/istio` ConfigMap, `mesh` key, or the defaults without it. */

import { Field } from '../../core/config/field.ts';
import { IssueCollector } from '../../core/config/issues.ts';
import type { KeyedDataSpec } from '../../core/config/kinds/config-objects.ts';
import {
  DEFAULT_MESH_CONFIG,
  isMeshConfigMap,
  MESH_CONFIG_KEY,
  type MeshConfig,
  parseMeshConfig,
} from '../../core/config/kinds/mesh-config.ts';
import type { Resource } from '../../core/config/resource.ts';

export function meshConfigOf(resources: readonly Resource[]): MeshConfig {
  const map = resources.find(
    (resource) => resource.kind === 'ConfigMap' && isMeshConfigMap(resource.metadata),
  ) as Resource<KeyedDataSpec> | undefined;
  const encoded = map?.spec.entries[MESH_CONFIG_KEY];
  if (map === undefined || encoded === undefined) return DEFAULT_MESH_CONFIG;
  // The ConfigMap was checked when it was applied: a config in force parses.
  const collector = new IssueCollector(map.source);
  const text = Buffer.from(encoded, 'base64').toString('utf8');
  return parseMeshConfig(text, new Field(text, `data.${MESH_CONFIG_KEY}`, collector)) ?? DEFAULT_MESH_CONFIG;
}
