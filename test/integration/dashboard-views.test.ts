import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { MTLS_MARK } from '../../src/dashboard/labels.ts';
import { artifactPath, canRunBrowserTests } from '../support/browser.ts';
import { startAmbit } from '../support/cli.ts';
import {
  curlLoop,
  dashboardCluster,
  edgeById,
  GREEN,
  SHOWCASE_EDGES,
  shownEdges,
  shownNodes,
} from '../support/dashboard-page.ts';
import { eventually } from '../support/eventually.ts';
import { authorizationPolicyDoc, peerAuthenticationDoc } from '../support/manifests.ts';
import { canRunNetnsTests } from '../support/privileges.ts';
import { showcaseCluster } from '../support/showcase-cluster.ts';

const WEB_ECHO = 'echo.web.svc.cluster.local';
const clusterYaml = (name: string) =>
  showcaseCluster(name, {
    clientCommand: curlLoop('http://echo.web/', 'http://echo.apps/'),
    strangerCommand: curlLoop('http://echo.apps/'),
    extra: [
      peerAuthenticationDoc('strict-web', { namespace: 'web', mode: 'STRICT' }),
      authorizationPolicyDoc('deny-nobody', {
        namespace: 'apps',
        app: 'echo',
        action: 'DENY',
        principals: ['cluster.local/ns/nobody/sa/nobody'],
      }),
      {
        apiVersion: 'networking.istio.io/v1',
        kind: 'VirtualService',
        metadata: { name: 'echo-routes', namespace: 'web' },
        spec: { hosts: [WEB_ECHO], http: [{ route: [{ destination: { host: WEB_ECHO }, weight: 100 }] }] },
      },
      {
        apiVersion: 'networking.istio.io/v1',
        kind: 'DestinationRule',
        metadata: { name: 'echo-policy', namespace: 'web' },
        spec: { host: WEB_ECHO, trafficPolicy: { loadBalancer: { simple: 'ROUND_ROBIN' } } },
      },
    ],
  });

/** The rows a table tab shows once it has drawn them (cells as text). */
async function tableRows(
  page: Page,
  view: string,
  ready: (rows: string[][]) => boolean,
): Promise<string[][]> {
  return eventually(
    async () => {
      const table = await page.evaluate(
        () => (globalThis as unknown as { ambitTable?: { view: string; rows: string[][] } }).ambitTable,
      );
      return table?.view === view && ready(table.rows) && table.rows;
    },
    { timeout: 30_000, what: `the ${view} table` },
  );
}
const rowOf = (rows: string[][], ...cells: string[]) =>
  rows.find((row) => cells.every((cell, index) => row[index] === cell));

