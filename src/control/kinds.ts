/**
 * The kinds the control plane accepts: the core kinds (Namespace, Pod, Deployment, Service) and the mesh
 * kinds. Composed here, once; everything else takes the registry as a parameter.
 */
import { CORE_KINDS } from '../core/config/kinds/core.ts';
import { MESH_KINDS } from '../core/config/kinds/mesh.ts';
import { kindRegistry } from '../core/config/resource.ts';

export const CONTROL_KINDS = kindRegistry([...CORE_KINDS, ...MESH_KINDS]);
