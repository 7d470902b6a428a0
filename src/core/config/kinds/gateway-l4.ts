/**
 * The Gateway API kinds an ingress gateway needs besides HTTPRoute and GRPCRoute: `TCPRoute` and `TLSRoute`
 * (byte streams, a TLSRoute chosen by the ClientHello's SNI) and `ReferenceGrant` (the target namespace's
 * consent to references from another namespace: a route's backendRef, a listener's certificateRef). Parsed
 * with the same parentRef and backendRef rules as HTTPRoute.
 */
import type { Field } from '../field.ts';
import type { KindDefinition } from '../resource.ts';
import { DNS_SUBDOMAIN } from '../resource.ts';
import { hostname, namespaceName } from './common.ts';
import {
  type BackendRef,
  GATEWAY_API_VERSIONS,
  type ParentRef,
  parentRef,
  ruleName,
  weightedBackendRefs,
} from './gateway.ts';

/** TCPRoute and TLSRoute are still experimental: v1alpha2 (TLSRoute also v1alpha3 and v1). */
const L4_ROUTE_VERSIONS = [
  'gateway.networking.k8s.io/v1alpha2',
  'gateway.networking.k8s.io/v1alpha3',
  ...GATEWAY_API_VERSIONS,
] as const;

export interface L4BackendRef extends BackendRef {
  weight: number;
}

export interface L4RouteRule {
  name?: string | undefined;
  backendRefs: L4BackendRef[];
}

export interface L4RouteSpec {
  parentRefs: ParentRef[];
  /** TLSRoute only: SNI names the route takes (empty: the listener's). */
  hostnames: string[];
  rules: L4RouteRule[];
}

function l4Rule(field: Field): L4RouteRule | undefined {
  const object = field.object(['name', 'backendRefs'], { required: true });
  if (!object) return undefined;
  const backendRefs = weightedBackendRefs(object.child('backendRefs'), (filters) => {
    if (filters.present) filters.error('TCPRoute and TLSRoute backendRefs take no filters');
    return [];
  }).map(({ filters: _none, ...ref }) => ref);
  return { name: ruleName(object), backendRefs };
}

function l4RouteSpec(doc: Field, withHostnames: boolean): L4RouteSpec | undefined {
  const keys = withHostnames ? ['parentRefs', 'hostnames', 'rules'] : ['parentRefs', 'rules'];
  const spec = doc.child('spec').object(keys, { required: true });
  if (!spec) return undefined;
  const parentRefs = spec.child('parentRefs').list(parentRef) ?? [];
  if (parentRefs.length > 32) spec.child('parentRefs').error('at most 32 parentRefs');
  const hostnames = withHostnames ? (spec.child('hostnames').list((item) => hostname(item)) ?? []) : [];
  const rulesField = spec.child('rules');
  const rules = rulesField.list(l4Rule, { required: true, nonEmpty: true }) ?? [];
  if (rules.length > 16) rulesField.error('at most 16 rules');
  return { parentRefs, hostnames, rules };
}

export const TCP_ROUTE: KindDefinition<L4RouteSpec> = {
  kind: 'TCPRoute',
  apiVersions: L4_ROUTE_VERSIONS,
  namespaced: true,
  parse: (doc: Field) => l4RouteSpec(doc, false),
};

export const TLS_ROUTE: KindDefinition<L4RouteSpec> = {
  kind: 'TLSRoute',
  apiVersions: L4_ROUTE_VERSIONS,
  namespaced: true,
  parse: (doc: Field) => l4RouteSpec(doc, true),
};

// ---------------------------------------------------------------------------------------------------------
// ReferenceGrant

export interface ReferenceGrantSpec {
  /** Who may refer: a kind (with its group) in a namespace. */
  from: { group: string; kind: string; namespace: string }[];
  /** To what, in the grant's own namespace: a kind, optionally one object of it. */
  to: { group: string; kind: string; name?: string | undefined }[];
}

function referenceGrant(doc: Field): ReferenceGrantSpec | undefined {
  const spec = doc.child('spec').object(['from', 'to'], { required: true });
  if (!spec) return undefined;
  const from =
    spec.child('from').list(
      (item) => {
        const object = item.object(['group', 'kind', 'namespace'], { required: true });
        if (!object) return undefined;
        const group = object.child('group').string({ required: true });
        const kind = object.child('kind').string({ required: true, nonEmpty: true });
        const namespace = namespaceName(object.child('namespace'));
        if (namespace === undefined) object.child('namespace').error('a namespace is required');
        return group === undefined || kind === undefined || namespace === undefined
          ? undefined
          : { group, kind, namespace };
      },
      { required: true, nonEmpty: true },
    ) ?? [];
  const to =
    spec.child('to').list(
      (item) => {
        const object = item.object(['group', 'kind', 'name'], { required: true });
        if (!object) return undefined;
        const group = object.child('group').string({ required: true });
        const kind = object.child('kind').string({ required: true, nonEmpty: true });
        const name = object.child('name').string({ pattern: DNS_SUBDOMAIN, patternHint: 'an object name' });
        return group === undefined || kind === undefined ? undefined : { group, kind, name };
      },
      { required: true, nonEmpty: true },
    ) ?? [];
  if (from.length > 16) spec.child('from').error('at most 16 entries');
  if (to.length > 16) spec.child('to').error('at most 16 entries');
  return { from, to };
}

export const REFERENCE_GRANT: KindDefinition<ReferenceGrantSpec> = {
  kind: 'ReferenceGrant',
  apiVersions: ['gateway.networking.k8s.io/v1beta1', 'gateway.networking.k8s.io/v1'],
  namespaced: true,
  parse: (doc: Field) => referenceGrant(doc),
};

/** UDPRoute: validated as TCPRoute is; the mesh carries TCP only, so nothing serves it. */
export const UDP_ROUTE: KindDefinition<L4RouteSpec> = {
  kind: 'UDPRoute',
  apiVersions: L4_ROUTE_VERSIONS,
  namespaced: true,
  parse: (doc: Field) => {
    doc.child('kind').warn('UDPRoute is validated but not acted on by Ambit (the mesh carries TCP only)');
    return l4RouteSpec(doc, false);
  },
};
