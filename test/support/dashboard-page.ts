/**
 * `ambit dashboard` in headless Chromium for the browser tests: the command started as a user runs it (a
 * child process, killed by `killAll()`), a page opened on the URL it prints, and what the page draws read
 * back from its Cytoscape graph.
 */
import { execFileSync } from 'node:child_process';
import type { Core } from 'cytoscape';
import type { Browser, Page } from 'playwright-core';
import type { GraphEdge, GraphNode } from '../../src/dashboard/graph.ts';
import { launchChromium } from './browser.ts';
import { ROOT, startAmbit } from './cli.ts';
import { eventually } from './eventually.ts';

export interface DashboardPage {
  browser: Browser;
  page: Page;
  /** The dashboard's URL, ending in `/`. */
  url: string;
  /** What the command printed at start (the URL and the graph's source). */
  banner: string;
}

/** Builds the UI, starts `ambit dashboard` on a free port and opens its page. */
export async function openDashboard(stateRoot: string, cluster: string): Promise<DashboardPage> {
  execFileSync(process.execPath, ['scripts/build-dashboard.mjs'], { cwd: ROOT, stdio: 'ignore' });
  const { child } = startAmbit(['dashboard', '--name', cluster, '--port', '0'], { stateRoot });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const url = await eventually(() => /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(output)?.[1], {
    what: 'the dashboard to listen',
  });
  const browser = await launchChromium();
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(url);
  return { browser, page, url, banner: output };
}

/** What the page shows of an edge: its data and its drawn colour and label. */
export interface ShownEdge extends GraphEdge {
  label: string;
  colour: string;
}

/** What the page shows of a node: its data and its drawn colour. */
export interface ShownNode extends GraphNode {
  colour: string;
}

export const shownEdges = (page: Page): Promise<ShownEdge[]> =>
  page.evaluate(() =>
    (globalThis as unknown as { ambitGraph: Core }).ambitGraph.edges().map((edge) => ({
      ...(edge.data() as ShownEdge),
      label: String(edge.data('label')),
      colour: edge.style('line-color').replaceAll(' ', ''),
    })),
  );

export const shownNodes = (page: Page): Promise<ShownNode[]> =>
  page.evaluate(() =>
    (globalThis as unknown as { ambitGraph: Core }).ambitGraph.nodes().map((node) => ({
      ...(node.data() as ShownNode),
      colour: node.style('border-color').replaceAll(' ', ''),
    })),
  );

export const edgeById = (edges: readonly ShownEdge[], id: string) => edges.find((e) => e.id === id);

/** Kiali's colours as the browser reports them. */
export const GREEN = 'rgb(63,156,53)';
export const RED = 'rgb(204,0,0)';

/** A pod command that fetches each URL over and over, for traffic that keeps flowing. */
export const curlLoop = (...urls: string[]) => [
  'sh',
  '-c',
  `while true; do ${urls.map((url) => `curl -s -o /dev/null ${url};`).join(' ')} sleep 0.2; done`,
];

/** The edges of the showcase mesh's traffic (test/support/showcase-cluster.ts), by graph id. */
export const SHOWCASE_EDGES = {
  httpPath: [
    'http:workload:apps/client->waypoint:web/waypoint',
    'http:waypoint:web/waypoint->service:web/echo',
    'http:service:web/echo->workload:web/echo',
  ],
  mtlsTcp: 'tcp:workload:apps/client->workload:apps/echo',
  plaintextTcp: 'tcp:workload:outside/stranger->workload:apps/echo',
} as const;
