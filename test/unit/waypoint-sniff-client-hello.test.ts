/**
 * Reading a TLS ClientHello's server name off a real connection without answering it (what a DYNAMIC_DNS
 * TLS port and an ingress passthrough port route by): Node's own TLS client on loopback with a name, or with
 * none (dialling an address); plain bytes; silence until the deadline; a peer that closes. The bytes read
 * stay in the stream for whoever takes it next.
 */
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HelloRead, sniffClientHello } from '../../src/waypoint/inbound/sniff.ts';

describe('sniffClientHello', () => {
  let server: net.Server;
  let port = 0;
  /** What to do with the next accepted sockets, in order. */
  const accepted: ((socket: net.Socket) => void)[] = [];

  beforeAll(async () => {
    server = net.createServer((socket) => accepted.shift()?.(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** Connects with `open`, sniffs the server side, and reports what was read and what byte is left. */
  const sniffed = (open: () => net.Socket, timeoutMs = 5_000) =>
    new Promise<{ hello: HelloRead; firstByte: number | undefined }>((resolve) => {
      let client: net.Socket | undefined;
      accepted.push((socket) => {
        socket.on('error', () => undefined);
        sniffClientHello(socket, timeoutMs).then((hello) => {
          const left = socket.read(1) as Buffer | null;
          client?.destroy();
          socket.destroy();
          resolve({ hello, firstByte: left?.[0] });
        });
      });
      client = open();
      client.on('error', () => undefined);
    });

  it.each([
    [
      'a TLS client with a name',
      'Shop.Partner.test',
      { kind: 'clientHello', serverName: 'shop.partner.test' },
    ],
    ['a TLS client dialling an address (no SNI)', undefined, { kind: 'clientHello', serverName: undefined }],
  ])('%s', async (_what, servername, expected) => {
    const result = await sniffed(() =>
      tls.connect({ host: '127.0.0.1', port, ...(servername && { servername }), rejectUnauthorized: false }),
    );
    expect(result.hello).toEqual(expected);
    // The hello is still there, from its first byte (a TLS handshake record).
    expect(result.firstByte).toBe(0x16);
  });

  it('plain bytes are not TLS, and stay in the stream', async () => {
    const result = await sniffed(() =>
      net.connect(port, '127.0.0.1', function (this: net.Socket) {
        this.write('GET / HTTP/1.1\r\n\r\n');
      }),
    );
    expect(result).toEqual({ hello: { kind: 'notTls' }, firstByte: 'G'.charCodeAt(0) });
  });

  it('a client that says nothing gets the deadline; one that leaves is not TLS', async () => {
    expect((await sniffed(() => net.connect(port, '127.0.0.1'), 50)).hello).toEqual({ kind: 'timeout' });
    const leaving = await sniffed(() =>
      net.connect(port, '127.0.0.1', function (this: net.Socket) {
        this.end();
      }),
    );
    expect(leaving.hello).toEqual({ kind: 'notTls' });
  });
});
