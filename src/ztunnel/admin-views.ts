/**
 * What the admin API shows (`/workloads`, `/services`, `/policies`, `/certs`, `/connections`), as plain rows
 * computed from the state. The same types are what `ambit ztunnel-config` reads back and prints as tables.
 */

import type { PooledConnectionInfo } from '../core/hbone/pool.ts';
import type { NodeSnapshot, Workload } from '../core/model/index.ts';
import type { ConnectionListing } from '../core/observe/connection-listing.ts';
import type { CertificateInfo } from '../core/tls/certificates.ts';

export interface WorkloadRow {
  namespace: string;
  name: string;
  uid: string;
  node: string;
  ips: string[];
  identity: string;
  /** HBONE when enrolled (traffic to it is tunnelled), TCP otherwise. */
  protocol: 'HBONE' | 'TCP';
  waypoint: string | undefined;
  /** Whether this ztunnel serves the pod (it runs on this node and was handed over by the capture layer). */
  captured: boolean;
}

export interface ServiceRow {
  namespace: string;
  name: string;
  hostname: string;
  vips: string[];
  ports: string[];
  waypoint: string | undefined;
  endpointsReady: number;
  endpointsTotal: number;
}

export interface PolicyRow {
  namespace: string;
  name: string;
  scope: string;
  action: string;
  selector: Record<string, string> | undefined;
  rules: number;
}

export interface CertificateRow extends CertificateInfo {
  kind: 'leaf' | 'root';
}

export interface ConnectionsView {
  connections: ConnectionListing[];
  pool: PooledConnectionInfo[];
}

export function workloadRows(snapshot: NodeSnapshot, captured: ReadonlySet<string>): WorkloadRow[] {
  return snapshot.workloads.map((w: Workload) => ({
    namespace: w.namespace,
    name: w.name,
    uid: w.uid,
    node: w.node,
    ips: w.ips,
    identity: w.identity,
    protocol: w.enrolled ? 'HBONE' : 'TCP',
    waypoint: w.waypoint ? `${w.waypoint.namespace}/${w.waypoint.name}` : undefined,
    captured: captured.has(w.uid),
  }));
}

export function serviceRows(snapshot: NodeSnapshot): ServiceRow[] {
  return snapshot.services.map((s) => ({
    namespace: s.namespace,
    name: s.name,
    hostname: s.hostname,
    vips: s.vips,
    ports: s.ports.map((p) =>
      p.targetPort && p.targetPort !== p.port ? `${p.port}->${p.targetPort}` : `${p.port}`,
    ),
    waypoint: s.waypoint ? `${s.waypoint.namespace}/${s.waypoint.name}` : undefined,
    endpointsReady: s.endpoints.filter((e) => e.ready).length,
    endpointsTotal: s.endpoints.length,
  }));
}

export function policyRows(snapshot: NodeSnapshot): PolicyRow[] {
  return snapshot.policies.map((p) => ({
    namespace: p.namespace,
    name: p.name,
    scope: p.scope,
    action: p.action,
    selector: p.selector,
    rules: p.rules.length,
  }));
}
