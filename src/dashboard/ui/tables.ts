/**
 * The table tabs: workloads, services, policies and a ztunnel's live connections, each read from its
 * `/api/<view>` and drawn as one table (a column list per view), refreshed every few seconds while it
 * shows. The rows shown are exposed as `window.ambitTable` for the browser tests.
 */
import type { ConnectionListing } from '../../core/observe/connection-listing.ts';
import type { ConnectionsOfNode, PolicyView, ServiceView, WorkloadView } from '../view-types.ts';

const REFRESH_MS = 2000;

interface Column<Row> {
  title: string;
  cell: (row: Row) => string;
}

interface TableSpec<Body, Row> {
  rows: (body: Body) => Row[];
  columns: Column<Row>[];
  /** Above the table (the connections' node chooser). */
  tools?: (body: Body) => HTMLElement | undefined;
}

declare global {
  interface Window {
    /** The tab shown and its rows as drawn (cells as text), for the browser tests. */
    ambitTable: { view: string; refreshes: number; rows: string[][] } | undefined;
  }
}

function expiry(row: WorkloadView): string {
  const certificate = row.certificate;
  if (!certificate) return row.enrolled ? 'none' : '-';
  const hours = certificate.expiresInSeconds / 3600;
  return `${certificate.notAfter} (in ${hours.toFixed(1)} h)`;
}

const WORKLOADS: TableSpec<WorkloadView[], WorkloadView> = {
  rows: (body) => body,
  columns: [
    { title: 'Namespace', cell: (w) => w.namespace },
    { title: 'Name', cell: (w) => w.name },
    { title: 'Node', cell: (w) => w.node },
    { title: 'IPs', cell: (w) => w.ips.join(', ') },
    { title: 'Identity', cell: (w) => (w.enrolled ? w.identity : '-') },
    { title: 'Enrolled', cell: (w) => (w.enrolled ? 'ambient (HBONE)' : 'not in the mesh') },
    { title: 'Captured', cell: (w) => (w.captured ? 'yes' : 'no') },
    { title: 'Waypoint', cell: (w) => w.waypoint ?? '-' },
    { title: 'Certificate expires', cell: expiry },
  ],
};

function routesText(service: ServiceView): string {
  return service.routes
    .map(({ port, waypoint, routes }) => {
      const listed = routes.map((route) => {
        const backends = route.backends
          .map(
            (b) =>
              `${b.cluster} (weight ${b.weight}${b.subset ? `, subset ${b.subset}` : ''}${b.destinationRule ? `, DestinationRule ${b.destinationRule}` : ''})`,
          )
          .join(' + ');
        return `${route.kind} ${route.namespace}/${route.name}#${route.rule} -> ${backends || route.action}`;
      });
      return `:${port} via ${waypoint}: ${listed.join('; ')}`;
    })
    .join('\n');
}

const SERVICES: TableSpec<ServiceView[], ServiceView> = {
  rows: (body) => body,
  columns: [
    { title: 'Namespace', cell: (s) => s.namespace },
    { title: 'Name', cell: (s) => s.name },
    { title: 'VIPs', cell: (s) => s.vips.join(', ') },
    { title: 'Ports', cell: (s) => s.ports.join(', ') },
    {
      title: 'Endpoints',
      cell: (s) => s.endpoints.map((e) => `${e.workload} ${e.ip}${e.ready ? '' : ' (not ready)'}`).join('\n'),
    },
    { title: 'Waypoint', cell: (s) => s.waypoint ?? '-' },
    {
      title: 'Routes (VirtualService/HTTPRoute, DestinationRule, weights)',
      cell: (s) => routesText(s) || '-',
    },
  ],
};

const POLICIES: TableSpec<PolicyView[], PolicyView> = {
  rows: (body) => body,
  columns: [
    { title: 'Kind', cell: (p) => p.kind },
    { title: 'Namespace', cell: (p) => p.namespace },
    { title: 'Name', cell: (p) => p.name },
    { title: 'Enforced by', cell: (p) => p.enforcedBy },
    { title: 'Detail', cell: (p) => p.detail },
    { title: 'Selects', cell: (p) => (p.selects.length ? p.selects.join('\n') : 'nothing') },
  ],
};

