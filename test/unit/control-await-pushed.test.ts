/**
 * A pod that leaves its Services must be gone from every data plane before its runtime stops it: the local
 * cluster's drain waits on `GET /v1/pushed`, which answers once every discovery client has ACKed the mesh as
 * the control plane holds it at the call, a change still in its debounce window included. A real control
 * plane, its API socket and a real ztunnel discovery client with the ztunnel's own state store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane } from '../../src/control/control-plane.ts';
import { ControlApiClient } from '../../src/core/control-api/client.ts';
import { StateStore } from '../../src/ztunnel/state/store.ts';
import { quietLogs } from '../support/logging.ts';
import { syncedZtunnel } from '../support/node-connection.ts';

const state = mkdtempSync(join(tmpdir(), 'ambit-await-pushed-'));
let plane: ControlPlane;
let api: ControlApiClient;
let client: Awaited<ReturnType<typeof syncedZtunnel>>;
const store = new StateStore();

const hasPod = (ip: string) => store.snapshot.workloads.some((workload) => workload.ips.includes(ip));

beforeAll(async () => {
  quietLogs();
  plane = await ControlPlane.start({
    stateDir: state,
    listen: '127.0.0.1:0',
    metricsPort: 0,
    // Far longer than the test waits: only the flush that awaitPushed does can build the change in time.
    debounceMs: 60_000,
    maxDebounceMs: 60_000,
  });
  api = new ControlApiClient([plane.paths.socket], { timeoutMs: 5_000 });
  client = await syncedZtunnel(plane, state, 'node-a', store);
});

afterAll(async () => {
  client?.close();
  await plane?.stop();
  rmSync(state, { recursive: true, force: true });
});

describe('GET /v1/pushed', () => {
  it('answers once the data plane holds a pod that was reported a moment ago', async () => {
    await api.reportPod({ name: 'web', namespace: 'shop', node: 'node-a', ips: ['10.244.0.9'] });
    expect(hasPod('10.244.0.9')).toBe(false);
    const report = await api.awaitPushed(10_000);
    expect(report.timedOut).toBe(false);
    expect(report.clients.map((c) => [c.node, c.state])).toEqual([['node-a', 'acked']]);
    expect(hasPod('10.244.0.9')).toBe(true);
  });

  it('answers once the data plane no longer holds a removed pod', async () => {
    expect((await api.removePod('shop', 'web')).removed).toBe(true);
    expect(hasPod('10.244.0.9')).toBe(true);
    const report = await api.awaitPushed(10_000);
    expect(report.timedOut).toBe(false);
    expect(hasPod('10.244.0.9')).toBe(false);
  });

  it('answers at once when nothing changed', async () => {
    const report = await api.awaitPushed(10_000);
    expect(report).toMatchObject({ timedOut: false, version: String(plane.status().version) });
  });
});
