/**
 * The dashboard page: tabs, each with its own URL (`#/graph`, `#/workloads`, `#/services`, `#/policies`,
 * `#/connections?node=n1`), so a view can be bookmarked or linked. The graph keeps refreshing behind the
 * other tabs; a table refreshes while it shows.
 */
import { showGraph, startGraph } from './graph-view.ts';
import { showTable, stopTable, TABLES } from './tables.ts';

const TABS = ['graph', ...Object.keys(TABLES)];

function route(): void {
  const [path = '', query = ''] = location.hash.replace(/^#\/?/, '').split('?');
  const view = TABS.includes(path) ? path : 'graph';
  document.querySelectorAll<HTMLAnchorElement>('nav a').forEach((link) => {
    link.classList.toggle('active', link.dataset.view === view);
  });
  const graph = view === 'graph';
  document.getElementById('graph-panel')!.hidden = !graph;
  document.getElementById('table-panel')!.hidden = graph;
  document.body.dataset.view = view;
  if (graph) {
    stopTable();
    showGraph();
  } else showTable(view, query ? `?${query}` : '');
}

const nav = document.querySelector('nav')!;
for (const view of TABS) {
  const link = document.createElement('a');
  link.href = `#/${view}`;
  link.dataset.view = view;
  link.textContent = view[0]!.toUpperCase() + view.slice(1);
  nav.append(link);
}
window.addEventListener('hashchange', route);
startGraph();
route();
