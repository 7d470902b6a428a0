/**
 * Interop of the framer with hyperium's `h2` crate (what Istio's ztunnel is built on), both directions: a
 * small Rust HBONE peer (test/interop/rust-hbone-peer, built offline from Debian's packaged crates) as the
 * server for our client and as the client of our server. Transfers are sha256-checked.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { H2Connection } from '../../src/core/hbone/h2/connection.ts';
import type { H2Stream } from '../../src/core/hbone/h2/stream.ts';
import {
  accept,
  connect,
  drain,
  framerClient,
  framerServer,
  outcome,
  type Pki,
  STREAM_WINDOW,
  sha256,
  testPki,
  until,
} from '../support/h2-peers.ts';

const PEER_DIR = new URL('./rust-hbone-peer/', import.meta.url).pathname;
const PEER = join(PEER_DIR, 'target', 'release', 'hbone-peer');

/** Builds the peer (a no-op when up to date; offline, from /usr/share/cargo/registry, which .ci/run fills). */
function buildPeer(): void {
  execFileSync('cargo', ['build', '--release', '--offline', '--quiet'], { cwd: PEER_DIR, stdio: 'inherit' });
}

let pki: Pki;
let dir: string;
let files: { ca: string; cert: string; key: string; clientCert: string; clientKey: string };
const children: ChildProcess[] = [];

beforeAll(() => {
  buildPeer();
  pki = testPki();
  dir = mkdtempSync(join(tmpdir(), 'ambit-h2-interop-'));
  const write = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  files = {
    ca: write('ca.pem', pki.ca.certPem),
    cert: write('server.pem', pki.server.certPem),
    key: write('server.key', pki.server.keyPem),
    clientCert: write('client.pem', pki.client.certPem),
    clientKey: write('client.key', pki.client.keyPem),
  };
}, 300_000);

afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the Rust client against `port`; resolves with its JSON report and exit code. */
function rustClient(
  port: number,
  args: string[],
): Promise<{ code: number | null; report: Record<string, unknown> }> {
  const child = spawn(
    PEER,
    [
      'client',
      '--addr',
      `127.0.0.1:${port}`,
      '--ca',
      files.ca,
      '--cert',
      files.clientCert,
      '--key',
      files.clientKey,
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(child);
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c;
  });
  return new Promise((resolve) =>
    child.once('exit', (code) => resolve({ code, report: out.trim() ? JSON.parse(out.trim()) : {} })),
  );
}

describe('Rust h2 client -> framer server', () => {
  let onStream: (stream: H2Stream, connection: H2Connection) => void = () => {};
  let server: Awaited<ReturnType<typeof framerServer>>;
  const echo = (stream: H2Stream) => {
    accept(stream);
    stream.pipe(stream);
  };
  beforeAll(async () => {
    server = await framerServer(pki, (stream, _headers, connection) => onStream(stream, connection));
  });
  afterAll(() => server.close());

  it('echoes 16 MiB intact on one stream (h2 sends DATA frames up to our 1 MiB - 1)', async () => {
    onStream = echo;
    const { code, report } = await rustClient(server.port, ['--streams', '1', '--bytes', String(16 << 20)]);
    expect(report).toMatchObject({ streams: 1, status200: 1, intact: 1, echoed: 16 << 20 });
    expect(code).toBe(0);
  });

  it('carries 200 concurrent streams intact', async () => {
    onStream = echo;
    const { code, report } = await rustClient(server.port, ['--streams', '200', '--bytes', String(64 << 10)]);
    expect(report).toMatchObject({ streams: 200, status200: 200, intact: 200 });
    expect(code).toBe(0);
  });

  it('holds the stream by flow control while our app does not read, then delivers it all', async () => {
    const held: number[] = [];
    onStream = (stream) => {
      accept(stream);
      stream.pause();
      // Let h2 fill the window, note what we hold, then echo everything.
      void until(() => stream.readableLength >= STREAM_WINDOW / 2, 'the window to fill').then(async () => {
        await new Promise((resolve) => setTimeout(resolve, 300));
        held.push(stream.readableLength);
        stream.pipe(stream);
        stream.resume();
      });
    };
    const { code, report } = await rustClient(server.port, ['--streams', '1', '--bytes', String(16 << 20)]);
    expect(report).toMatchObject({ intact: 1 });
    expect(code).toBe(0);
    expect(held[0]).toBeLessThanOrEqual(STREAM_WINDOW + (64 << 10));
  });

  it('a reset from the h2 client reaches our app as a reset', async () => {
    const seen: Promise<'fin' | 'reset'>[] = [];
    onStream = (stream) => {
      seen.push(outcome(stream));
      echo(stream);
    };
    const { code } = await rustClient(server.port, [
      '--streams',
      '10',
      '--bytes',
      String(1 << 20),
      '--reset',
    ]);
    expect(code).toBe(0);
    expect(await Promise.all(seen)).toEqual(Array(10).fill('reset'));
  });

  it('drains on our GOAWAY: the open stream completes and the h2 client sees the connection end', async () => {
    onStream = (stream, connection) => {
      echo(stream);
      connection.close();
    };
    const { code, report } = await rustClient(server.port, ['--streams', '1', '--bytes', String(4 << 20)]);
    expect(report).toMatchObject({ streams: 1, intact: 1 });
    expect(code).toBe(0);
  });
});