describe.runIf(canRunNetnsTests() && canRunBrowserTests())('ambit dashboard without Prometheus', () => {
  const dash = dashboardCluster('it-dview', clusterYaml);

  it('draws the graph from the mesh metrics endpoints, and says so', async () => {
    expect(dash.banner).toContain("the mesh's own metrics endpoints");
    const { httpPath, mtlsTcp, plaintextTcp } = SHOWCASE_EDGES;
    const wanted = [...httpPath, mtlsTcp, plaintextTcp];
    const edges = await eventually(
      async () => {
        const shown = await shownEdges(dash.page);
        return wanted.every((id) => (edgeById(shown, id)?.rate ?? 0) > 0) && shown;
      },
      { timeout: 60_000, what: 'every edge with a non-zero rate' },
    );
    expect(await dash.page.locator('#source').getAttribute('data-kind')).toBe('mesh');
    expect(await dash.page.locator('#source').textContent()).toMatch(
      /mesh's own metrics endpoints.*\((\d+) of \1 up\)/,
    );
    expect(edgeById(edges, mtlsTcp)!.bytesRate).toBeGreaterThan(0);
    expect(edgeById(edges, httpPath[0])!.p99Ms).toBeGreaterThan(0);
    for (const id of [...httpPath, mtlsTcp]) expect(edgeById(edges, id)!.label, id).toContain(MTLS_MARK);
    expect(edgeById(edges, plaintextTcp)!.label).not.toContain(MTLS_MARK);
    const nodes = await shownNodes(dash.page);
    expect(nodes.find((n) => n.id === 'workload:web/echo')).toMatchObject({
      health: 'healthy',
      colour: GREEN,
    });
    await dash.page.screenshot({ path: artifactPath('dashboard-mesh-source.png') });
  });

  it('lists the workloads that exist, with identity, node, capture and a certificate expiring later', async () => {
    await dash.page.goto(`${dash.url}#/workloads`);
    const rows = await tableRows(dash.page, 'workloads', (r) => r.length >= 5);
    expect(rows.map((r) => `${r[0]}/${r[1]}`).sort()).toEqual([
      'apps/client',
      'apps/echo',
      'outside/stranger',
      'web/echo',
      'web/waypoint-0',
    ]);
    const client = rowOf(rows, 'apps', 'client')!;
    expect(client.slice(2, 7)).toEqual([
      'n1',
      expect.stringMatching(/^10\.244\./),
      'spiffe://cluster.local/ns/apps/sa/client',
      'ambient (HBONE)',
      'yes',
    ]);
    const expiry = /^(\S+) \(in /.exec(client[8]!)?.[1];
    expect(Date.parse(expiry!)).toBeGreaterThan(Date.now());
    expect(rowOf(rows, 'outside', 'stranger')!.slice(5, 7)).toEqual(['not in the mesh', 'no']);
    await dash.page.screenshot({ path: artifactPath('dashboard-workloads.png') });
  });

  it('lists the services with endpoints, waypoint, VirtualService and DestinationRule', async () => {
    await dash.page.goto(`${dash.url}#/services`);
    const rows = await tableRows(
      dash.page,
      'services',
      (r) => rowOf(r, 'web', 'echo')?.[6]?.includes('VirtualService') ?? false,
    );
    const web = rowOf(rows, 'web', 'echo')!;
    expect(web[4]).toMatch(/^web\/echo 10\.244\./);
    expect(web[5]).toBe('web/waypoint');
    expect(web[6]).toMatch(
      /^:80 via web\/waypoint: VirtualService web\/echo-routes#0 -> \S+ \(weight 100, DestinationRule web\/echo-policy\)/,
    );
    expect(rowOf(rows, 'apps', 'echo')![6]).toBe('-');
    await dash.page.screenshot({ path: artifactPath('dashboard-services.png') });
  });

  it('lists the policies with the workloads they select', async () => {
    await dash.page.goto(`${dash.url}#/policies`);
    const rows = await tableRows(dash.page, 'policies', (r) => r.length >= 2);
    expect(rowOf(rows, 'AuthorizationPolicy', 'apps', 'deny-nobody')!.slice(3)).toEqual([
      'ztunnel',
      'DENY, 1 rule(s)',
      'apps/echo',
    ]);
    expect(rowOf(rows, 'PeerAuthentication', 'web', 'strict-web')!.slice(3)).toEqual([
      'ztunnel',
      'mode STRICT',
      'web/echo',
    ]);
    await dash.page.screenshot({ path: artifactPath('dashboard-policies.png') });
  });

  it("shows a ztunnel's live connections, among them one a client holds open", async () => {
    // A request the echo answers a minute late: its connection stays open meanwhile.
    startAmbit(['local', 'exec', 'client', '-n', 'apps', '--', 'curl', '-s', 'http://echo.apps/?delay=60s'], {
      stateRoot: dash.root,
    });
    await dash.page.goto(`${dash.url}#/connections?node=n2`);
    const held = (rows: string[][]) =>
      rows.find(
        (r) =>
          r[0] === 'inbound' &&
          r[2]!.startsWith('apps/client ') &&
          r[3]!.startsWith('apps/echo ') &&
          Number.parseFloat(r[6]!) >= 3,
      );
    const rows = await tableRows(dash.page, 'connections', (r) => held(r) !== undefined);
    expect(held(rows)![4]).toBe('spiffe://cluster.local/ns/apps/sa/default');
    expect(await dash.page.locator('#node').inputValue()).toBe('n2');
    await dash.page.screenshot({ path: artifactPath('dashboard-connections.png') });
  });
});
