/**
 * Where the service graph comes from: the cluster's Prometheus when it runs one, else the dashboard's own
 * scrapes of the mesh's metrics endpoints. Both answer the same queries (queries.ts), so the graph is
 * built the same way from either; the page says which one it reads.
 */
import { buildGraph, type GraphInputs, type GraphSourceKind, type GraphView } from './graph.ts';
import type { MeshScraper } from './mesh-scraper.ts';
import type { PrometheusApi } from './prometheus.ts';
import { GRAPH_QUERIES } from './queries.ts';

export interface GraphSource {
  kind: GraphSourceKind;
  /** A sentence for the page: what is read, and how much of it answers. */
  describe(): string;
  inputs(): Promise<GraphInputs>;
}

export function prometheusSource(api: PrometheusApi, where: string): GraphSource {
  return {
    kind: 'prometheus',
    describe: () => `Prometheus (${where})`,
    inputs: () => api.queryAll(GRAPH_QUERIES),
  };
}

export function meshSource(scraper: MeshScraper): GraphSource {
  return {
    kind: 'mesh',
    describe: () => {
      const targets = scraper.targets();
      const up = targets.filter((t) => t.up).length;
      const state = scraper.rounds === 0 ? 'first scrape under way' : `${up} of ${targets.length} up`;
      return `the mesh's own metrics endpoints, no Prometheus (${state})`;
    },
    inputs: async () => scraper.inputs(),
  };
}

export async function graphView(source: GraphSource): Promise<GraphView> {
  const graph = buildGraph(await source.inputs());
  return { source: { kind: source.kind, description: source.describe() }, ...graph };
}
