/**
 * `ambit waypoint run` as a process against a real control plane process: it subscribes as its Gateway
 * (the admin `/config_dump` shows the snapshot it received), serves metrics and readiness (not ready, and
 * saying why, while the CA will not issue its certificate: no waypoint pod is known to this control plane),
 * and stops cleanly on SIGTERM. Every address is on a loopback address unique to this run.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlApiClient } from '../../src/core/control-api/client.ts';
import { controlPaths } from '../../src/core/control-api/paths.ts';
import { GATEWAY_NAME_LABEL } from '../../src/core/labels.ts';
import { ambit, killAll, startAmbit } from '../support/cli.ts';
import { eventually } from '../support/eventually.ts';
import { httpGet } from '../support/http-get.ts';
import { loopbackSubnet } from '../support/ztunnel-harness.ts';

function get(target: { host?: string; port?: number; socketPath?: string }, path: string) {
  return httpGet({ ...target, path });
}

describe('ambit waypoint run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-wp-proc-'));
  const ip = loopbackSubnet()(1);
  // Metrics and readiness listen on every address: ports of this run's own choosing.
  const base = 20_000 + Math.floor(Math.random() * 9_000);
  const ports = { metrics: base, readiness: base + 1 };
  const adminSocket = join(dir, 'waypoint', 'admin.sock');
  let waypoint: ReturnType<typeof startAmbit>;

  beforeAll(async () => {
    const stateDir = join(dir, 'control');
    startAmbit(['control', '--state-dir', stateDir, '--listen', `${ip}:15012`, '--metrics-port', '0']);
    await eventually(() => readFileSync(join(stateDir, 'ca', 'root-cert.pem'), 'utf8'), {
      what: 'the CA root',
    });
    const credential = await ambit(['control', 'credential', 'node-1', '--state-dir', stateDir]);
    expect(credential.code).toBe(0);
    // A node's token subscribes as a waypoint only where the runtime reported an instance of it.
    const api = new ControlApiClient(controlPaths(stateDir).socket);
    const instance = {
      name: 'waypoint-0',
      namespace: 'shop',
      node: 'node-1',
      ips: [ip],
      serviceAccount: 'waypoint',
      labels: { [GATEWAY_NAME_LABEL]: 'waypoint' },
    };
    await eventually(() => api.reportPod(instance), { what: 'the waypoint instance reported' });
    waypoint = startAmbit([
      'waypoint',
      'run',
      '--name',
      'waypoint',
      '--namespace',
      'shop',
      '--node',
      'node-1',
      '--control',
      `${ip}:15012`,
      '--token-file',
      join(stateDir, 'nodes', 'node-1.token'),
      '--ca-root',
      join(stateDir, 'ca', 'root-cert.pem'),
      '--admin-socket',
      adminSocket,
      '--hbone',
      `${ip}:15008`,
      '--admin',
      `${ip}:15000`,
      '--metrics-port',
      String(ports.metrics),
      '--readiness-port',
      String(ports.readiness),
    ]);
  });

  afterAll(() => {
    killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('subscribes as its Gateway and shows what it received on the admin API', async () => {
    const dump = await eventually(
      async () => {
        const reply = await get({ socketPath: adminSocket }, '/config_dump');
        const parsed = JSON.parse(reply.body) as { snapshot?: { waypoint: unknown } };
        return parsed.snapshot ? parsed : undefined;
      },
      { what: 'a snapshot in /config_dump' },
    );
    expect(dump.snapshot?.waypoint).toEqual({ name: 'waypoint', namespace: 'shop' });
    expect((await get({ host: ip, port: 15000 }, '/routes')).body.trim()).toBe('[]');
    expect((await get({ host: ip, port: 15000 }, '/nope')).status).toBe(404);
  });

  it('is not ready without its certificate, and says why; serves its metrics', async () => {
    const readiness = await get({ host: ip, port: ports.readiness }, '/healthz/ready');
    expect(readiness.status).toBe(503);
    expect(readiness.body).toMatch(/^not ready: HBONE listener not up yet/);
    const metrics = await get({ host: ip, port: ports.metrics }, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('# TYPE istio_requests_total counter');
    expect(metrics.body).toContain('# TYPE istio_request_duration_milliseconds histogram');
  });

  it('stops on SIGTERM with status 0', async () => {
    waypoint.child.kill('SIGTERM');
    const result = await waypoint.done;
    expect(result.code).toBe(0);
  });

  it('refuses an incomplete command line, naming the flag', async () => {
    const result = await ambit(['waypoint', 'run', '--name', 'w']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('missing --namespace');
  });
});
