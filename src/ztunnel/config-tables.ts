/**
 * `ambit ztunnel-config` output: the admin API's rows as aligned tables, with the columns
 * `istioctl ztunnel-config` uses, so that operators read them the same way. Pure functions.
 */
import type { CertificateRow, ConnectionsView, PolicyRow, ServiceRow, WorkloadRow } from './admin-views.ts';

export const CONFIG_KINDS = ['workloads', 'services', 'policies', 'certificates', 'connections'] as const;
export type ConfigKind = (typeof CONFIG_KINDS)[number];

/** What one ztunnel answered for a kind (the admin endpoint's JSON). */
export type ConfigView = WorkloadRow[] | ServiceRow[] | PolicyRow[] | CertificateRow[] | ConnectionsView;

export interface NodeView {
  node: string;
  view: ConfigView;
}

/** Left-aligned columns separated by three spaces, like kubectl. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((header, i) =>
    Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('   ')
      .trimEnd();
  return `${[line(headers), ...rows.map(line)].join('\n')}\n`;
}

/** The table for a kind over the answers of one or more ztunnels (a NODE column when there are several). */
export function renderConfigTable(kind: ConfigKind, views: readonly NodeView[]): string {
  const { headers, rows } = tableOf(kind, views);
  if (views.length <= 1)
    return formatTable(
      headers,
      rows.map((r) => r.cells),
    );
  return formatTable(
    ['NODE', ...headers],
    rows.map((r) => [r.node, ...r.cells]),
  );
}

function tableOf(kind: ConfigKind, views: readonly NodeView[]) {
  const rows: { node: string; cells: string[] }[] = [];
  const each = <T>(fn: (item: T) => string[], pick: (view: ConfigView) => readonly T[]) => {
    for (const { node, view } of views) for (const item of pick(view)) rows.push({ node, cells: fn(item) });
  };
  switch (kind) {
    case 'workloads':
      each<WorkloadRow>(
        (w) => [w.namespace, w.name, w.ips.join(','), w.node, w.waypoint ?? 'None', w.protocol],
        (v) => v as WorkloadRow[],
      );
      return { headers: ['NAMESPACE', 'POD NAME', 'ADDRESS', 'NODE', 'WAYPOINT', 'PROTOCOL'], rows };
    case 'services':
      each<ServiceRow>(
        (s) => [
          s.namespace,
          s.name,
          s.vips.join(','),
          s.ports.join(','),
          s.waypoint ?? 'None',
          `${s.endpointsReady}/${s.endpointsTotal}`,
        ],
        (v) => v as ServiceRow[],
      );
      return {
        headers: ['NAMESPACE', 'SERVICE NAME', 'SERVICE VIP', 'PORTS', 'WAYPOINT', 'ENDPOINTS'],
        rows,
      };
    case 'policies':
      each<PolicyRow>(
        (p) => [
          p.namespace,
          p.name,
          p.action,
          p.scope,
          p.selector ? selectorText(p.selector) : '-',
          String(p.rules),
        ],
        (v) => v as PolicyRow[],
      );
      return { headers: ['NAMESPACE', 'POLICY NAME', 'ACTION', 'SCOPE', 'SELECTOR', 'RULES'], rows };
    case 'certificates':
      each<CertificateRow>(
        (c) => [
          c.kind === 'root' ? 'ROOTCA' : c.identity,
          c.kind === 'root' ? 'CA' : 'Leaf',
          c.expiresInSeconds > 0 ? 'Available' : 'Expired',
          c.expiresInSeconds > 0 ? 'true' : 'false',
          c.serial,
          c.notAfter,
          c.notBefore,
        ],
        (v) => v as CertificateRow[],
      );
      return {
        headers: [
          'CERTIFICATE NAME',
          'TYPE',
          'STATUS',
          'VALID CERT',
          'SERIAL NUMBER',
          'NOT AFTER',
          'NOT BEFORE',
        ],
        rows,
      };
    case 'connections':
      each<ConnectionsView['connections'][number]>(
        (c) => [
          c.direction,
          c.direction === 'outbound' ? (c.sourceWorkload ?? '-') : (c.destinationWorkload ?? '-'),
          c.source,
          c.destination,
          c.hboneTarget ?? '-',
          c.direction === 'outbound' ? (c.destinationIdentity ?? '-') : (c.sourceIdentity ?? '-'),
          c.mode.toUpperCase(),
          String(c.bytesSent),
          String(c.bytesReceived),
          duration(c.durationMs),
        ],
        (v) => (v as ConnectionsView).connections,
      );
      return {
        headers: [
          'DIRECTION',
          'WORKLOAD',
          'SOURCE',
          'DESTINATION',
          'HBONE TARGET',
          'PEER IDENTITY',
          'MODE',
          'SENT',
          'RECEIVED',
          'AGE',
        ],
        rows,
      };
  }
}

function selectorText(selector: Record<string, string>): string {
  const pairs = Object.entries(selector).map(([k, v]) => `${k}=${v}`);
  return pairs.length > 0 ? pairs.join(',') : '{}';
}

/** `850ms`, `12s`, `3m4s`, `2h5m`. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${seconds % 60}s`;
  return `${Math.floor(minutes / 60)}h${minutes % 60}m`;
}
