/**
 * The endpoints a ztunnel or a waypoint serves beside its data path, on loopback and a unix socket in a
 * temporary directory: only those with an address, in a fixed order; the admin socket is exclusive and
 * names the process that holds it; a failing endpoint closes the ones already up.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { HttpEndpoint, Readiness } from '../../src/core/server/http.ts';
import { closeServer, listen } from '../../src/core/server/listen.ts';
import { serveProcessEndpoints } from '../../src/core/server/process-endpoints.ts';
import { httpGet } from '../support/http-get.ts';

const dir = mkdtempSync(join(tmpdir(), 'ambit-endpoints-'));
const loopback = { host: '127.0.0.1', port: 0 };
const open: HttpEndpoint[] = [];
const blockers: Server[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((endpoint) => endpoint.close()));
  await Promise.all(blockers.splice(0).map((server) => closeServer(server)));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let readiness: Readiness = { ready: true };
const source = { metrics: { registry: new Registry() }, readiness: () => readiness };
const admin = (_request: unknown, response: ServerResponse) => response.end('admin');
const port = (endpoint: HttpEndpoint) => Number(endpoint.address.split(':').at(-1));

describe('serveProcessEndpoints', () => {
  it('serves only what has an address, in the order admin, admin socket, metrics, readiness', async () => {
    const socket = join(dir, 'order.sock');
    const served = await serveProcessEndpoints('ztunnel', admin, source, {
      adminSocket: socket,
      readiness: loopback,
    });
    open.push(...served);
    expect(served.map((endpoint) => endpoint.address)).toEqual([
      socket,
      expect.stringMatching(/^127\.0\.0\.1:/),
    ]);
    expect((await httpGet({ socketPath: socket, path: '/' })).body).toBe('admin');
    readiness = { ready: false, reason: 'no snapshot yet' };
    const notReady = await httpGet({ host: '127.0.0.1', port: port(served[1]!), path: '/healthz/ready' });
    readiness = { ready: true };
    expect(notReady.status).toBe(503);
  });

  it("serves metrics on /metrics and Istio's /stats/prometheus", async () => {
    const served = await serveProcessEndpoints('waypoint', admin, source, {
      admin: loopback,
      metrics: loopback,
    });
    open.push(...served);
    const metricsPort = port(served[1]!);
    for (const path of ['/metrics', '/stats/prometheus'])
      expect((await httpGet({ host: '127.0.0.1', port: metricsPort, path })).status).toBe(200);
    expect((await httpGet({ host: '127.0.0.1', port: port(served[0]!), path: '/' })).body).toBe('admin');
  });

  it('refuses an admin socket another process serves, naming the kind', async () => {
    const socket = join(dir, 'taken.sock');
    open.push(...(await serveProcessEndpoints('waypoint', admin, source, { adminSocket: socket })));
    await expect(serveProcessEndpoints('waypoint', admin, source, { adminSocket: socket })).rejects.toThrow(
      `another waypoint serves ${socket}`,
    );
  });

  it('closes the endpoints already up when a later one cannot listen', async () => {
    const blocker = createServer();
    blockers.push(blocker);
    await listen(blocker, loopback);
    const taken = (blocker.address() as AddressInfo).port;
    const socket = join(dir, 'rollback.sock');
    await expect(
      serveProcessEndpoints('ztunnel', admin, source, {
        adminSocket: socket,
        readiness: { host: '127.0.0.1', port: taken },
      }),
    ).rejects.toThrow();
    // The admin socket was closed again: a new process may take it.
    open.push(...(await serveProcessEndpoints('ztunnel', admin, source, { adminSocket: socket })));
    expect((await httpGet({ socketPath: socket, path: '/' })).body).toBe('admin');
  });
});
