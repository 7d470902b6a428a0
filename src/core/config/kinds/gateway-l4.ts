/**
 * Gateway API routes below HTTP: TCPRoute, TLSRoute (matched by SNI) and UDPRoute. Parsed and checked as the
 * Gateway API's schema and CEL rules do; their parents and weighted backends are HTTPRoute's.
 */
import type { Field } from '../field.ts';
import type { KindDefinition } from '../resource.ts';
import { hostname } from './common.ts';
import {
  type BackendRef,
  GATEWAY_API_VERSIONS,
  type ParentRef,
  parentRef,
  ruleName,
  weightedBackendRefs,
} from './gateway.ts';

/** A rule of an L4 route: its backends, chosen by weight. */
export interface L4RouteRule {
  name?: string | undefined;
  backendRefs: (BackendRef & { weight: number })[];
}

export interface L4RouteSpec {
  parentRefs: ParentRef[];
  /** TLSRoute only: the SNI names the route serves. */
  hostnames: string[];
  rules: L4RouteRule[];
}

function l4Rule(field: Field): L4RouteRule | undefined {
  const object = field.object(['name', 'backendRefs'], { required: true });
  if (!object) return undefined;
  const refsField = object.child('backendRefs');
  // Backends of an L4 route take no filters: an empty filter list keeps the shared parser's shape.
  const backendRefs = weightedBackendRefs(refsField, (item) => {
    if (item.present) item.error('L4 routes take no filters');
    return [];
  }).map(({ filters: _none, ...ref }) => ref);
  if (!refsField.present) refsField.error('required field is missing');
  if (backendRefs.length > 16) refsField.error('at most 16 backendRefs');
  return { name: ruleName(object), backendRefs };
}

function l4RouteSpec(doc: Field, withHostnames: boolean): L4RouteSpec | undefined {
  doc.child('kind').warn(`${String(doc.child('kind').value)} is validated but not acted on by Ambit yet`);
  const spec = doc
    .child('spec')
    .object(withHostnames ? ['parentRefs', 'hostnames', 'rules'] : ['parentRefs', 'rules'], {
      required: true,
    });
  if (!spec) return undefined;
  const parentRefs = spec.child('parentRefs').list(parentRef) ?? [];
  if (parentRefs.length > 32) spec.child('parentRefs').error('at most 32 parentRefs');
  const hostnamesField = spec.child('hostnames');
  const hostnames = hostnamesField.list((item) => hostname(item)) ?? [];
  if (hostnames.length > 16) hostnamesField.error('at most 16 hostnames');
  const rulesField = spec.child('rules');
  const rules = rulesField.list(l4Rule, { required: true, nonEmpty: true }) ?? [];
  if (rules.length > 16) rulesField.error('at most 16 rules');
  const names = rules.flatMap((rule) => (rule.name === undefined ? [] : [rule.name]));
  if (new Set(names).size !== names.length) rulesField.error('rule names must be unique');
  return { parentRefs, hostnames, rules };
}

const L4_ROUTE_VERSIONS = [...GATEWAY_API_VERSIONS, 'gateway.networking.k8s.io/v1alpha2'] as const;

export const TCP_ROUTE: KindDefinition<L4RouteSpec> = {
  kind: 'TCPRoute',
  apiVersions: L4_ROUTE_VERSIONS,
  namespaced: true,
  parse: (doc) => l4RouteSpec(doc, false),
};

export const TLS_ROUTE: KindDefinition<L4RouteSpec> = {
  kind: 'TLSRoute',
  apiVersions: [...L4_ROUTE_VERSIONS, 'gateway.networking.k8s.io/v1alpha3'],
  namespaced: true,
  parse: (doc) => l4RouteSpec(doc, true),
};

export const UDP_ROUTE: KindDefinition<L4RouteSpec> = {
  kind: 'UDPRoute',
  apiVersions: L4_ROUTE_VERSIONS,
  namespaced: true,
  parse: (doc) => l4RouteSpec(doc, false),
};
