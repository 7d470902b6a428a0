/**
 * The mesh kinds: Istio networking and security, and the Gateway API. Composed with the core kinds (Namespace,
 * Pod, Deployment, Service) by whoever builds a registry.
 */
import type { KindDefinition } from '../resource.ts';
import { GATEWAY, GRPC_ROUTE, HTTP_ROUTE } from './gateway.ts';
import { REFERENCE_GRANT, TCP_ROUTE, TLS_ROUTE } from './gateway-l4.ts';
import { DESTINATION_RULE, VIRTUAL_SERVICE } from './istio-networking.ts';
import { AUTHORIZATION_POLICY, PEER_AUTHENTICATION } from './istio-security.ts';

export const MESH_KINDS: readonly KindDefinition[] = [
  VIRTUAL_SERVICE,
  DESTINATION_RULE,
  AUTHORIZATION_POLICY,
  PEER_AUTHENTICATION,
  GATEWAY,
  HTTP_ROUTE,
  GRPC_ROUTE,
  TCP_ROUTE,
  TLS_ROUTE,
  REFERENCE_GRANT,
] as readonly KindDefinition[];
