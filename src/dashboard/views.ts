/**
 * The dashboard's tables besides the graph, as pure functions of what the mesh holds: the ztunnels' admin
 * rows (workloads, certificates) and the snapshots `ambit explain` reads. Which policy applies to which
 * workload, and which route and DestinationRule a service's requests take, are asked of the data plane's
 * own functions (the ztunnel's StateStore, core/l7's served-target lookup, explain's route description), so
 * a table never disagrees with what the mesh does.
 */

import type { MeshSnapshots } from '../core/explain/mesh-snapshots.ts';
import { routeInfo } from '../core/explain/route-view.ts';
import { findServedTarget } from '../core/l7/match.ts';
import type { NodeSnapshot, Workload } from '../core/model/index.ts';
import { type CertificateRow, StateStore, type WorkloadRow } from '../ztunnel/index.ts';
import type { PolicyView, ServiceView, WorkloadView } from './view-types.ts';

/** What one node's ztunnel answered on its admin API. */
export interface NodeAdmin {
  node: string;
  workloads: readonly WorkloadRow[];
  certificates: readonly CertificateRow[];
}

const byName = (a: { namespace: string; name: string }, b: { namespace: string; name: string }) =>
  `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`);

export function workloadsView(nodes: readonly NodeAdmin[]): WorkloadView[] {
  const rows = new Map<string, WorkloadView>();
  for (const admin of nodes) {
    for (const row of admin.workloads) {
      const own = row.node === admin.node;
      // Every ztunnel knows every workload; only the pod's own node says whether it is captured.
      if (rows.has(row.uid) && !own) continue;
      const leaf = own
        ? admin.certificates
            .filter((c) => c.kind === 'leaf' && c.identity === row.identity)
            .sort((a, b) => b.notAfter.localeCompare(a.notAfter))[0]
        : undefined;
      rows.set(row.uid, {
        namespace: row.namespace,
        name: row.name,
        node: row.node,
        ips: row.ips,
        identity: row.identity,
        enrolled: row.protocol === 'HBONE',
        captured: own && row.captured,
        waypoint: row.waypoint,
        certificate:
          leaf && row.protocol === 'HBONE'
            ? { serial: leaf.serial, notAfter: leaf.notAfter, expiresInSeconds: leaf.expiresInSeconds }
            : undefined,
      });
    }
  }
  return [...rows.values()].sort(byName);
}

/** Any node's snapshot: workloads and services are the same on every node (policies are not). */
function firstSnapshot(mesh: MeshSnapshots): NodeSnapshot | undefined {
  return [...mesh.nodes.values()][0];
}

const workloadName = (snapshot: NodeSnapshot, uid: string) => {
  const workload = snapshot.workloads.find((w) => w.uid === uid);
  return workload ? `${workload.namespace}/${workload.name}` : uid;
};

export function servicesView(mesh: MeshSnapshots): ServiceView[] {
  const snapshot = firstSnapshot(mesh);
  if (!snapshot) return [];
  return snapshot.services
    .map((service) => ({
      namespace: service.namespace,
      name: service.name,
      hostname: service.hostname,
      vips: service.vips,
      ports: service.ports.map((p) => p.port),
      endpoints: service.endpoints.map((e) => ({
        workload: workloadName(snapshot, e.workloadUid),
        ip: e.ip,
        ready: e.ready,
      })),
      waypoint: service.waypoint ? `${service.waypoint.namespace}/${service.waypoint.name}` : undefined,
      routes: [...mesh.waypoints].flatMap(([waypoint, table]) =>
        service.ports.flatMap((port) => {
          const served = service.vips
            .map((vip) => findServedTarget(table, vip, port.port))
            .find((target) => target !== undefined);
          return served
            ? [
                {
                  port: port.port,
                  protocol: served.port.protocol,
                  waypoint,
                  routes: served.port.routes.map((route) => routeInfo(table, route)),
                },
              ]
            : [];
        }),
      ),
    }))
    .sort(byName);
}

const workloadKey = (w: Workload) => `${w.namespace}/${w.name}`;

export function policiesView(mesh: MeshSnapshots): PolicyView[] {
  const same = (a: { namespace: string; name: string }) => (b: { namespace: string; name: string }) =>
    a.namespace === b.namespace && a.name === b.name;
  // Each ztunnel holds the L4 policies of its own node's workloads only: every node is asked about its own.
  const l4 = new Map<string, PolicyView>();
  const row = (key: string, fresh: () => PolicyView) => {
    let found = l4.get(key);
    if (!found) {
      found = fresh();
      l4.set(key, found);
    }
    return found;
  };
  for (const [node, snapshot] of mesh.nodes) {
    const store = new StateStore();
    store.apply(snapshot);
    const own = snapshot.workloads.filter((w) => w.node === node);
    for (const policy of snapshot.policies) {
      row(`ap/${policy.namespace}/${policy.name}`, () => ({
        kind: 'AuthorizationPolicy',
        namespace: policy.namespace,
        name: policy.name,
        enforcedBy: 'ztunnel',
        detail: `${policy.action}, ${policy.rules.length} rule(s)`,
        selects: [],
      })).selects.push(...own.filter((w) => store.policiesFor(w).some(same(policy))).map(workloadKey));
    }
    for (const policy of snapshot.peerAuthentications) {
      const ports = Object.entries(policy.portLevelMtls).map(([port, mode]) => `${port}: ${mode}`);
      row(`pa/${policy.namespace}/${policy.name}`, () => ({
        kind: 'PeerAuthentication',
        namespace: policy.namespace,
        name: policy.name,
        enforcedBy: 'ztunnel',
        detail: `mode ${policy.mode}${ports.length ? ` (ports ${ports.join(', ')})` : ''}`,
        selects: [],
      })).selects.push(
        // Port 0: the workload-wide levels (port-level modes refine the policies that apply, not which).
        ...own
          .filter((w) => w.enrolled && store.mtlsResolution(w, 0).applying.some(same(policy)))
          .map(workloadKey),
      );
    }
  }
  const rows = [...l4.values()];
  for (const found of rows) found.selects.sort();
  const seen = new Set<string>();
  for (const [waypoint, table] of mesh.waypoints) {
    for (const policy of table.authorization) {
      const key = `${policy.namespace}/${policy.name}@${waypoint}`;
      if (seen.has(key)) continue;
      seen.add(key);
      rows.push({
        kind: 'AuthorizationPolicy',
        namespace: policy.namespace,
        name: policy.name,
        enforcedBy: `waypoint ${waypoint}`,
        detail: `${policy.action}, ${policy.rules.length} rule(s)`,
        selects:
          policy.appliesTo.kind === 'waypoint'
            ? [`all traffic through waypoint ${waypoint}`]
            : policy.appliesTo.hostnames,
      });
    }
    for (const served of table.servedServices) {
      if (!served.requestAuthentication?.length) continue;
      // The snapshot carries the JWT rules, not the names of the RequestAuthentications they came from.
      rows.push({
        kind: 'RequestAuthentication',
        namespace: served.namespace,
        name: `(for ${served.name})`,
        enforcedBy: `waypoint ${waypoint}`,
        detail: `issuers ${served.requestAuthentication.map((rule) => rule.issuer).join(', ')}`,
        selects: [served.hostname],
      });
    }
  }
  return rows.sort((a, b) => a.kind.localeCompare(b.kind) || byName(a, b));
}
