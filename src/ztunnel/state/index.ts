/** The ztunnel's view of the mesh and the decisions made from it (lookups, load balancing, policy). */

export { canonicalIp, parseCidr, parseIp } from '../../core/ip.ts';
export { type AuthorizationResult, authorize, type ConnectionAttributes } from './authorize.ts';
export { type EffectiveMtlsMode, resolveMtlsMode } from './peer-auth.ts';
export {
  joinHostPort,
  type OutboundRoute,
  type RouteDestination,
  routeOutbound,
  splitHostPort,
} from './route.ts';
export { policyApplies, selectorMatches } from './selector.ts';
export { type PickedEndpoint, StateStore } from './store.ts';
