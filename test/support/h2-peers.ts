/**
 * Loopback HBONE-style peers for interop tests of the framer: an mTLS server and client on our framer and
 * on `node:http2`, with one test CA, and helpers for sha256-checked transfers.
 */
import { createHash } from 'node:crypto';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import { H2Connection, type H2ConnectionOptions } from '../../src/core/hbone/h2/connection.ts';
import type { H2Stream, HeaderMap } from '../../src/core/hbone/h2/stream.ts';
import { TestCa } from './test-ca.ts';

export const STREAM_WINDOW = 4 << 20;
export const CONNECTION_WINDOW = 16 << 20;

export function testPki() {
  const ca = new TestCa();
  const server = ca.issue('spiffe://cluster.local/ns/interop/sa/server', {
    uris: ['spiffe://cluster.local/ns/interop/sa/server'],
    dnsNames: ['hbone.ambit.internal'],
  });
  const client = ca.issue('spiffe://cluster.local/ns/interop/sa/client');
  return { ca, server, client };
}
export type Pki = ReturnType<typeof testPki>;

const tlsBase = (pki: Pki) => ({
  ca: [pki.ca.certPem],
  minVersion: 'TLSv1.3' as const,
  ALPNProtocols: ['h2'],
});

/** Our framer as a server; `onStream` decides what each stream does. */
export async function framerServer(
  pki: Pki,
  onStream: (stream: H2Stream, headers: HeaderMap, connection: H2Connection) => void,
  options: Partial<H2ConnectionOptions> = {},
) {
  const connections = new Set<H2Connection>();
  const server = tls.createServer(
    { ...tlsBase(pki), cert: pki.server.certPem, key: pki.server.keyPem, requestCert: true },
    (socket) => {
      socket.setNoDelay(true);
      const connection = new H2Connection(socket, {
        role: 'server',
        settings: { maxConcurrentStreams: 1000 },
        ...options,
      });
      connections.add(connection);
      connection.on('error', () => {});
      connection.on('close', () => connections.delete(connection));
      connection.on('stream', (stream, headers) => {
        stream.on('error', () => {});
        onStream(stream, headers, connection);
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections,
    close: () => {
      for (const c of connections) c.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** `node:http2` as a server with HBONE's windows. */
export async function nodeServer(
  pki: Pki,
  onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void,
) {
  const server = http2.createSecureServer({
    ...tlsBase(pki),
    cert: pki.server.certPem,
    key: pki.server.keyPem,
    requestCert: true,
    settings: { initialWindowSize: STREAM_WINDOW, maxConcurrentStreams: 1000 },
    maxSessionMemory: 64,
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('error', () => {});
    session.once('close', () => sessions.delete(session));
    session.once('connect', () => session.setLocalWindowSize(CONNECTION_WINDOW));
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    onStream(stream, headers);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    sessions,
    close: () => {
      for (const s of sessions) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Our framer as a client, connected and past the peer's SETTINGS. */
export async function framerClient(pki: Pki, port: number): Promise<H2Connection> {
  const socket = tls.connect({
    ...tlsBase(pki),
    host: '127.0.0.1',
    port,
    cert: pki.client.certPem,
    key: pki.client.keyPem,
    servername: 'hbone.ambit.internal',
  });
  socket.setNoDelay(true);
  const connection = new H2Connection(socket, { role: 'client' });
  connection.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    connection.once('connect', resolve);
    connection.once('close', () => reject(new Error('closed before SETTINGS')));
  });
  return connection;
}

export async function nodeClient(pki: Pki, port: number): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`https://127.0.0.1:${port}`, {
    ...tlsBase(pki),
    cert: pki.client.certPem,
    key: pki.client.keyPem,
    servername: 'hbone.ambit.internal',
    settings: { initialWindowSize: STREAM_WINDOW },
    maxSessionMemory: 64,
  });
  session.on('error', () => {});
  await new Promise((resolve) => session.once('connect', resolve));
  session.setLocalWindowSize(CONNECTION_WINDOW);
  return session;
}

/** A CONNECT on either client; resolves with the stream once the response headers arrived. */
export function connect(
  client: H2Connection | http2.ClientHttp2Session,
  authority = '10.0.0.1:80',
): Promise<{ stream: Duplex & { rstCode?: number; close(code?: number): void }; status: number }> {
  const stream =
    client instanceof H2Connection
      ? client.request({ ':method': 'CONNECT', ':authority': authority })
      : client.request({ ':method': 'CONNECT', ':authority': authority }, { endStream: false });
  stream.on('error', () => {});
  return new Promise((resolve, reject) => {
    stream.once('response', (headers: Record<string, unknown>) =>
      resolve({ stream, status: Number(headers[':status']) }),
    );
    stream.once('close', () => reject(new Error(`stream closed before a response (code ${stream.rstCode})`)));
  });
}

/** Answers 200 on either server stream. */
export function accept(stream: H2Stream | http2.ServerHttp2Stream): void {
  stream.respond({ ':status': 200 });
}

export const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** Everything a readable side delivers until its end, hashed; rejects if it ends by error/reset instead. */
export function drain(stream: Duplex): Promise<{ bytes: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let bytes = 0;
    stream.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      hash.update(chunk);
    });
    stream.once('end', () => resolve({ bytes, sha256: hash.digest('hex') }));
    stream.once('error', reject);
    stream.once('close', () => {
      if (!stream.readableEnded) reject(new Error('closed without END_STREAM'));
    });
  });
}

/** How a stream ended for its app: 'fin' (clean END_STREAM) or 'reset' (error or RST_STREAM). */
export function outcome(stream: Duplex & { rstCode?: number }): Promise<'fin' | 'reset'> {
  return new Promise((resolve) => {
    let errored = false;
    stream.on('error', () => {
      errored = true;
    });
    stream.on('data', () => {});
    stream.once('close', () => {
      const reset =
        errored || (stream.rstCode !== undefined && stream.rstCode !== 0) || !stream.readableEnded;
      resolve(reset ? 'reset' : 'fin');
    });
  });
}

/** Waits until `condition` holds (checked every 20 ms), failing after `timeoutMs`. */
export async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
