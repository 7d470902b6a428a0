/**
 * Which listeners of an ingress Gateway take a route, as the Gateway API defines attachment: the parentRef
 * names the Gateway (and, with `sectionName` or `port`, some of its listeners); the listener allows the
 * route's kind (`allowedRoutes.kinds`, else the kinds its protocol carries) and namespace
 * (`allowedRoutes.namespaces`: `Same` by default, `All`, or a `Selector` on the namespace's labels); and the
 * hostnames intersect. Each parentRef gets its `Accepted` condition with the reason the API names. Pure.
 */
import type { GatewayListener, GatewaySpec, ParentRef } from '../../../core/config/kinds/gateway.ts';
import { GATEWAY_API_GROUP } from '../../../core/config/kinds/gateway.ts';
import { attachedHostnames, type Hostnames } from '../../../core/l7/hostnames.ts';
import type { NamedConfig } from '../../../core/model/index.ts';
import { selectorMatches } from '../../../core/policy/selector.ts';

export type IngressRouteKind = 'HTTPRoute' | 'GRPCRoute' | 'TCPRoute' | 'TLSRoute';

/** What attachment reads of a route, whatever its kind. */
export interface RouteRef {
  kind: IngressRouteKind;
  namespace: string;
  name: string;
  parentRefs: readonly ParentRef[];
  hostnames: readonly string[];
}

export interface ListenerAttachment {
  listener: GatewayListener;
  hostnames: Hostnames;
}

export type AcceptedReason =
  | 'Accepted'
  | 'NotAllowedByListeners'
  | 'NoMatchingListenerHostname'
  | 'NoMatchingParent';

/** One parentRef of a route that names the Gateway, and what came of it. */
export interface ParentAttachment {
  parentRef: ParentRef;
  reason: AcceptedReason;
  message: string;
  /** The listeners that took the route (none unless `reason` is `Accepted`). */
  listeners: ListenerAttachment[];
}

/** The route kinds a listener's protocol carries when `allowedRoutes.kinds` says nothing. */
export function defaultRouteKinds(listener: GatewayListener): IngressRouteKind[] {
  switch (listener.protocol) {
    case 'HTTP':
    case 'HTTPS':
      return ['HTTPRoute', 'GRPCRoute'];
    case 'TLS':
      return listener.tls?.mode === 'Terminate' ? ['TCPRoute'] : ['TLSRoute'];
    case 'TCP':
      return ['TCPRoute'];
    default:
      return [];
  }
}

/** The kinds a listener accepts: those it lists that its protocol carries, else its protocol's. */
export function listenerRouteKinds(listener: GatewayListener): IngressRouteKind[] {
  const carried = defaultRouteKinds(listener);
  const listed = listener.allowedRoutes.kinds;
  if (listed.length === 0) return carried;
  return carried.filter((kind) =>
    listed.some((entry) => entry.kind === kind && entry.group === GATEWAY_API_GROUP),
  );
}

/** Whether the listener allows routes from `namespace` (the Gateway is in `gatewayNamespace`). */
export function namespaceAllowed(
  listener: GatewayListener,
  gatewayNamespace: string,
  namespace: string,
  namespaceLabels: Readonly<Record<string, string>>,
): boolean {
  const { from, selector } = listener.allowedRoutes.namespaces;
  if (from === 'All') return true;
  if (from === 'Same') return namespace === gatewayNamespace;
  return selector !== undefined && selectorMatches(selector, namespaceLabels);
}

function namesGateway(parent: ParentRef, route: RouteRef, gateway: NamedConfig<GatewaySpec>): boolean {
  return (
    parent.group === GATEWAY_API_GROUP &&
    parent.kind === 'Gateway' &&
    parent.name === gateway.name &&
    (parent.namespace ?? route.namespace) === gateway.namespace
  );
}

/** Every parentRef of `route` that names `gateway`, with the listeners it attaches to and why (not). */
export function attachRoute(
  gateway: NamedConfig<GatewaySpec>,
  route: RouteRef,
  routeNamespaceLabels: Readonly<Record<string, string>>,
): ParentAttachment[] {
  return route.parentRefs
    .filter((parent) => namesGateway(parent, route, gateway))
    .map((parentRef) => {
      const named = gateway.spec.listeners.filter(
        (listener) =>
          (parentRef.sectionName === undefined || listener.name === parentRef.sectionName) &&
          (parentRef.port === undefined || listener.port === parentRef.port),
      );
      if (named.length === 0) {
        const which = parentRef.sectionName ?? `port ${parentRef.port}`;
        return refused(parentRef, 'NoMatchingParent', `Gateway ${gateway.name} has no listener ${which}`);
      }
      const allowed = named.filter(
        (listener) =>
          listenerRouteKinds(listener).includes(route.kind) &&
          namespaceAllowed(listener, gateway.namespace, route.namespace, routeNamespaceLabels),
      );
      if (allowed.length === 0) {
        return refused(
          parentRef,
          'NotAllowedByListeners',
          `no listener of Gateway ${gateway.name} allows a ${route.kind} from namespace ${route.namespace}`,
        );
      }
      const listeners = allowed
        .map((listener) => ({
          listener,
          hostnames: hostnamesFor(route, listener),
        }))
        .filter((attachment) => attachment.hostnames === 'any' || attachment.hostnames.length > 0);
      if (listeners.length === 0) {
        return refused(
          parentRef,
          'NoMatchingListenerHostname',
          `the route's hostnames (${route.hostnames.join(', ')}) match no listener hostname`,
        );
      }
      return { parentRef, reason: 'Accepted', message: 'attached', listeners };
    });
}

/** TCP listeners have no hostnames, and TCPRoutes none to give. */
function hostnamesFor(route: RouteRef, listener: GatewayListener): Hostnames {
  if (route.kind === 'TCPRoute') return 'any';
  return attachedHostnames(listener.hostname, route.hostnames);
}

function refused(parentRef: ParentRef, reason: AcceptedReason, message: string): ParentAttachment {
  return { parentRef, reason, message, listeners: [] };
}
