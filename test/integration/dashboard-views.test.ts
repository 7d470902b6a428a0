/**
 * `ambit dashboard` in a real browser (headless Chromium) on a local cluster started without Prometheus:
 * the graph is read from the mesh's own metrics endpoints (the page says so), with the same nodes, edges,
 * rates and locks as from Prometheus. Screenshots are kept in test/artifacts/.
 */
import { rmSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MTLS_MARK } from '../../src/dashboard/labels.ts';
import { artifactPath, canRunBrowserTests } from '../support/browser.ts';
import { ambit, killAll } from '../support/cli.ts';
import { curlLoop, edgeById, openDashboard, SHOWCASE_EDGES, shownEdges } from '../support/dashboard-page.ts';
import { eventually } from '../support/eventually.ts';
import {
  leftovers,
  makeStateRoot,
  NOTHING_LEFT,
  uniqueName,
  writeClusterFile,
} from '../support/local-cluster.ts';
import { canRunNetnsTests } from '../support/privileges.ts';
import { showcaseCluster } from '../support/showcase-cluster.ts';

const clusterYaml = (name: string) =>
  showcaseCluster(name, {
    clientCommand: curlLoop('http://echo.web/', 'http://echo.apps/'),
    strangerCommand: curlLoop('http://echo.apps/'),
  });

describe.runIf(canRunNetnsTests() && canRunBrowserTests())('ambit dashboard without Prometheus', () => {
  const root = makeStateRoot();
  const name = uniqueName('it-dview');
  let browser: Browser;
  let page: Page;
  let banner: string;

  beforeAll(async () => {
    const result = await ambit(['local', 'up', '-f', writeClusterFile(root, name, clusterYaml(name))], {
      stateRoot: root,
    });
    expect(result.code, result.stderr).toBe(0);
    ({ browser, page, banner } = await openDashboard(root, name));
  });

  afterAll(async () => {
    await browser?.close();
    killAll();
    const result = await ambit(['local', 'down', '--name', name], { stateRoot: root });
    expect(result.code, result.stderr).toBe(0);
    expect(leftovers(name, root)).toEqual(NOTHING_LEFT);
    rmSync(root, { recursive: true, force: true });
  });

  it('draws the graph from the mesh metrics endpoints, and says so', async () => {
    expect(banner).toContain("the mesh's own metrics endpoints");
    const { httpPath, mtlsTcp, plaintextTcp } = SHOWCASE_EDGES;
    const wanted = [...httpPath, mtlsTcp, plaintextTcp];
    const edges = await eventually(
      async () => {
        const shown = await shownEdges(page);
        return wanted.every((id) => (edgeById(shown, id)?.rate ?? 0) > 0) && shown;
      },
      { timeout: 60_000, what: 'every edge with a non-zero rate' },
    );
    expect(await page.locator('#source').getAttribute('data-kind')).toBe('mesh');
    expect(await page.locator('#source').textContent()).toMatch(
      /mesh's own metrics endpoints.*\((\d+) of \1 up\)/,
    );
    expect(edgeById(edges, mtlsTcp)!.bytesRate).toBeGreaterThan(0);
    expect(edgeById(edges, httpPath[0])!.p99Ms).toBeGreaterThan(0);
    for (const id of [...httpPath, mtlsTcp]) expect(edgeById(edges, id)!.label, id).toContain(MTLS_MARK);
    expect(edgeById(edges, plaintextTcp)!.label).not.toContain(MTLS_MARK);
    await page.screenshot({ path: artifactPath('dashboard-mesh-source.png') });
  });
});
