/**
 * What the admin API shows of the route table, in the spirit of `istioctl proxy-config routes|clusters`:
 * one row per served port's route, one per cluster with its policy and each endpoint's health and requests
 * in flight.
 */

import { servedEntries } from '../core/l7/match.ts';
import type { WaypointSnapshot } from '../core/model/index.ts';
import { type EndpointLoad, endpointKey } from './balance/balancer.ts';
import type { OutlierTracker } from './resilience/outlier.ts';

export interface RouteRow {
  service: string;
  port: number;
  protocol: string;
  route: string;
  matches: number;
  action: string;
}

export function routesView(snapshot: WaypointSnapshot): RouteRow[] {
  const rows: RouteRow[] = [];
  for (const service of servedEntries(snapshot)) {
    for (const port of service.ports) {
      for (const route of port.routes) {
        const origin = route.origin;
        const action = route.action;
        rows.push({
          service: service.hostname,
          port: port.port,
          protocol: port.protocol,
          route: `${origin.kind} ${origin.namespace}/${origin.name}[${origin.rule}]${origin.ruleName ? ` ${origin.ruleName}` : ''}`,
          matches: route.matches.length,
          action:
            action.kind === 'forward'
              ? action.backends
                  .map(
                    (b) => `${b.kind === 'cluster' ? b.cluster : `invalid (${b.reason})`} weight ${b.weight}`,
                  )
                  .join(', ')
              : action.kind === 'redirect'
                ? `redirect ${action.status}`
                : `direct response ${action.status}`,
        });
      }
    }
  }
  return rows;
}

export interface ClusterRow {
  name: string;
  protocol: string;
  loadBalancer: string;
  destinationRule: string | undefined;
  problem: string | undefined;
  endpoints: {
    address: string;
    workload: string;
    /** `EJECTED`: taken out by outlier detection until `ejectedUntil` (Envoy's `failed_outlier_check`). */
    health: 'HEALTHY' | 'UNHEALTHY' | 'EJECTED';
    ejectedUntil?: string | undefined;
    activeRequests: number;
  }[];
}

export function clustersView(
  snapshot: WaypointSnapshot,
  load: EndpointLoad,
  outliers?: OutlierTracker,
): ClusterRow[] {
  return snapshot.clusters.map((cluster) => {
    const lb = cluster.policy.loadBalancer;
    return {
      name: cluster.name,
      protocol: cluster.protocol,
      loadBalancer:
        lb.kind === 'consistentHash' ? `consistentHash(${lb.hashOn.kind}, ${lb.table.kind})` : lb.kind,
      destinationRule: cluster.destinationRule,
      problem: cluster.problem,
      endpoints: cluster.endpoints.map((endpoint) => {
        const ejectedUntil = outliers?.ejectedUntil(cluster.name, endpointKey(endpoint));
        return {
          address: endpointKey(endpoint),
          workload: endpoint.workloadUid,
          health: !endpoint.ready ? 'UNHEALTHY' : ejectedUntil === undefined ? 'HEALTHY' : 'EJECTED',
          ...(ejectedUntil === undefined ? {} : { ejectedUntil: new Date(ejectedUntil).toISOString() }),
          activeRequests: load.get(endpointKey(endpoint)),
        };
      }),
    };
  });
}

/** Stands in for a private key in admin output. */
export const REDACTED_KEY = '[redacted]';

/**
 * The snapshot as `/config_dump` shows it: everything as received, except the private keys of an ingress
 * gateway's certificates (an admin endpoint is for debugging, and its output ends up in bug reports).
 */
export function redactedSnapshot(snapshot: WaypointSnapshot): WaypointSnapshot {
  if (!snapshot.listeners?.some((listener) => listener.tls.mode === 'terminate')) return snapshot;
  return {
    ...snapshot,
    listeners: snapshot.listeners.map((listener) =>
      listener.tls.mode === 'terminate'
        ? {
            ...listener,
            tls: {
              mode: 'terminate',
              certificates: listener.tls.certificates.map((certificate) => ({
                ...certificate,
                keyPem: REDACTED_KEY,
              })),
            },
          }
        : listener,
    ),
  };
}
