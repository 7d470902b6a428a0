/**
 * Interop of the framer with `node:http2` (nghttp2), both directions, and with itself: sha256-checked
 * 16 MiB transfers, a stalled reader held by flow control, 200 concurrent half-closed streams, resets
 * and half-closes as the far app sees them, and GOAWAY drain. All on loopback.
 */
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { H2Connection } from '../../src/core/hbone/h2/connection.ts';
import {
  accept,
  connect,
  drain,
  framerClient,
  framerServer,
  nodeClient,
  nodeServer,
  outcome,
  type Pki,
  STREAM_WINDOW,
  sha256,
  testPki,
  until,
} from '../support/h2-peers.ts';

type ServerSide = Duplex & {
  respond(headers: Record<string, number>): void;
  rstCode?: number;
  close(code?: number): void;
};
type Behaviour = (stream: ServerSide) => void;

const echo: Behaviour = (stream) => {
  accept(stream as never);
  stream.pipe(stream);
};

let pki: Pki;
beforeAll(() => {
  pki = testPki();
});

const combinations = [
  { name: 'framer client -> node:http2 server', client: 'framer', server: 'node' },
  { name: 'node:http2 client -> framer server', client: 'node', server: 'framer' },
  { name: 'framer client -> framer server', client: 'framer', server: 'framer' },
] as const;

describe.each(combinations)('$name', ({ client: clientKind, server: serverKind }) => {
  let behaviour: Behaviour = echo;
  let server: Awaited<ReturnType<typeof framerServer>> | Awaited<ReturnType<typeof nodeServer>>;
  const dispatch = (stream: unknown) => behaviour(stream as ServerSide);
  beforeAll(async () => {
    server = serverKind === 'framer' ? await framerServer(pki, dispatch) : await nodeServer(pki, dispatch);
  });
  afterAll(() => server.close());
  const open = () =>
    clientKind === 'framer' ? framerClient(pki, server.port) : nodeClient(pki, server.port);
  const finish = (c: Awaited<ReturnType<typeof open>>) =>
    c instanceof H2Connection ? c.destroy() : c.destroy();

  it('moves 16 MiB each way intact (sha256) on one stream', async () => {
    behaviour = echo;
    const client = await open();
    const payload = randomBytes(16 << 20);
    const { stream, status } = await connect(client);
    expect(status).toBe(200);
    const received = drain(stream);
    stream.end(payload);
    expect(await received).toEqual({ bytes: payload.length, sha256: sha256(payload) });
    finish(client);
  });

  it('carries 200 concurrent half-closed streams without crossing them', async () => {
    behaviour = echo;
    const client = await open();
    const results = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const payload = randomBytes(32 * 1024 + i);
        const { stream } = await connect(client);
        const received = drain(stream);
        stream.end(payload);
        return (await received).sha256 === sha256(payload);
      }),
    );
    expect(results.filter(Boolean)).toHaveLength(200);
    finish(client);
  });

  it('holds a stalled reader by flow control, then delivers everything once it reads', async () => {
    let stalled: ServerSide | undefined;
    behaviour = (stream) => {
      accept(stream as never);
      stream.pause();
      stalled = stream;
    };
    const client = await open();
    const payload = randomBytes(16 << 20);
    const { stream } = await connect(client);
    let acknowledged = 0;
    const writeAll = async () => {
      for (let at = 0; at < payload.length; at += 64 << 10) {
        await new Promise<void>((resolve, reject) =>
          stream.write(payload.subarray(at, at + (64 << 10)), (error) => (error ? reject(error) : resolve())),
        );
        acknowledged = at + (64 << 10);
      }
      stream.end();
    };
    const writing = writeAll();
    // The writer stops when the stream window (plus the buffers on the way) is used up.
    let previous = -1;
    await until(() => {
      const settled = acknowledged === previous;
      previous = acknowledged;
      return settled && acknowledged > 0;
    }, 'the writer to stall');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(acknowledged).toBeLessThan(payload.length / 2);
    expect(acknowledged).toBeGreaterThanOrEqual(STREAM_WINDOW / 2);
    const reader = stalled!;
    const received = drain(reader);
    reader.resume();
    await writing;
    expect(await received).toEqual({ bytes: payload.length, sha256: sha256(payload) });
    finish(client);
  });

  it('a client FIN reaches the server app as a FIN, and the server can still answer (half-close)', async () => {
    let serverSaw: Promise<'fin' | 'reset'> | undefined;
    behaviour = (stream) => {
      accept(stream as never);
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      serverSaw = new Promise((resolve) => stream.once('end', () => resolve('fin')));
      stream.once('end', () => stream.end(`got ${Buffer.concat(chunks).toString()}`));
    };
    const client = await open();
    const { stream } = await connect(client);
    const answer = new Promise<string>((resolve) => {
      let text = '';
      stream.on('data', (c: Buffer) => {
        text += c;
      });
      stream.once('end', () => resolve(text));
    });
    stream.end('ping');
    expect(await answer).toBe('got ping');
    expect(await serverSaw).toBe('fin');
    finish(client);
  });

  it('a client abort reaches the server app as a reset, never a FIN', async () => {
    let serverSaw: Promise<'fin' | 'reset'> | undefined;
    behaviour = (stream) => {
      accept(stream as never);
      serverSaw = outcome(stream);
    };
    const client = await open();
    const { stream } = await connect(client);
    stream.write('partial');
    await until(() => serverSaw !== undefined, 'the server stream');
    stream.close(8);
    expect(await serverSaw).toBe('reset');
    finish(client);
  });

  it('a server abort reaches the client app as a reset, never a FIN', async () => {
    behaviour = (stream) => {
      accept(stream as never);
      stream.once('data', () => stream.close(8));
    };
    const client = await open();
    const { stream } = await connect(client);
    const clientSaw = outcome(stream);
    stream.write('trigger');
    expect(await clientSaw).toBe('reset');
    finish(client);
  });

  it('drains on a graceful server close: the open stream finishes, then the connection ends', async () => {
    let release: (() => void) | undefined;
    behaviour = (stream) => {
      accept(stream as never);
      // Answer only when told, after the GOAWAY went out.
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      const ended = new Promise((resolve) => stream.once('end', resolve));
      release = () => void ended.then(() => stream.end(Buffer.concat(chunks)));
    };
    const client = await open();
    const { stream } = await connect(client);
    const received = drain(stream);
    stream.end('in flight');
    await until(() => release !== undefined, 'the server stream');
    const closed = new Promise<void>((resolve) =>
      (client as { once(e: 'close', l: () => void): void }).once('close', resolve),
    );
    const goaway = new Promise<void>((resolve) =>
      (client as { once(e: 'goaway', l: () => void): void }).once('goaway', () => resolve()),
    );
    if (serverKind === 'framer')
      for (const c of (server as Awaited<ReturnType<typeof framerServer>>).connections) c.close();
    else for (const s of (server as Awaited<ReturnType<typeof nodeServer>>).sessions) s.close();
    await goaway;
    release!();
    expect((await received).sha256).toBe(sha256('in flight'));
    await closed;
  });
});
