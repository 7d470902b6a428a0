/**
 * The mesh kinds: Istio networking, security and telemetry, the Gateway API, and Linkerd's local rate limit.
 * Composed with the core kinds (Namespace, Pod, Deployment, Service) by whoever builds a registry.
 */
import type { KindDefinition } from '../resource.ts';
import { GATEWAY, GRPC_ROUTE, HTTP_ROUTE } from './gateway.ts';
import { REFERENCE_GRANT, TCP_ROUTE, TLS_ROUTE } from './gateway-l4.ts';
import { DESTINATION_RULE, VIRTUAL_SERVICE } from './istio-networking.ts';
import { AUTHORIZATION_POLICY, PEER_AUTHENTICATION } from './istio-security.ts';
import { HTTP_LOCAL_RATE_LIMIT_POLICY } from './linkerd-policy.ts';
import { TELEMETRY } from './telemetry.ts';

export const MESH_KINDS: readonly KindDefinition[] = [
  VIRTUAL_SERVICE,
  DESTINATION_RULE,
  AUTHORIZATION_POLICY,
  PEER_AUTHENTICATION,
  GATEWAY,
  HTTP_ROUTE,
  GRPC_ROUTE,
  HTTP_LOCAL_RATE_LIMIT_POLICY,
  TELEMETRY,
  TCP_ROUTE,
  TLS_ROUTE,
  REFERENCE_GRANT,
] as readonly KindDefinition[];
