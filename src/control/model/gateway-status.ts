/**
 * A Gateway's `status` as Gateway API controllers report it (`Accepted`, `Programmed`, addresses), computed
 * from the mesh rather than stored: a waypoint Gateway is Accepted when it has the HBONE listener a waypoint
 * needs, and Programmed with the addresses of its ready instances once at least one is ready. Gateways of
 * other classes have no controller here and stay Pending, as an unclaimed Gateway does on Kubernetes.
 */
import type { GatewaySpec } from '../../core/config/kinds/gateway.ts';
import type { Resource } from '../../core/config/resource.ts';
import { WAYPOINT_GATEWAY_CLASS } from '../../core/labels.ts';
import type { Service } from '../../core/model/index.ts';
import { ZTUNNEL_PORTS } from '../../core/ports.ts';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface GatewayCondition {
  type: 'Accepted' | 'Programmed';
  status: ConditionStatus;
  reason: string;
  message: string;
}

export interface GatewayStatus {
  addresses: { type: 'IPAddress'; value: string }[];
  conditions: GatewayCondition[];
}

/** `services` is the mesh's: the waypoint's instances are the endpoints of the Service of its name. */
export function gatewayStatus(gateway: Resource<GatewaySpec>, services: readonly Service[]): GatewayStatus {
  const { gatewayClassName, listeners } = gateway.spec;
  if (gatewayClassName !== WAYPOINT_GATEWAY_CLASS) {
    const message = `no controller here serves class ${gatewayClassName} (only ${WAYPOINT_GATEWAY_CLASS})`;
    return {
      addresses: [],
      conditions: [
        { type: 'Accepted', status: 'Unknown', reason: 'Pending', message },
        { type: 'Programmed', status: 'Unknown', reason: 'Pending', message },
      ],
    };
  }
  if (!listeners.some((listener) => listener.port === ZTUNNEL_PORTS.hbone && listener.protocol === 'HBONE')) {
    const message = `a waypoint needs a listener on port ${ZTUNNEL_PORTS.hbone} with protocol HBONE`;
    return {
      addresses: [],
      conditions: [
        { type: 'Accepted', status: 'False', reason: 'Invalid', message },
        { type: 'Programmed', status: 'False', reason: 'Invalid', message },
      ],
    };
  }
  const namespace = gateway.metadata.namespace ?? 'default';
  const service = services.find((s) => s.name === gateway.metadata.name && s.namespace === namespace);
  const ready = service?.endpoints.filter((endpoint) => endpoint.ready) ?? [];
  const accepted: GatewayCondition = {
    type: 'Accepted',
    status: 'True',
    reason: 'Accepted',
    message: 'deployed as a waypoint',
  };
  if (ready.length === 0) {
    return {
      addresses: [],
      conditions: [
        accepted,
        {
          type: 'Programmed',
          status: 'False',
          reason: 'Pending',
          message: `no ready waypoint instance yet (${service?.endpoints.length ?? 0} starting)`,
        },
      ],
    };
  }
  return {
    addresses: ready.map((endpoint) => ({ type: 'IPAddress', value: endpoint.ip })),
    conditions: [
      accepted,
      {
        type: 'Programmed',
        status: 'True',
        reason: 'Programmed',
        message: `${ready.length} ready waypoint instance${ready.length === 1 ? '' : 's'}`,
      },
    ],
  };
}