function nodeChooser(body: ConnectionsOfNode): HTMLElement {
  const label = document.createElement('label');
  label.textContent = 'ztunnel of node ';
  const select = document.createElement('select');
  select.id = 'node';
  for (const node of body.nodes) {
    const option = document.createElement('option');
    option.value = node;
    option.textContent = node;
    option.selected = node === body.node;
    select.append(option);
  }
  select.addEventListener('change', () => {
    location.hash = `#/connections?node=${encodeURIComponent(select.value)}`;
  });
  label.append(select);
  return label;
}

const CONNECTIONS: TableSpec<ConnectionsOfNode, ConnectionListing> = {
  rows: (body) => body.connections,
  tools: nodeChooser,
  columns: [
    { title: 'Direction', cell: (c) => c.direction },
    { title: 'Mode', cell: (c) => c.mode },
    { title: 'Source', cell: (c) => `${c.sourceWorkload ?? '-'} ${c.source}` },
    {
      title: 'Destination',
      cell: (c) => `${c.destinationWorkload ?? c.destinationService ?? '-'} ${c.destination}`,
    },
    { title: 'Peer identity', cell: (c) => c.destinationIdentity ?? c.sourceIdentity ?? '-' },
    { title: 'Bytes sent / received', cell: (c) => `${c.bytesSent} / ${c.bytesReceived}` },
    { title: 'Open for', cell: (c) => `${(c.durationMs / 1000).toFixed(1)} s` },
  ],
};

// Each spec reads its own body type; the table code only passes the JSON through.
// biome-ignore lint/suspicious/noExplicitAny: the API's JSON is typed per view by the spec that reads it.
export const TABLES: Record<string, TableSpec<any, any>> = {
  workloads: WORKLOADS,
  services: SERVICES,
  policies: POLICIES,
  connections: CONNECTIONS,
};

let current: { view: string; query: string; timer?: ReturnType<typeof setTimeout> } | undefined;

function draw<Body, Row>(view: string, spec: TableSpec<Body, Row>, body: Body): void {
  const table = document.getElementById('table')!;
  const head = document.createElement('thead');
  const headRow = document.createElement('tr');
  for (const column of spec.columns) {
    const th = document.createElement('th');
    th.textContent = column.title;
    headRow.append(th);
  }
  head.append(headRow);
  const rows = spec.rows(body).map((row) => spec.columns.map((column) => column.cell(row)));
  const tbody = document.createElement('tbody');
  for (const cells of rows) {
    const tr = document.createElement('tr');
    for (const text of cells) {
      const td = document.createElement('td');
      td.textContent = text;
      tr.append(td);
    }
    tbody.append(tr);
  }
  table.replaceChildren(head, tbody);
  const tools = document.getElementById('table-tools')!;
  const extra = spec.tools?.(body);
  tools.replaceChildren(...(extra ? [extra] : []));
  window.ambitTable = { view, refreshes: (window.ambitTable?.refreshes ?? 0) + 1, rows };
}

async function refresh(view: string, query: string): Promise<void> {
  const status = document.getElementById('table-status')!;
  const spec = TABLES[view]!;
  try {
    const response = await fetch(`/api/${view}${query}`, { cache: 'no-store' });
    const body = (await response.json()) as { view?: unknown; error?: string };
    if (!response.ok) throw new Error(body.error ?? `HTTP ${response.status}`);
    if (current?.view !== view || current.query !== query) return;
    draw(view, spec, body.view);
    status.textContent = `${window.ambitTable?.rows.length ?? 0} rows, updated ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    status.textContent = `cannot read ${view}: ${(error as Error).message}`;
  } finally {
    if (current?.view === view && current.query === query)
      current.timer = setTimeout(() => void refresh(view, query), REFRESH_MS);
  }
}

/** Shows a table tab (`query`: `?node=n1` or empty), replacing the one that showed. */
export function showTable(view: string, query: string): void {
  stopTable();
  window.ambitTable = undefined;
  document.getElementById('table')!.replaceChildren();
  current = { view, query };
  void refresh(view, query);
}

export function stopTable(): void {
  clearTimeout(current?.timer);
  current = undefined;
}
