import { request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directivesFor, parseDirectives } from '../../src/echo/directives.ts';
import type { EchoReport } from '../../src/echo/http.ts';
import { identityFromEnv, type RunningEcho, startEcho } from '../../src/echo/server.ts';

describe('echo directives', () => {
  const parse = (query: string) => parseDirectives(new URLSearchParams(query));
  it('reads status, delay, size and close', () => {
    expect(parse('')).toEqual({ status: 200, delayMs: 0 });
    expect(parse('status=503&delay=1.5s&size=10')).toEqual({ status: 503, delayMs: 1500, size: 10 });
    expect(parse('close')).toMatchObject({ close: 'fin' });
    expect(parse('close=reset')).toMatchObject({ close: 'reset' });
  });

  it('reads fail-every (503 unless a status is given) and only', () => {
    expect(parse('fail-every=2')).toEqual({ status: 503, delayMs: 0, failEvery: 2 });
    expect(parse('fail-every=3&status=500&only=echo-1')).toEqual({
      status: 500,
      delayMs: 0,
      failEvery: 3,
      only: 'echo-1',
    });
  });

  it.each([
    // [query, pod, count of fail-every requests so far, status answered]
    ['fail-every=2', 'a', 1, 200],
    ['fail-every=2', 'a', 2, 503],
    ['fail-every=2', 'a', 3, 200],
    ['fail-every=3&status=500', 'a', 3, 500],
    ['fail-every=3&status=500', 'a', 4, 200],
    ['status=503&only=bad', 'bad', 0, 503],
    ['status=503&only=bad', 'good', 0, 200],
    ['delay=1s&only=bad', 'good', 0, 200],
  ])('%s on pod %s, request %i: %i', (query, pod, count, status) => {
    const directives = parse(query);
    if ('error' in directives) throw new Error(directives.error);
    expect(directivesFor(directives, pod, count).status).toBe(status);
  });

  it('only= on another pod drops the delay and hang-up too', () => {
    const directives = parse('delay=1s&close&only=bad');
    if ('error' in directives) throw new Error(directives.error);
    expect(directivesFor(directives, 'good', 0)).toEqual({ status: 200, delayMs: 0 });
  });

  it.each([
    'status=99',
    'status=600',
    'status=2OO',
    'delay=5',
    'delay=11m',
    'size=-1',
    'size=1e3',
    'close=maybe',
    'fail-every=0',
    'fail-every=two',
  ])('rejects %s with a message naming it', (query) => {
    const result = parse(query);
    expect(result).toHaveProperty('error');
    expect((result as { error: string }).error.startsWith(query.split('=')[0]!)).toBe(true);
  });
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function get(port: number, path: string, method = 'GET', body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers: { 'x-test': 'yes' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('echo server (loopback)', () => {
  let echo: RunningEcho;
  let httpPort: number;
  let tcpPort: number;
  const identity = identityFromEnv('v7', {
    POD_NAME: 'echo-0',
    POD_NAMESPACE: 'demo',
    NODE_NAME: 'node-1',
    POD_IP: '10.244.0.2',
  });

  beforeAll(async () => {
    echo = await startEcho({ host: '127.0.0.1', httpPort: 0, tcpPort: 0, version: 'v7' }, identity);
    httpPort = Number(echo.httpAddress.split(':')[1]);
    tcpPort = Number(echo.tcpAddress!.split(':')[1]);
  });
  afterAll(() => echo.close());

  it('reports who answered and the request it saw', async () => {
    const answer = await get(httpPort, '/a/b?x=1', 'POST', 'hello');
    expect(answer.status).toBe(200);
    expect(answer.headers['x-echo-pod']).toBe('echo-0');
    const report = JSON.parse(answer.body.toString()) as EchoReport;
    expect(report).toMatchObject({
      pod: 'echo-0',
      namespace: 'demo',
      node: 'node-1',
      version: 'v7',
      ip: '10.244.0.2',
    });
    expect(report.request).toMatchObject({
      method: 'POST',
      path: '/a/b?x=1',
      protocol: 'HTTP/1.1',
      destination: `127.0.0.1:${httpPort}`,
      bodyBytes: 5,
    });
    expect(report.request.headers['x-test']).toBe('yes');
    expect(report.request.source).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('answers with the requested status, size and delay', async () => {
    expect((await get(httpPort, '/?status=503')).status).toBe(503);
    const big = await get(httpPort, '/?size=1048577');
    expect(big.body.length).toBe(1_048_577);
    expect(big.headers['content-length']).toBe('1048577');
    expect((await get(httpPort, '/?size=0')).body.length).toBe(0);
    const started = performance.now();
    await get(httpPort, '/?delay=150ms');
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    const head = await get(httpPort, '/?size=100', 'HEAD');
    expect(head.headers['content-length']).toBe('100');
    expect(head.body.length).toBe(0);
  });

  it('rejects a bad directive with 400 and says why', async () => {
    const answer = await get(httpPort, '/?status=42');
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body.toString()).error).toContain('status=42');
  });

  it('hangs up when told to, with FIN or RST', async () => {
    await expect(get(httpPort, '/?close')).rejects.toMatchObject({ code: 'ECONNRESET' });
    await expect(get(httpPort, '/?close=reset')).rejects.toMatchObject({ code: 'ECONNRESET' });
    // The server survives both.
    expect((await get(httpPort, '/')).status).toBe(200);
  });

  it('accepts an Upgrade (a WebSocket one with the RFC 6455 accept key), then echoes bytes', async () => {
    const upgraded = await new Promise<{ accept: string; version: string; echoed: string }>(
      (resolve, reject) => {
        const upgrade = request({
          host: '127.0.0.1',
          port: httpPort,
          path: '/ws',
          headers: {
            connection: 'Upgrade',
            upgrade: 'websocket',
            'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
            'sec-websocket-version': '13',
          },
        });
        upgrade.on('upgrade', (response, socket) => {
          socket.once('data', (chunk: Buffer) => {
            socket.destroy();
            resolve({
              accept: String(response.headers['sec-websocket-accept']),
              version: String(response.headers['x-echo-version']),
              echoed: chunk.toString(),
            });
          });
          socket.write('ping over the upgraded connection');
        });
        upgrade.on('error', reject);
        upgrade.end();
      },
    );
    // The handshake example of RFC 6455 section 1.3.
    expect(upgraded).toEqual({
      accept: 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=',
      version: 'v7',
      echoed: 'ping over the upgraded connection',
    });
    // Any other protocol: 101 naming it, then the same echo.
    const other = await new Promise<{ protocol: string; echoed: string }>((resolve, reject) => {
      const upgrade = request({
        host: '127.0.0.1',
        port: httpPort,
        headers: { connection: 'Upgrade', upgrade: 'echo' },
      });
      upgrade.on('upgrade', (response, socket) => {
        socket.once('data', (chunk: Buffer) => {
          socket.destroy();
          resolve({ protocol: String(response.headers.upgrade), echoed: chunk.toString() });
        });
        socket.write('ping');
      });
      upgrade.on('error', reject);
      upgrade.end();
    });
    expect(other).toEqual({ protocol: 'echo', echoed: 'ping' });
  });

  it('echoes raw TCP bytes and half-closes after the client does', async () => {
    const payload = Buffer.alloc(300_000, 'abc');
    const echoed = await new Promise<Buffer>((resolve, reject) => {
      const socket = connect(tcpPort, '127.0.0.1', () => socket.end(payload));
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('end', () => resolve(Buffer.concat(chunks)));
      socket.on('error', reject);
    });
    expect(echoed.equals(payload)).toBe(true);
  });
});
