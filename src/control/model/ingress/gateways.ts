/**
 * Ingress gateways as the control plane sees them: Gateways of a class Ambit deploys as an ingress gateway
 * (`ambit`, and `istio` so Istio's YAML applies as it is), and the Service that fronts their instances (as
 * istiod's deployment controller makes one), with the listener ports and no VIP: status reads its ready
 * endpoints as the Gateway's addresses.
 */
import type { GatewaySpec } from '../../../core/config/kinds/gateway.ts';
import { INGRESS_GATEWAY_CLASSES } from '../../../core/labels.ts';
import type { NamedConfig, Service } from '../../../core/model/index.ts';
import type { PodIndex } from '../pod-index.ts';
import { serviceHostname } from '../services.ts';
import { gatewayEndpoints } from '../waypoints.ts';

export function isIngressGateway(spec: Pick<GatewaySpec, 'gatewayClassName'>): boolean {
  return INGRESS_GATEWAY_CLASSES.includes(spec.gatewayClassName);
}

export function ingressGatewayService(gateway: NamedConfig<GatewaySpec>, pods: PodIndex): Service {
  const ports = [...new Set(gateway.spec.listeners.map((listener) => listener.port))].sort((a, b) => a - b);
  return {
    name: gateway.name,
    namespace: gateway.namespace,
    hostname: serviceHostname(gateway.name, gateway.namespace),
    vips: [],
    ports: ports.map((port) => ({ name: `port-${port}`, port, targetPort: port, protocol: 'TCP' })),
    endpoints: gatewayEndpoints(gateway, pods),
  };
}
