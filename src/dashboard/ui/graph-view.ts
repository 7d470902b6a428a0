/**
 * The graph tab: the service graph from `/api/graph`, drawn with Cytoscape.js and refreshed every few
 * seconds. Nodes: workloads (circles), services (triangles), waypoints (diamonds), their border in their
 * health's colour. Edges: colour from the health the server computed (Kiali's colours), label with rates,
 * error share, p99, and a lock when all traffic is mutual TLS (MTLS_MARK). The graph is exposed as
 * `window.ambitGraph` for the browser tests.
 */
import cytoscape from 'cytoscape';
import type { GraphEdge, GraphNode, GraphView, ServiceGraph } from '../graph.ts';
import { MTLS_MARK } from '../labels.ts';

const REFRESH_MS = 2000;
const HEALTH_COLOURS = { healthy: '#3f9c35', degraded: '#ec7a08', failure: '#cc0000', idle: '#999999' };

declare global {
  interface Window {
    ambitGraph: cytoscape.Core;
    /** Times the graph was refreshed from the server: tests wait for a new one after a change. */
    ambitRefreshes: number;
  }
}

function edgeLabel(edge: GraphEdge): string {
  const parts =
    edge.protocol === 'http'
      ? [
          `${edge.rate.toFixed(2)} rps`,
          `${(100 * Math.max(edge.errorRate5xx, edge.errorRate4xx)).toFixed(0)}% err`,
          ...(edge.p99Ms !== undefined ? [`p99 ${edge.p99Ms.toFixed(0)} ms`] : []),
        ]
      : [`${((edge.bytesRate ?? 0) / 1024).toFixed(1)} KiB/s`, `${edge.rate.toFixed(2)} conn/s`];
  return `${edge.mtls ? `${MTLS_MARK} ` : ''}${parts.join(' | ')}`;
}

function nodeLabel(node: GraphNode): string {
  return `${node.name}\n(${node.namespace})`;
}

const container = document.getElementById('graph')!;
const cy = cytoscape({
  container,
  wheelSensitivity: 0.3,
  style: [
    {
      selector: 'node',
      style: {
        label: 'data(label)',
        'text-wrap': 'wrap',
        'font-size': 11,
        'text-valign': 'bottom',
        'text-margin-y': 4,
        'background-color': '#3173b8',
        'border-width': 4,
        'border-color': 'data(colour)',
        width: 28,
        height: 28,
      },
    },
    { selector: 'node[kind = "service"]', style: { shape: 'triangle', 'background-color': '#6b4fbb' } },
    { selector: 'node[kind = "waypoint"]', style: { shape: 'diamond', 'background-color': '#c9a227' } },
    {
      selector: 'edge',
      style: {
        width: 2,
        'curve-style': 'bezier',
        'target-arrow-shape': 'triangle',
        label: 'data(label)',
        'font-size': 9,
        'text-background-color': '#f5f5f5',
        'text-background-opacity': 1,
        'line-color': 'data(colour)',
        'target-arrow-color': 'data(colour)',
      },
    },
  ],
});
window.ambitGraph = cy;
window.ambitRefreshes = 0;

function render(graph: ServiceGraph): void {
  const wanted = new Set([...graph.nodes.map((n) => n.id), ...graph.edges.map((e) => e.id)]);
  cy.batch(() => {
    cy.elements().forEach((element) => {
      if (!wanted.has(element.id())) element.remove();
    });
    let added = false;
    for (const node of graph.nodes) {
      const data = { ...node, label: nodeLabel(node), colour: HEALTH_COLOURS[node.health] };
      const existing = cy.getElementById(node.id);
      if (existing.nonempty()) existing.data(data);
      else {
        cy.add({ group: 'nodes', data });
        added = true;
      }
    }
    for (const edge of graph.edges) {
      const data = { ...edge, label: edgeLabel(edge), colour: HEALTH_COLOURS[edge.health] };
      const existing = cy.getElementById(edge.id);
      if (existing.nonempty()) existing.data(data);
      else cy.add({ group: 'edges', data });
    }
    if (added) cy.layout({ name: 'breadthfirst', directed: true, spacingFactor: 1.4, padding: 30 }).run();
  });
}

async function refresh(): Promise<void> {
  const status = document.getElementById('status')!;
  try {
    const response = await fetch('/api/graph', { cache: 'no-store' });
    const body = (await response.json()) as { cluster?: string; view?: GraphView; error?: string };
    if (!response.ok || !body.view) throw new Error(body.error ?? `HTTP ${response.status}`);
    const graph = body.view;
    document.getElementById('cluster')!.textContent = body.cluster ?? '';
    document.getElementById('source')!.textContent = `from ${graph.source.description}`;
    document.getElementById('source')!.dataset.kind = graph.source.kind;
    render(graph);
    window.ambitRefreshes++;
    status.textContent = `${graph.nodes.length} nodes, ${graph.edges.length} edges, updated ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    status.textContent = `cannot read the graph: ${(error as Error).message}`;
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

/** Starts the graph's refreshes; they go on while other tabs show (the graph is cheap to keep current). */
export function startGraph(): void {
  void refresh();
}

/** Called when the graph's tab shows again: Cytoscape measures its container anew. */
export function showGraph(): void {
  cy.resize();
  cy.fit(undefined, 30);
}
