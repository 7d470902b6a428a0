/**
 * Where an outbound connection goes, decided from the state alone (no I/O): to a service VIP (load balanced
 * over ready endpoints, port mapped), through the destination's waypoint, to a meshed workload over HBONE,
 * or around the mesh (passthrough) when the destination is not part of it. ServiceEntry services are
 * services like the others; one with resolution NONE sends to the address dialled. A destination that no
 * workload, service or ServiceEntry knows passes through under ALLOW_ANY and is refused under REGISTRY_ONLY.
 */
import type { Service, Workload } from '../../core/model/index.ts';
import { joinHostPort } from '../../core/net/host-port.ts';
import { ZTUNNEL_PORTS } from '../../core/ports.ts';
import type { StateStore } from './store.ts';

export interface ChosenDestination {
  /** The workload the bytes reach first (the waypoint's instance when going through one). */
  workload?: Workload | undefined;
  service?: Service | undefined;
}

export type OutboundChoice =
  | {
      kind: 'hbone';
      /** The peer's HBONE listener. */
      peerIp: string;
      peerPort: number;
      /** The peer certificate must carry this SPIFFE identity. */
      peerIdentity: string;
      /** `:authority` of the CONNECT: the target `ip:port` (for a waypoint: the service VIP:port). */
      authority: string;
      viaWaypoint: boolean;
      destination: ChosenDestination;
    }
  | { kind: 'passthrough'; ip: string; port: number; destination: ChosenDestination }
  | { kind: 'reject'; reason: RejectReason; destination: ChosenDestination };

export type RejectReason = 'no-service-port' | 'no-ready-endpoint' | 'no-ready-waypoint' | 'not-in-registry';

export function chooseOutbound(state: StateStore, ip: string, port: number): OutboundChoice {
  const service = state.serviceByVip(ip);
  if (service) return toService(state, service, ip, port);
  const workload = state.workloadByIp(ip);
  if (workload?.waypoint) {
    return viaWaypoint(state, workload.waypoint, joinHostPort(ip, port), { workload });
  }
  if (workload) return toWorkload(workload, ip, port, { workload });
  const entry = state.serviceEntryByRange(ip);
  if (entry) return toService(state, entry, ip, port);
  if (state.outboundTrafficPolicy === 'REGISTRY_ONLY') {
    return { kind: 'reject', reason: 'not-in-registry', destination: {} };
  }
  return { kind: 'passthrough', ip, port, destination: {} };
}

function toService(state: StateStore, service: Service, vip: string, port: number): OutboundChoice {
  if (!service.ports.some((p) => p.port === port)) {
    return { kind: 'reject', reason: 'no-service-port', destination: { service } };
  }
  if (service.waypoint) return viaWaypoint(state, service.waypoint, joinHostPort(vip, port), { service });
  if (service.serviceEntry?.resolution === 'NONE')
    return { kind: 'passthrough', ip: vip, port, destination: { service } };
  const picked = state.pickEndpoint(service, port);
  if (!picked) return { kind: 'reject', reason: 'no-ready-endpoint', destination: { service } };
  return toWorkload(picked.workload, picked.ip, picked.port, { workload: picked.workload, service });
}

function toWorkload(
  workload: Workload | undefined,
  ip: string,
  port: number,
  destination: ChosenDestination,
): OutboundChoice {
  if (!workload?.enrolled) return { kind: 'passthrough', ip, port, destination };
  return {
    kind: 'hbone',
    peerIp: ip,
    peerPort: ZTUNNEL_PORTS.hbone,
    peerIdentity: workload.identity,
    authority: joinHostPort(ip, port),
    viaWaypoint: false,
    destination,
  };
}

function viaWaypoint(
  state: StateStore,
  ref: NonNullable<Workload['waypoint']>,
  authority: string,
  destination: ChosenDestination,
): OutboundChoice {
  const instance = state.pickWaypoint(ref);
  if (!instance?.workload) return { kind: 'reject', reason: 'no-ready-waypoint', destination };
  return {
    kind: 'hbone',
    peerIp: instance.ip,
    peerPort: ZTUNNEL_PORTS.hbone,
    peerIdentity: instance.workload.identity,
    authority,
    viaWaypoint: true,
    destination: { ...destination, workload: instance.workload },
  };
}
