/**
 * The mesh kinds: Istio networking, security and telemetry, the Gateway API, and Linkerd's local rate limit.
 * Composed with the core kinds (Namespace, Pod, Deployment, Service) by whoever builds a registry. Istio and
 * Gateway API kinds Ambit does not act on are registered too, so that upstream manifests are accepted with a
 * warning saying so.
 */
import type { Field } from '../field.ts';
import type { KindDefinition } from '../resource.ts';
import { notRunKind } from './config-objects.ts';
import { GATEWAY, GRPC_ROUTE, HTTP_ROUTE } from './gateway.ts';
import { REFERENCE_GRANT, TCP_ROUTE, TLS_ROUTE, UDP_ROUTE } from './gateway-l4.ts';
import { BACKEND_TLS_POLICY, GATEWAY_CLASS, LISTENER_SET } from './gateway-policies.ts';
import { ISTIO_GATEWAY } from './istio-gateway.ts';
import { DESTINATION_RULE, ISTIO_NETWORKING_VERSIONS, VIRTUAL_SERVICE } from './istio-networking.ts';
import {
  checkEnvoyFilter,
  checkProxyConfig,
  checkWasmPlugin,
  checkWorkloadEntry,
  checkWorkloadGroup,
} from './istio-not-acted.ts';
import { AUTHORIZATION_POLICY, PEER_AUTHENTICATION } from './istio-security.ts';
import { SERVICE_ENTRY } from './istio-service-entry.ts';
import { HTTP_LOCAL_RATE_LIMIT_POLICY } from './linkerd-policy.ts';
import { REQUEST_AUTHENTICATION } from './request-authentication.ts';
import { TELEMETRY } from './telemetry.ts';

/** Upstream kinds with no meaning in Ambit yet: their envelope is checked, their body is not read. */
const NOT_ACTED_ON: readonly [kind: string, apiVersions: readonly string[], check?: (doc: Field) => void][] =
  [
    ['EnvoyFilter', ISTIO_NETWORKING_VERSIONS, checkEnvoyFilter],
    ['Sidecar', ISTIO_NETWORKING_VERSIONS],
    ['WorkloadEntry', ISTIO_NETWORKING_VERSIONS, checkWorkloadEntry],
    ['WorkloadGroup', ISTIO_NETWORKING_VERSIONS, checkWorkloadGroup],
    ['ProxyConfig', ['networking.istio.io/v1beta1'], checkProxyConfig],
    ['WasmPlugin', ['extensions.istio.io/v1alpha1'], checkWasmPlugin],
    ['BackendTrafficPolicy', ['gateway.networking.x-k8s.io/v1alpha1']],
    ['XBackendTrafficPolicy', ['gateway.networking.x-k8s.io/v1alpha1']],
    ['XListenerSet', ['gateway.networking.x-k8s.io/v1alpha1']],
    ['XMesh', ['gateway.networking.x-k8s.io/v1alpha1']],
  ];

export const MESH_KINDS: readonly KindDefinition[] = [
  VIRTUAL_SERVICE,
  DESTINATION_RULE,
  SERVICE_ENTRY,
  ISTIO_GATEWAY,
  AUTHORIZATION_POLICY,
  PEER_AUTHENTICATION,
  REQUEST_AUTHENTICATION,
  GATEWAY,
  HTTP_ROUTE,
  GRPC_ROUTE,
  HTTP_LOCAL_RATE_LIMIT_POLICY,
  TELEMETRY,
  TCP_ROUTE,
  TLS_ROUTE,
  UDP_ROUTE,
  REFERENCE_GRANT,
  GATEWAY_CLASS,
  LISTENER_SET,
  BACKEND_TLS_POLICY,
  ...NOT_ACTED_ON.map(([kind, versions, check]) => notRunKind(kind, versions, check)),
] as readonly KindDefinition[];
