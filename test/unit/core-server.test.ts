import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { Agent, createServer as createHttpServer, request } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { splitHostPort } from '../../src/core/net/host-port.ts';
import { closeHttpServer, drainSessions, totalDrained } from '../../src/core/server/drain.ts';
import { metricsHandler, readinessHandler, serveHttp } from '../../src/core/server/http.ts';
import { closeServer } from '../../src/core/server/listen.ts';
import { claimUnixSocket, listenUnixSocket } from '../../src/core/server/unix-socket.ts';
import { httpGet } from '../support/http-get.ts';

/** A session that finishes when asked (`willFinish`) or only when cut. */
class FakeSession extends EventEmitter {
  destroyed = false;
  asked = false;
  readonly willFinish: boolean;
  constructor(willFinish: boolean) {
    super();
    this.willFinish = willFinish;
  }
  close(): void {
    this.asked = true;
    if (this.willFinish) queueMicrotask(() => this.#end());
  }
  destroy(): void {
    this.#end();
  }
  #end(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }
}

describe('drainSessions', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it.each([
    ['all finish when asked', [true, true], 1000, { finished: 2, cut: 0 }],
    ['one holds on past the deadline', [true, false], 1000, { finished: 1, cut: 1 }],
    ['a zero deadline cuts at once, asking nobody', [true, false], 0, { finished: 0, cut: 2 }],
    ['nothing to drain', [], 1000, { finished: 0, cut: 0 }],
  ])('%s', async (_name, finishes, deadlineMs, expected) => {
    const sessions = finishes.map((finish) => new FakeSession(finish));
    const drained = drainSessions(sessions, deadlineMs);
    await vi.advanceTimersByTimeAsync(deadlineMs);
    expect(await drained).toEqual(expected);
    expect(sessions.every((s) => s.destroyed)).toBe(true);
    expect(sessions.every((s) => s.asked)).toBe(deadlineMs > 0);
  });

  it('leaves sessions already gone out', async () => {
    const gone = new FakeSession(true);
    gone.destroy();
    expect(await drainSessions([gone], 1000)).toEqual({ finished: 0, cut: 0 });
  });

  it('adds results up', () => {
    expect(
      totalDrained([
        { finished: 1, cut: 2 },
        { finished: 3, cut: 0 },
      ]),
    ).toEqual({ finished: 4, cut: 2 });
  });
});

describe('closeHttpServer', () => {
  type Outcome = { body: string } | { error: string };

  /** A server whose `/slow` answers only once released; the rest at once. Clients keep connections alive. */
  async function slowServer() {
    let release = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered = () => {};
    const slowEntered = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const server = createHttpServer((req, res) => {
      if (req.url !== '/slow') return void res.end('quick');
      entered();
      void released.then(() => res.end('slow done'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const agent = new Agent({ keepAlive: true });
    const failed = (error: NodeJS.ErrnoException): Outcome => ({ error: error.code ?? error.message });
    const get = (path: string) =>
      new Promise<Outcome>((resolve) => {
        const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            body += chunk;
          });
          res.on('end', () => resolve({ body }));
          res.on('error', (error) => resolve(failed(error)));
        });
        req.on('error', (error) => resolve(failed(error)));
        req.end();
      });
    return { server, get, release, slowEntered, agent };
  }

  it('lets a request in progress finish, closes idle keep-alive connections, and then resolves', async () => {
    const { server, get, release, slowEntered, agent } = await slowServer();
    // Two connections: one left idle by a finished request, one busy with the slow request.
    const [quick, slow] = [get('/quick'), get('/slow')];
    expect(await quick).toEqual({ body: 'quick' });
    await slowEntered;
    let closed = false;
    const closing = closeHttpServer(server, 60_000).then(() => {
      closed = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(closed).toBe(false);
    release();
    expect(await slow).toEqual({ body: 'slow done' });
    await closing;
    agent.destroy();
  });

  it('cuts a request still in progress at the deadline', async () => {
    const { server, get, slowEntered, agent } = await slowServer();
    const slow = get('/slow');
    await slowEntered;
    await closeHttpServer(server, 100);
    expect(await slow).toEqual({ error: 'ECONNRESET' });
    agent.destroy();
  });
});

describe('exclusive unix socket', () => {
  let dir: string;
  const inUse = (path: string) => new Error(`taken: ${path}`);
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ambit-sock-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('listens 0600 and refuses a second owner while the first lives', async () => {
    const path = join(dir, 'api.sock');
    const first = createServer();
    await listenUnixSocket(first, path, { inUse });
    try {
      expect(statSync(path).mode & 0o777).toBe(0o600);
      await expect(listenUnixSocket(createServer(), path, { inUse })).rejects.toThrow(`taken: ${path}`);
    } finally {
      await closeServer(first);
    }
  });

  it('takes over the socket file a killed owner left behind', async () => {
    const path = join(dir, 'api.sock');
    const owner = spawn(process.execPath, [
      '-e',
      `require('node:net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`,
    ]);
    await new Promise((resolve) => owner.stdout.once('data', resolve));
    owner.kill('SIGKILL');
    await new Promise((resolve) => owner.once('exit', resolve));
    expect(existsSync(path)).toBe(true);
    const next = createServer();
    await listenUnixSocket(next, path, { inUse });
    await closeServer(next);
  });

  it('creates a missing directory with the mode asked for', async () => {
    const path = join(dir, 'run', 'x.sock');
    await claimUnixSocket(path, { inUse, directoryMode: 0o700 });
    expect(statSync(join(dir, 'run')).mode & 0o777).toBe(0o700);
  });
});

describe('metrics and readiness endpoints', () => {
  async function get(address: string, path: string): Promise<{ status: number; body: string }> {
    const { host, port } = splitHostPort(address)!;
    return httpGet({ host, port, path });
  }

  it('serves the registry on its paths (query ignored) and 404 elsewhere', async () => {
    const registry = new Registry();
    const endpoint = await serveHttp(metricsHandler(registry, ['/metrics', '/stats/prometheus']), {
      host: '127.0.0.1',
      port: 0,
    });
    try {
      expect((await get(endpoint.address, '/metrics')).status).toBe(200);
      expect((await get(endpoint.address, '/stats/prometheus?x=1')).status).toBe(200);
      expect(await get(endpoint.address, '/other')).toEqual({
        status: 404,
        body: 'not found: try /metrics\n',
      });
    } finally {
      await endpoint.close();
    }
  });

  it.each([
    [{ ready: true }, 200, 'ready\n'],
    [{ ready: false, reason: 'draining' }, 503, 'not ready: draining\n'],
  ])('readiness %j answers %d', async (state, status, body) => {
    const endpoint = await serveHttp(
      readinessHandler(() => state),
      { host: '127.0.0.1', port: 0 },
    );
    try {
      expect(await get(endpoint.address, '/healthz/ready')).toEqual({ status, body });
      expect((await get(endpoint.address, '/')).status).toBe(404);
    } finally {
      await endpoint.close();
    }
  });
});
