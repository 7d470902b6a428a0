/**
 * The ztunnel's admin socket (workloads, services, policies, certificates, connections, log level; what
 * `ambit ztunnel-config` prints), its Prometheus metrics and its readiness endpoint.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitHostPort } from '../../src/core/net/host-port.ts';
import type { HttpEndpoint } from '../../src/core/server/http.ts';
import { serveEndpoints } from '../../src/ztunnel/admin.ts';
import type { Ztunnel } from '../../src/ztunnel/ztunnel.ts';
import { ambit } from '../support/cli.ts';
import { eventually } from '../support/eventually.ts';
import { httpGet } from '../support/http-get.ts';
import { startTwoNodeMesh, type TwoNodeMesh } from '../support/two-node-mesh.ts';
import type { Harness } from '../support/ztunnel-harness.ts';

describe('ztunnel admin, metrics and readiness', () => {
  let mesh: TwoNodeMesh;
  let h: Harness;
  let ip: (host: number) => string;
  let za: Ztunnel;
  let stateDir: string;
  const endpoints: HttpEndpoint[] = [];
  const client = () => mesh.workload('client');
  let socketPath: string;
  let metricsPort: number;
  let readyPort: number;

  beforeAll(async () => {
    mesh = await startTwoNodeMesh();
    ({ h, ip, za } = mesh);
    stateDir = mkdtempSync(join(tmpdir(), 'ambit-zt-admin-'));
    socketPath = join(stateDir, 'ztunnel-admin.sock');
    const served = await serveEndpoints(za, {
      adminSocket: socketPath,
      metrics: { host: '127.0.0.1', port: 0 },
      readiness: { host: '127.0.0.1', port: 0 },
    });
    endpoints.push(...served);
    const [, metrics, ready] = served;
    metricsPort = splitHostPort(metrics!.address)!.port;
    readyPort = splitHostPort(ready!.address)!.port;
  });

  it('lists workloads, services and policies', async () => {
    const workloads = JSON.parse((await httpGet({ socketPath, path: '/workloads' })).body) as {
      name: string;
      protocol: string;
      captured: boolean;
    }[];
    expect(workloads.find((w) => w.name === 'client')).toMatchObject({ protocol: 'HBONE', captured: true });
    expect(workloads.find((w) => w.name === 'server')).toMatchObject({ captured: false });
    const services = JSON.parse((await httpGet({ socketPath, path: '/services' })).body) as {
      name: string;
      waypoint?: string;
      endpointsReady: number;
    }[];
    expect(services.find((s) => s.name === 'routed')).toMatchObject({
      waypoint: 'default/waypoint',
      endpointsReady: 1,
    });
    expect((await httpGet({ socketPath, path: '/policies' })).body.trim()).toBe('[]');
    const dump = JSON.parse((await httpGet({ socketPath, path: '/config_dump' })).body) as {
      version: string;
      pods: unknown[];
    };
    expect(dump.version).toBe(za.state.version);
    expect(dump.pods).toHaveLength(1);
  });

  it('shows certificates with identity, serial and expiry', async () => {
    const certs = JSON.parse((await httpGet({ socketPath, path: '/certs' })).body) as {
      kind: string;
      identity: string;
      serial: string;
      notAfter: string;
      expiresInSeconds: number;
    }[];
    const leaf = certs.find((c) => c.kind === 'leaf');
    expect(leaf?.identity).toBe(client().identity);
    expect(leaf?.serial).toMatch(/^[0-9a-f]+$/);
    expect(leaf?.expiresInSeconds).toBeGreaterThan(3600);
    expect(certs.filter((c) => c.kind === 'root')).toHaveLength(1);
  });

  it('shows live connections with their bytes', async () => {
    const socket = h.capture.connect(ip(11), { ip: ip(200), port: 80 });
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('x'.repeat(1000));
    let got = 0;
    socket.on('data', (c: Buffer) => {
      got += c.length;
    });
    await eventually(() => got === 1000, { what: 'echo' });
    const view = JSON.parse((await httpGet({ socketPath, path: '/connections' })).body) as {
      connections: { destination: string; bytesSent: number; bytesReceived: number }[];
      pool: { peer: string; streams: number }[];
    };
    expect(view.connections.find((c) => c.destination === `${ip(200)}:80`)).toMatchObject({
      bytesSent: 1000,
      bytesReceived: 1000,
    });
    expect(view.pool.find((p) => p.peer === `${ip(21)}:15008`)?.streams).toBeGreaterThanOrEqual(1);
    socket.destroy();
  });

  it('is what `ambit ztunnel-config` prints, as a table or JSON', async () => {
    // Asynchronously: the admin server answering the CLI lives in this very process.
    const config = async (...args: string[]) => (await ambit(['ztunnel-config', ...args])).stdout;
    const table = await config('workloads', '--admin', socketPath);
    expect(table.split('\n')[0]).toMatch(/^NAMESPACE\s+POD NAME\s+ADDRESS\s+NODE\s+WAYPOINT\s+PROTOCOL$/);
    expect(table).toMatch(
      new RegExp(`default\\s+client\\s+${ip(11).replaceAll('.', '\\.')}\\s+node-a\\s+None\\s+HBONE`),
    );
    const services = JSON.parse(await config('services', '--admin', socketPath, '-o', 'json')) as {
      name: string;
    }[];
    expect(services.map((s) => s.name).sort()).toEqual(['routed', 'server', 'waypoint']);
    expect(await config('certificates', '--admin', socketPath)).toContain('ROOTCA');
  });

  it('reads and sets the log level', async () => {
    expect(JSON.parse((await httpGet({ socketPath, path: '/logging' })).body)).toEqual({ level: 'error' });
    expect((await httpGet({ socketPath, path: '/logging?level=chatty', method: 'POST' })).status).toBe(400);
    expect(
      JSON.parse((await httpGet({ socketPath, path: '/logging?level=warn', method: 'POST' })).body),
    ).toEqual({ level: 'warn' });
    await httpGet({ socketPath, path: '/logging?level=error', method: 'POST' });
    expect((await httpGet({ socketPath, path: '/nope' })).status).toBe(404);
  });

  it('serves Istio TCP metrics in Prometheus format, and readiness', async () => {
    const metrics = await httpGet({ host: '127.0.0.1', port: metricsPort, path: '/metrics' });
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(
      /istio_tcp_connections_opened_total\{reporter="source",source_workload="client",/,
    );
    expect(metrics.body).toContain(
      'ambit_ztunnel_certificate_expiry_seconds{identity="spiffe://cluster.local/ns/default/sa/client"}',
    );
    expect(metrics.body).toContain('istio_dns_requests_total');
    expect((await httpGet({ host: '127.0.0.1', port: readyPort, path: '/healthz/ready' })).status).toBe(200);
  });

  afterAll(async () => {
    await Promise.all(endpoints.map((endpoint) => endpoint.close()));
    await mesh?.close();
    rmSync(stateDir, { recursive: true, force: true });
  });
});
