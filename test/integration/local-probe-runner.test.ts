/**
 * One probe attempt of each kind against real servers inside a network namespace made for this run, as the
 * supervisor makes them: httpGet (status classes, a server that never answers), tcpSocket, exec (in the
 * namespace, as the pod's user) and grpc (grpc.health.v1 via @grpc/grpc-js, SERVING and NOT_SERVING).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { healthService } from '../../src/core/grpc/protos.ts';
import { connectTcp, listenTcp, Netns } from '../../src/core/sys/netns-socket.ts';
import { type ProbeContext, runProbe } from '../../src/local/supervisor/probe-runner.ts';
import type { ProbeRecord, ProcessSpec } from '../../src/local/types.ts';
import { createNetnsPair, type NetnsPair } from '../support/netns-fixture.ts';
import { canRunNetnsTests } from '../support/privileges.ts';

const TIMING = {
  initialDelaySeconds: 0,
  periodSeconds: 1,
  timeoutSeconds: 1,
  successThreshold: 1,
  failureThreshold: 1,
};

describe.runIf(canRunNetnsTests())('probe attempts inside a pod network namespace', () => {
  let pair: NetnsPair;
  let netns: Netns;
  let context: ProbeContext;
  const servers: { close(): void }[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'ambit-probes-'));
  const probe = (handler: ProbeRecord['handler']): ProbeRecord => ({ ...TIMING, handler });

  beforeAll(async () => {
    pair = createNetnsPair('pr');
    netns = Netns.open(pair.podPath);
    const spec: ProcessSpec = {
      id: 'pod/test/probed',
      kind: 'pod',
      netns: pair.pod,
      argv: [],
      env: { PATH: '/usr/bin:/bin' },
      runAsUser: 65534,
      runAsGroup: 65534,
      cwd: '/',
      logFile: join(dir, 'pod.log'),
      restartPolicy: 'Always',
      readyPorts: [],
      readyUnixSockets: [],
    };
    context = { netns, spec, socketDir: join(dir, 'sockets') };

    const web = http.createServer((request, response) => {
      if (request.url === '/hang') return; // never answers
      response.writeHead(request.url === '/ok' ? 200 : request.url === '/moved' ? 302 : 503).end();
    });
    servers.push(await listenTcp(netns, { address: pair.podIp, port: 8080 }, web as unknown as net.Server));

    // A gRPC health server in this process, reached from the pod namespace through a listener there.
    const health = new grpc.Server();
    const statuses: Record<string, number> = { '': 1, down: 2 };
    health.addService(healthService(), {
      Check: (
        call: grpc.ServerUnaryCall<{ service: string }, unknown>,
        callback: grpc.sendUnaryData<unknown>,
      ) => {
        const status = statuses[call.request.service];
        if (status === undefined) callback({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
        else callback(null, { status });
      },
    });
    const grpcPort = await new Promise<number>((resolve, reject) =>
      health.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) =>
        error ? reject(error) : resolve(port),
      ),
    );
    servers.push({ close: () => health.forceShutdown() });
    const relay = await listenTcp(netns, { address: pair.podIp, port: 9090 });
    relay.on('connection', async (inside: net.Socket) => {
      const outside = await connectTcp(Netns.current(), { address: '127.0.0.1', port: grpcPort });
      inside.pipe(outside).pipe(inside);
      inside.on('error', () => outside.destroy());
      outside.on('error', () => inside.destroy());
    });
    servers.push(relay);
  });

  afterAll(() => {
    for (const server of servers) server.close();
    netns?.close();
    pair?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    ['/ok', true, 'HTTP 200 from /ok'],
    ['/moved', true, 'HTTP 302 from /moved'],
    ['/bad', false, 'HTTP 503 from /bad'],
    ['/hang', false, 'GET /hang: timeout after 1000 ms'],
  ])('httpGet %s', async (path, ok, detail) => {
    const host = pair.podIp;
    const outcome = await runProbe(
      probe({
        type: 'httpGet',
        path,
        port: 8080,
        host,
        scheme: 'HTTP',
        headers: [{ name: 'X-Probe', value: '1' }],
      }),
      context,
    );
    expect(outcome).toEqual({ ok, detail });
  });

  it('tcpSocket: connects to a listener of the namespace and is refused where none listens', async () => {
    expect((await runProbe(probe({ type: 'tcpSocket', port: 8080, host: pair.podIp }), context)).ok).toBe(
      true,
    );
    const refused = await runProbe(probe({ type: 'tcpSocket', port: 8081, host: pair.podIp }), context);
    expect(refused.ok).toBe(false);
    expect(refused.detail).toContain('ECONNREFUSED');
  });

  it('exec: runs in the namespace as the pod user and passes on exit status 0 only', async () => {
    const inside = await runProbe(
      probe({
        type: 'exec',
        command: ['sh', '-c', `ip -o addr show | grep -q ${pair.podIp} && test "$(id -u)" = 65534`],
      }),
      context,
    );
    expect(inside).toEqual({ ok: true, detail: 'sh exited 0' });
    expect(
      await runProbe(probe({ type: 'exec', command: ['sh', '-c', 'echo nope; exit 3'] }), context),
    ).toEqual({
      ok: false,
      detail: 'sh exited 3: nope',
    });
    expect(await runProbe(probe({ type: 'exec', command: ['sleep', '5'] }), context)).toEqual({
      ok: false,
      detail: 'sleep timed out after 1000 ms',
    });
  });

  it.each([
    ['', true, 'grpc.health.v1 status SERVING'],
    ['down', false, 'grpc.health.v1 status 2'],
    ['nosuch', false, 'grpc.health.v1 Check: unknown service'],
  ])('grpc service %j', async (service, ok, detail) => {
    expect(await runProbe(probe({ type: 'grpc', port: 9090, host: pair.podIp, service }), context)).toEqual({
      ok,
      detail,
    });
  });

  it('grpc: fails where nothing listens', async () => {
    const outcome = await runProbe(
      probe({ type: 'grpc', port: 9091, host: pair.podIp, service: '' }),
      context,
    );
    expect(outcome.ok).toBe(false);
  });
});
