/**
 * The control API client over several replicas' sockets: a socket that cannot be connected to is passed
 * over (nothing was sent), the one that answered is tried first next time, and a call that reached a
 * replica is never sent to another, even when it failed there.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ControlApiClient } from '../../src/core/control-api/client.ts';
import { publicCode } from '../../src/core/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'ambit-api-failover-'));
const servers: Server[] = [];
afterAll(async () => {
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  rmSync(dir, { recursive: true, force: true });
});

/** A replica's API socket answering every request with `status` and a count of what it received. */
async function replica(name: string, status: number) {
  const path = join(dir, `${name}.sock`);
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(
      status < 400
        ? JSON.stringify({ pods: seen.length })
        : JSON.stringify({ error: { code: publicCode('UNAVAILABLE'), message: `${name} refused` } }),
    );
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return { path, seen };
}

describe('control API client over replicas', () => {
  it('passes over a dead socket, then keeps to the replica that answered', async () => {
    const live = await replica('live', 200);
    const dead = join(dir, 'dead.sock');
    const client = new ControlApiClient([dead, live.path]);
    expect(await client.removePod('apps', 'web')).toEqual({ pods: 1 });
    expect(client.socketPath).toBe(live.path);
    expect(await client.listPods()).toEqual({ pods: 2 });
    expect(live.seen).toEqual(['DELETE /v1/pods/apps/web', 'GET /v1/pods']);
  });

  it('does not send a call again elsewhere once a replica received it', async () => {
    const refusing = await replica('refusing', 503);
    const other = await replica('other', 200);
    const client = new ControlApiClient([refusing.path, other.path]);
    await expect(client.removePod('apps', 'web')).rejects.toThrow('refusing refused');
    expect(refusing.seen).toHaveLength(1);
    expect(other.seen).toHaveLength(0);
  });

  it('names every socket when none can be reached', async () => {
    const client = new ControlApiClient([join(dir, 'a.sock'), join(dir, 'b.sock')]);
    await expect(client.listPods()).rejects.toThrow(
      `cannot reach any control-plane replica (${join(dir, 'a.sock')}, ${join(dir, 'b.sock')})`,
    );
  });
});