describe('framer client -> Rust h2 server', () => {
  let server: ChildProcess;
  let port = 0;
  beforeAll(async () => {
    server = spawn(
      PEER,
      ['server', '--ca', files.ca, '--cert', files.cert, '--key', files.key, '--stall-ms', '1500'],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    children.push(server);
    port = await new Promise<number>((resolve, reject) => {
      server.stdout!.once('data', (c: Buffer) => resolve(Number(/listening (\d+)/.exec(String(c))?.[1])));
      server.once('exit', (code) => reject(new Error(`hbone-peer server exited with ${code}`)));
    });
  });
  afterAll(() => {
    server.kill('SIGTERM');
  });

  it('moves 16 MiB each way intact through the h2 echo', async () => {
    const client = await framerClient(pki, port);
    const payload = randomBytes(16 << 20);
    const { stream, status } = await connect(client, '10.0.0.1:1');
    expect(status).toBe(200);
    const received = drain(stream);
    stream.end(payload);
    expect(await received).toEqual({ bytes: payload.length, sha256: sha256(payload) });
    client.destroy();
  });

  it('carries 200 concurrent streams to h2 without crossing them', async () => {
    const client = await framerClient(pki, port);
    const results = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const payload = randomBytes(16 * 1024 + i);
        const { stream } = await connect(client, '10.0.0.1:1');
        const received = drain(stream);
        stream.end(payload);
        return (await received).sha256 === sha256(payload);
      }),
    );
    expect(results.filter(Boolean)).toHaveLength(200);
    client.destroy();
  });

  it('is held by h2 flow control while the h2 side does not read, then everything arrives (sha256 echoed)', async () => {
    const client = await framerClient(pki, port);
    const payload = randomBytes(16 << 20);
    const { stream } = await connect(client, '10.0.0.1:3');
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise((resolve) => stream.once('end', resolve));
    let acknowledged = 0;
    const writing = (async () => {
      for (let at = 0; at < payload.length; at += 64 << 10) {
        await new Promise<void>((resolve, reject) =>
          stream.write(payload.subarray(at, at + (64 << 10)), (e) => (e ? reject(e) : resolve())),
        );
        acknowledged = at + (64 << 10);
      }
      stream.end();
    })();
    let previous = -1;
    await until(() => {
      const settled = acknowledged === previous && acknowledged > 0;
      previous = acknowledged;
      return settled;
    }, 'the writer to stall');
    // h2 stalls for 1.5 s: what we sent so far is bounded by its stream window plus our buffers.
    expect(acknowledged).toBeLessThan(payload.length / 2);
    await writing;
    await ended;
    expect(Buffer.concat(chunks).toString()).toBe(sha256(payload));
    client.destroy();
  });

  it('a reset from the h2 server reaches our app as a reset (RST_STREAM CANCEL)', async () => {
    const client = await framerClient(pki, port);
    const { stream } = await connect(client, '10.0.0.1:2');
    const seen = outcome(stream);
    stream.write('trigger');
    expect(await seen).toBe('reset');
    expect(stream.rstCode).toBe(8);
    client.destroy();
  });

  it('the h2 server half-closes first; our side still sends, then both end cleanly', async () => {
    const client = await framerClient(pki, port);
    const { stream } = await connect(client, '10.0.0.1:6');
    const seen = outcome(stream);
    const received = drain(stream);
    expect((await received).sha256).toBe(sha256('hello'));
    stream.end(randomBytes(1 << 20));
    expect(await seen).toBe('fin');
    client.destroy();
  });

  it('drains on the h2 GOAWAY: the stream completes and the connection then closes', async () => {
    const client = await framerClient(pki, port);
    const goaway = new Promise<number>((resolve) => client.once('goaway', (code) => resolve(code)));
    const closed = new Promise<void>((resolve) => client.once('close', resolve));
    const { stream } = await connect(client, '10.0.0.1:5');
    const received = drain(stream);
    expect(await goaway).toBe(0);
    const payload = randomBytes(1 << 20);
    stream.end(payload);
    expect((await received).sha256).toBe(sha256(payload));
    await closed;
  });
});
