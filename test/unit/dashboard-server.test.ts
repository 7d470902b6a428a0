/**
 * The dashboard's web server on real loopback sockets: it serves its built page and script, `/api/graph`
 * from a Prometheus (here a loopback stand-in answering Prometheus' API), refuses other methods, paths and
 * views, and says so when Prometheus does not answer.
 */
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.ts';
import { boundAddress, closeServer, listen } from '../../src/core/server/listen.ts';
import type { GraphView } from '../../src/dashboard/graph.ts';
import { PrometheusApi } from '../../src/dashboard/prometheus.ts';
import { type Dashboard, startDashboard } from '../../src/dashboard/server.ts';
import { graphView, prometheusSource } from '../../src/dashboard/source.ts';
import { ROOT } from '../support/cli.ts';

/** Answers every instant query with one HTTP series from client through the waypoint, or fails. */
function fakePrometheus(healthy: () => boolean): Server {
  return createServer((request, response) => {
    if (!healthy()) {
      response.writeHead(503).end('{"status":"error","error":"down"}');
      return;
    }
    const query = new URL(request.url ?? '/', 'http://p').searchParams.get('query') ?? '';
    const result = query.startsWith('sum(rate(istio_requests_total')
      ? [
          {
            metric: {
              reporter: 'waypoint',
              namespace: 'web',
              app: 'waypoint',
              source_workload: 'client',
              source_workload_namespace: 'apps',
              destination_service_name: 'echo',
              destination_service_namespace: 'web',
              response_code: '200',
              connection_security_policy: 'mutual_tls',
            },
            value: [0, '2'],
          },
        ]
      : [];
    response
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result } }));
  });
}

describe('the dashboard server', () => {
  let up = true;
  const prometheus = fakePrometheus(() => up);
  let dashboard: Dashboard;

  beforeAll(async () => {
    execFileSync(process.execPath, ['scripts/build-dashboard.mjs'], { cwd: ROOT, stdio: 'ignore' });
    await listen(prometheus, { host: '127.0.0.1', port: 0 });
    dashboard = await startDashboard({
      views: {
        graph: () =>
          graphView(prometheusSource(new PrometheusApi(`http://${boundAddress(prometheus)}`), 'p')),
        echo: async (query) => {
          if (query.get('node') !== 'n1') throw new UsageError(`no node ${query.get('node')}`);
          return { node: 'n1' };
        },
      },
      cluster: 'c1',
      port: 0,
    });
  });

  afterAll(async () => {
    await dashboard?.close();
    await closeServer(prometheus);
  });

  it('listens on loopback only', () => {
    expect(new URL(dashboard.url).hostname).toBe('127.0.0.1');
  });

  it.each([
    ['/', 'text/html'],
    ['/app.js', 'text/javascript'],
    ['/app.css', 'text/css'],
  ])('serves %s', async (path, type) => {
    const response = await fetch(new URL(path, dashboard.url));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain(type);
    expect((await response.arrayBuffer()).byteLength).toBeGreaterThan(0);
  });

  it('answers the graph from Prometheus', async () => {
    const body = (await (await fetch(new URL('/api/graph', dashboard.url))).json()) as {
      cluster: string;
      view: GraphView;
    };
    expect(body.cluster).toBe('c1');
    expect(body.view.source).toEqual({ kind: 'prometheus', description: 'Prometheus (p)' });
    expect(body.view.edges.map((e) => [e.id, e.rate, e.mtls])).toEqual([
      ['http:waypoint:web/waypoint->service:web/echo', 2, true],
      ['http:workload:apps/client->waypoint:web/waypoint', 2, true],
    ]);
  });

  it.each([
    ['POST', '/api/graph', 405],
    ['GET', '/../package.json', 404],
    ['GET', '/etc/passwd', 404],
    ['GET', '/index.html', 404],
    ['GET', '/api/nothing', 404],
    ['GET', '/api/toString', 404],
    ['GET', '/api/', 404],
  ])('%s %s: %d', async (method, path, status) => {
    const response = await fetch(`${dashboard.url.replace(/\/$/, '')}${path}`, { method });
    expect(response.status).toBe(status);
  });

  it.each([
    ['?node=n1', 200, { node: 'n1' }],
    ['?node=n9', 400, undefined],
  ])('passes the query to the view: %s -> %d', async (query, status, view) => {
    const response = await fetch(new URL(`/api/echo${query}`, dashboard.url));
    expect(response.status).toBe(status);
    const body = (await response.json()) as { view?: unknown; error?: string };
    expect(body.view).toEqual(view);
    if (status === 400) expect(body.error).toBe('no node n9');
  });

  it('says 502 with the reason when Prometheus does not answer', async () => {
    up = false;
    try {
      const response = await fetch(new URL('/api/graph', dashboard.url));
      expect(response.status).toBe(502);
      expect(((await response.json()) as { error: string }).error).toMatch(/Prometheus|JSON|down/);
    } finally {
      up = true;
    }
  });
});
