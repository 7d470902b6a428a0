/**
 * The ztunnel's copy between app sockets and framer streams (`splice` with the direct pumps of
 * src/core/hbone/h2/pumps.ts), end to end on loopback: a source app's TCP connection spliced onto a CONNECT
 * stream of a framer client, over mTLS to a framer server whose stream is spliced onto a TCP connection to the
 * destination app. Checks that the direct path is the one taken, bytes intact both ways (sha256), flow
 * control holding a destination app that does not read, FIN and reset as the far app sees them, and the
 * byte counters.
 */
import { randomBytes } from 'node:crypto';
import { type AddressInfo, createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { H2Connection } from '../../src/core/hbone/h2/connection.ts';
import type { H2Stream } from '../../src/core/hbone/h2/stream.ts';
import { type ByteCounters, type SpliceResult, splice } from '../../src/core/net/splice.ts';
import {
  accept,
  connect,
  drain,
  framerClient,
  framerServer,
  STREAM_WINDOW,
  sha256,
  testPki,
  until,
} from '../support/h2-peers.ts';

interface Hop {
  stream: H2Stream;
  socket: Socket;
  counters: ByteCounters;
  done: Promise<SpliceResult>;
}

let destinationApp: (socket: Socket) => void = () => {};
let appServer: Server;
let entry: Server;
let hbone: Awaited<ReturnType<typeof framerServer>>;
let client: H2Connection;
/** The hops of the latest tunnel: the destination ztunnel's (stream -> app) and the source's (app -> stream). */
const hops: { source?: Hop; destination?: Hop } = {};

const listen = (server: Server) =>
  new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );

beforeAll(async () => {
  const pki = testPki();
  appServer = createServer({ allowHalfOpen: true }, (socket) => destinationApp(socket));
  const appPort = await listen(appServer);
  // The destination ztunnel: answers 200, dials the app, splices.
  hbone = await framerServer(pki, (stream) => {
    accept(stream);
    const app = tcpConnect({ host: '127.0.0.1', port: appPort, allowHalfOpen: true });
    app.once('connect', () => {
      const counters = { upstream: 0, downstream: 0 };
      hops.destination = { stream, socket: app, counters, done: splice(stream, app, counters) };
    });
  });
  client = await framerClient(pki, hbone.port);
  // The source ztunnel: takes the app's connection, opens a CONNECT, splices.
  entry = createServer({ allowHalfOpen: true }, async (socket) => {
    const { stream } = await connect(client);
    const counters = { upstream: 0, downstream: 0 };
    hops.source = { stream: stream as H2Stream, socket, counters, done: splice(socket, stream, counters) };
  });
  await listen(entry);
});

afterAll(async () => {
  client?.destroy();
  await hbone?.close();
  await new Promise((resolve) => appServer?.close(resolve));
  await new Promise((resolve) => entry?.close(resolve));
});

/**
 * Bytes a ztunnel holds for an app that does not read: in the socket's Writable, and in its handle's write
 * queue (the relay writes there directly, past the Writable; libuv keeps what the kernel did not take).
 */
function queuedForApp(socket: Socket): number {
  const handle = (socket as Socket & { _handle?: { writeQueueSize?: number } | null })._handle;
  return socket.writableLength + (handle?.writeQueueSize ?? 0);
}

function sourceApp(): Promise<Socket> {
  const socket = tcpConnect({
    host: '127.0.0.1',
    port: (entry.address() as AddressInfo).port,
    allowHalfOpen: true,
  });
  socket.on('error', () => {});
  return new Promise((resolve) => socket.once('connect', () => resolve(socket)));
}

describe('splice between app sockets and framer streams', () => {
  it('takes the direct path and moves 16 MiB each way intact, counted', async () => {
    const up = randomBytes(16 << 20);
    const down = randomBytes(16 << 20);
    let received: Promise<{ bytes: number; sha256: string }> | undefined;
    destinationApp = (socket) => {
      received = drain(socket);
      socket.end(down);
    };
    const app = await sourceApp();
    const answer = drain(app);
    app.end(up);
    expect(await answer).toEqual({ bytes: down.length, sha256: sha256(down) });
    await until(() => received !== undefined, 'the destination app');
    expect(await received).toEqual({ bytes: up.length, sha256: sha256(up) });
    const { source, destination } = hops;
    expect(await source!.done).toEqual({ error: undefined });
    expect(await destination!.done).toEqual({ error: undefined });
    // Both framer streams were tapped: DATA went to the sockets without their Readables.
    expect(source!.stream.tap).toBeDefined();
    expect(destination!.stream.tap).toBeDefined();
    expect(source!.counters).toEqual({ upstream: up.length, downstream: down.length });
    expect(destination!.counters).toEqual({ upstream: down.length, downstream: up.length });
  });

  it('holds a destination app that does not read to the stream window, then delivers everything', async () => {
    const data = randomBytes(32 << 20);
    let held: Socket | undefined;
    destinationApp = (socket) => {
      socket.pause();
      held = socket;
    };
    const app = await sourceApp();
    app.end(data);
    await until(() => held !== undefined && hops.destination !== undefined, 'the destination app');
    // Let the sender run into the window: what the far side holds stops growing well below 32 MiB.
    await until(() => app.writableLength > 0, 'the source app to be held back');
    await new Promise((resolve) => setTimeout(resolve, 300));
    // The destination ztunnel queues for its app at most the stream window (plus a read) once the app's
    // socket says wait: the window is not credited back until it drains (crediting on would queue more).
    expect(queuedForApp(hops.destination!.socket)).toBeLessThan(STREAM_WINDOW + (512 << 10));
    expect(hops.destination!.counters.downstream).toBeLessThan(data.length);
    const received = drain(held!);
    held!.resume();
    expect(await received).toEqual({ bytes: data.length, sha256: sha256(data) });
    held!.end();
  });

  it('passes a reset of the destination app to the source app as a reset', async () => {
    destinationApp = (socket) => {
      socket.once('data', () => socket.resetAndDestroy());
    };
    const app = await sourceApp();
    const error = new Promise<NodeJS.ErrnoException>((resolve) => app.once('error', resolve));
    app.write('hello');
    expect((await error).code).toBe('ECONNRESET');
    expect((await hops.source!.done).error).toBeDefined();
  });
});
