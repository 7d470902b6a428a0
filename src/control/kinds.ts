/**
 * The kinds the control plane accepts: the core kinds (Namespace, Pod, Deployment, Service) and the mesh
 * kinds. Composed here, once; everything else takes the registry as a parameter.
 */
import { CORE_KINDS } from '../core/config/kinds/core.ts';
import { MESH_KINDS } from '../core/config/kinds/mesh.ts';
import { type KindRegistry, kindRegistry } from '../core/config/resource.ts';

export const CONTROL_KINDS = kindRegistry([...CORE_KINDS, ...MESH_KINDS]);

/** kubectl's short names for the kinds, so `ambit get vs` works as `kubectl get vs` does. */
const SHORT_NAMES: Record<string, string> = {
  ns: 'Namespace',
  po: 'Pod',
  svc: 'Service',
  deploy: 'Deployment',
  vs: 'VirtualService',
  dr: 'DestinationRule',
  ap: 'AuthorizationPolicy',
  pa: 'PeerAuthentication',
  gtw: 'Gateway',
  se: 'ServiceEntry',
};

/** `Gateway` -> `Gateways`; a qualified kind pluralises its name (`Gateway.networking.istio.io` -> `Gateways.networking.istio.io`). */
function plural(kind: string): string {
  const dot = kind.indexOf('.');
  const [name, group] = dot < 0 ? [kind, ''] : [kind.slice(0, dot), kind.slice(dot)];
  return `${/[^aeiou]y$/.test(name) ? `${name.slice(0, -1)}ies` : `${name}s`}${group}`;
}

/** The kind a user means by `name`: the kind, its plural or short name, any case; undefined if none. */
export function resolveKind(name: string, registry: KindRegistry = CONTROL_KINDS): string | undefined {
  const lower = name.toLowerCase();
  for (const kind of registry.keys()) {
    if (lower === kind.toLowerCase() || lower === plural(kind).toLowerCase()) return kind;
  }
  const short = SHORT_NAMES[lower];
  return short !== undefined && registry.has(short) ? short : undefined;
}
