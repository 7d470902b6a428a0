/**
 * `ambit dashboard` in headless Chromium for the browser tests: the command started as a user runs it (a
 * child process, killed by `killAll()`), a page opened on the URL it prints, and what the page draws read
 * back from its Cytoscape graph.
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import type { Core } from 'cytoscape';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect } from 'vitest';
import type { GraphEdge, GraphNode } from '../../src/dashboard/graph.ts';
import { launchChromium } from './browser.ts';
import { ambit, killAll, ROOT, startAmbit } from './cli.ts';
import { eventually } from './eventually.ts';
import { leftovers, makeStateRoot, NOTHING_LEFT, uniqueName, writeClusterFile } from './local-cluster.ts';

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

/** A test file's own cluster with the dashboard open on it: its state root and unique name, and the page. */
export interface DashboardCluster extends DashboardPage {
  root: string;
  name: string;
}

/**
 * Registers, in the calling `describe`, a cluster brought up from `clusterYaml` (named uniquely from
 * `prefix`) with `ambit dashboard` open in Chromium before the tests, and everything removed after them,
 * checked to leave nothing behind. The fields of the result are set once `beforeAll` has run.
 */
export function dashboardCluster(prefix: string, clusterYaml: (name: string) => string): DashboardCluster {
  const cluster = { root: makeStateRoot(), name: uniqueName(prefix) } as DashboardCluster;
  beforeAll(async () => {
    const file = writeClusterFile(cluster.root, cluster.name, clusterYaml(cluster.name));
    const result = await ambit(['local', 'up', '-f', file], { stateRoot: cluster.root });
    expect(result.code, result.stderr).toBe(0);
    Object.assign(cluster, await openDashboard(cluster.root, cluster.name));
  });
  afterAll(async () => {
    await cluster.browser?.close();
    killAll();
    const result = await ambit(['local', 'down', '--name', cluster.name], { stateRoot: cluster.root });
    expect(result.code, result.stderr).toBe(0);
    expect(leftovers(cluster.name, cluster.root)).toEqual(NOTHING_LEFT);
    rmSync(cluster.root, { recursive: true, force: true });
  });
  return cluster;
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
