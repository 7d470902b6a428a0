import { describe, expect, it } from 'vitest';
import { MTLS_MARK } from '../../src/dashboard/labels.ts';
import { artifactPath, canRunBrowserTests } from '../support/browser.ts';
import { ambit } from '../support/cli.ts';
import {
  curlLoop,
  dashboardCluster,
  edgeById as edge,
  GREEN,
  RED,
  SHOWCASE_EDGES,
  shownEdges as shownEdgesOf,
  shownNodes,
} from '../support/dashboard-page.ts';
import { eventually } from '../support/eventually.ts';
import { writeClusterFile } from '../support/local-cluster.ts';
import { canRunNetnsTests } from '../support/privileges.ts';
import { showcaseCluster } from '../support/showcase-cluster.ts';

const clusterYaml = (name: string) =>
  showcaseCluster(name, {
    prometheus: true,
    clientCommand: curlLoop('http://echo.web/', 'http://echo.apps/'),
    strangerCommand: curlLoop('http://echo.apps/'),
  });

const DENY_ALL_AT_WAYPOINT = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-everything, namespace: web}
spec:
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: waypoint}]
  action: DENY
  rules: [{}]
`;

describe.runIf(canRunNetnsTests() && canRunBrowserTests())('ambit dashboard in a browser', () => {
  const dash = dashboardCluster('it-dash', clusterYaml);
  const shownEdges = () => shownEdgesOf(dash.page);
  const HTTP_PATH = SHOWCASE_EDGES.httpPath;
  const MTLS_TCP = SHOWCASE_EDGES.mtlsTcp;
  const PLAINTEXT_TCP = SHOWCASE_EDGES.plaintextTcp;

  it('draws the workloads, the service and the waypoint, with every edge carrying traffic', async () => {
    const edges = await eventually(
      async () => {
        const shown = await shownEdges();
        const wanted = [...HTTP_PATH, MTLS_TCP, PLAINTEXT_TCP];
        return wanted.every((id) => (edge(shown, id)?.rate ?? 0) > 0) && shown;
      },
      { timeout: 60_000, what: 'every edge with a non-zero rate' },
    );
    const nodes = (await shownNodes(dash.page)).map((node) => node.id).sort();
    expect(nodes).toEqual([
      'service:web/echo',
      'waypoint:web/waypoint',
      'workload:apps/client',
      'workload:apps/echo',
      'workload:outside/stranger',
      'workload:web/echo',
    ]);
    expect(edges.map((e) => e.id).sort()).toEqual([...HTTP_PATH, MTLS_TCP, PLAINTEXT_TCP].sort());
    expect(edge(edges, MTLS_TCP)!.bytesRate).toBeGreaterThan(0);
    expect(edge(edges, HTTP_PATH[0]!)!.p99Ms).toBeGreaterThan(0);
    await dash.page.screenshot({ path: artifactPath('dashboard-healthy.png') });
  });

  it('puts the lock on mutual-TLS edges and not on the plaintext one', async () => {
    const edges = await shownEdges();
    for (const id of [...HTTP_PATH, MTLS_TCP]) {
      expect(edge(edges, id)!.mtls, id).toBe(true);
      expect(edge(edges, id)!.label.startsWith(MTLS_MARK), id).toBe(true);
    }
    expect(edge(edges, PLAINTEXT_TCP)!.mtls).toBe(false);
    expect(edge(edges, PLAINTEXT_TCP)!.label).not.toContain(MTLS_MARK);
  });

  it('colours healthy edges green, and a DENY policy on the waypoint turns its edges red', async () => {
    const before = await shownEdges();
    for (const id of HTTP_PATH.slice(0, 2)) expect(edge(before, id)!.colour, id).toBe(GREEN);
    const applied = await ambit(
      ['apply', '-f', writeClusterFile(dash.root, 'deny', DENY_ALL_AT_WAYPOINT), '--name', dash.name],
      {
        stateRoot: dash.root,
      },
    );
    expect(applied.code, applied.stderr).toBe(0);
    const after = await eventually(
      async () => {
        const shown = await shownEdges();
        return edge(shown, HTTP_PATH[0]!)?.colour === RED && shown;
      },
      { timeout: 90_000, what: 'the edge to the waypoint to turn red' },
    );
    expect(edge(after, HTTP_PATH[0]!)!.health).toBe('failure');
    expect(edge(after, HTTP_PATH[0]!)!.errorRate4xx).toBeGreaterThanOrEqual(0.2);
    // TCP between the ztunnels is not behind that waypoint: still green.
    expect(edge(after, MTLS_TCP)!.colour).toBe(GREEN);
    // Nodes too: the waypoint refusing every request fails; the echo it no longer reaches is not failing.
    const nodes = await eventually(
      async () => {
        const shown = await shownNodes(dash.page);
        return shown.find((n) => n.id === 'waypoint:web/waypoint')?.colour === RED && shown;
      },
      { timeout: 30_000, what: 'the waypoint node to turn red' },
    );
    expect(nodes.find((n) => n.id === 'workload:apps/echo')!.colour).toBe(GREEN);
    await dash.page.screenshot({ path: artifactPath('dashboard-deny.png') });
  });
});
