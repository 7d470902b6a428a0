/**
 * The syscall module, call by call, against real namespaces this file creates (success and failure paths).
 * Capture with real rules (SO_ORIGINAL_DST after REDIRECT, spoofed sources) is proven in
 * test/integration/redirect-capture.test.ts.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import type dgram from 'node:dgram';
import { once } from 'node:events';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SystemError } from '../../src/core/errors.ts';
import {
  bindUdp,
  connectTcp,
  isSocketInNetns,
  listenTcp,
  Netns,
  originalDestination,
  socketFd,
  socketMark,
  socketNetnsInode,
  tcpListenerFd,
} from '../../src/core/sys/netns-socket.ts';
import { decodeSockaddr, encodeSockaddr } from '../../src/core/sys/sockaddr.ts';
import { createNetnsPair, type NetnsPair, nsExec } from '../support/netns-fixture.ts';
import { canRunNetnsTests } from '../support/privileges.ts';

function errnoOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof SystemError) return error.errno;
    throw error;
  }
  return undefined;
}

async function rejectedErrno(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof SystemError) return error.errno;
    throw error;
  }
  return undefined;
}

describe('sockaddr encoding', () => {
  it('round-trips IPv4 and IPv6 socket addresses', () => {
    const v4 = encodeSockaddr('10.1.2.3', 8080);
    expect(v4.length).toBe(16);
    expect([...v4.subarray(0, 8)]).toEqual([2, 0, 0x1f, 0x90, 10, 1, 2, 3]);
    expect(decodeSockaddr(v4)).toEqual({ address: '10.1.2.3', port: 8080, family: 4 });
    const v6 = encodeSockaddr('fd00::1:2', 53);
    expect(v6.length).toBe(28);
    expect(decodeSockaddr(v6)).toEqual({ address: 'fd00::1:2', port: 53, family: 6 });
  });

  it('refuses host names, bad ports and foreign families', () => {
    expect(() => encodeSockaddr('example.com', 80)).toThrow(/not an IPv4 or IPv6 address/);
    expect(() => encodeSockaddr('10.0.0.1', 70000)).toThrow(/out of range/);
    expect(() => decodeSockaddr(Buffer.from([1, 0, 0, 0]))).toThrow(/not a sockaddr/);
  });
});

describe.runIf(canRunNetnsTests())('netns sockets', () => {
  let pair: NetnsPair;
  let pod: Netns;
  const cleanups: Array<() => void> = [];

  beforeAll(() => {
    pair = createNetnsPair('sy');
    pod = Netns.open(pair.podPath);
  });

  afterAll(() => {
    for (const cleanup of cleanups.reverse()) cleanup();
    pod?.close();
    pair?.destroy();
  });

  function track<T extends net.Server | net.Socket | dgram.Socket>(thing: T): T {
    cleanups.push(() => {
      if (thing instanceof net.Server) thing.close();
      else if (thing instanceof net.Socket) thing.destroy();
      else thing.close();
    });
    return thing;
  }

  describe('Netns.open', () => {
    it('opens a netns by path and reads its identity', () => {
      const again = Netns.open(`/run/netns/${pair.pod}`);
      try {
        expect(again.inode).toBe(pod.inode);
        expect(again.inode).not.toBe(Netns.current().inode);
      } finally {
        again.close();
      }
    });

    it('fails with ENOENT for a missing path', () => {
      expect(errnoOf(() => Netns.open('/run/netns/ambit-no-such-netns'))).toBe('ENOENT');
    });

    it('refuses a file that is not a namespace, and a namespace of another type', () => {
      expect(() => Netns.open('/etc/hostname')).toThrow(/is not a namespace/);
      expect(errnoOf(() => Netns.open('/proc/self/ns/uts'))).toBe('EINVAL');
    });

    it('refuses to create sockets through a closed handle', () => {
      const handle = Netns.open(pair.podPath);
      handle.close();
      expect(errnoOf(() => tcpListenerFd(handle, { address: '127.0.0.1', port: 0 }))).toBe('EBADF');
    });
  });

  describe('listenTcp', () => {
    it('listens inside the netns, not in ours', async () => {
      const server = track(await listenTcp(pod, { address: '127.0.0.1', port: 0 }));
      const { port } = server.address() as net.AddressInfo;
      expect(isSocketInNetns(server, pod)).toBe(true);
      expect(socketNetnsInode(server)).not.toBe(Netns.current().inode);
      server.on('connection', (sock) => sock.end('hello from the pod\n'));
      // A real process in the pod namespace reaches it on the pod's loopback.
      expect(await nsExec(pair.pod, ['socat', '-T2', '-', `TCP:127.0.0.1:${port}`], '')).toBe(
        'hello from the pod\n',
      );
    });

    it('listens on IPv6 (v6-only by default, so an IPv4 listener can share the port)', async () => {
      const v6 = track(await listenTcp(pod, { address: '::', port: 0 }));
      const { port } = v6.address() as net.AddressInfo;
      const v4 = track(await listenTcp(pod, { address: '0.0.0.0', port }));
      expect((v4.address() as net.AddressInfo).port).toBe(port);
      v6.on('connection', (sock) => sock.end('v6\n'));
      expect(await nsExec(pair.pod, ['socat', '-T2', '-', `TCP6:[::1]:${port}`], '')).toBe('v6\n');
    });

    it('fails with EADDRINUSE when the port is taken in that netns', async () => {
      const first = track(await listenTcp(pod, { address: '127.0.0.1', port: 0 }));
      const { port } = first.address() as net.AddressInfo;
      expect(await rejectedErrno(listenTcp(pod, { address: '127.0.0.1', port }))).toBe('EADDRINUSE');
    });

    it('fails with EADDRNOTAVAIL for an address the netns does not have, unless transparent', async () => {
      expect(await rejectedErrno(listenTcp(pod, { address: '192.0.2.1', port: 0 }))).toBe('EADDRNOTAVAIL');
      const server = track(await listenTcp(pod, { address: '192.0.2.1', port: 0, transparent: true }));
      expect(isSocketInNetns(server, pod)).toBe(true);
    });
  });

  describe('connectTcp', () => {
    it('connects from inside the netns with a mark', async () => {
      const server = track(await listenTcp(pod, { address: '127.0.0.1', port: 0 }));
      const accepted = once(server, 'connection') as Promise<[net.Socket]>;
      const client = track(
        await connectTcp(pod, {
          address: '127.0.0.1',
          port: (server.address() as net.AddressInfo).port,
          mark: 0x539,
        }),
      );
      const [peer] = await accepted;
      track(peer);
      expect(isSocketInNetns(client, pod)).toBe(true);
      expect(socketMark(client)).toBe(0x539);
      expect(peer.remotePort).toBe(client.localPort);
      client.write('ping');
      const [data] = (await once(peer, 'data')) as [Buffer];
      expect(data.toString()).toBe('ping');
    });

    it('binds the requested source before connecting', async () => {
      const server = track(await listenTcp(pod, { address: '0.0.0.0', port: 0 }));
      const accepted = once(server, 'connection') as Promise<[net.Socket]>;
      const port = (server.address() as net.AddressInfo).port;
      const client = track(await connectTcp(pod, { address: pair.podIp, port, localAddress: '127.0.0.1' }));
      const [peer] = await accepted;
      track(peer);
      expect(client.localAddress).toBe('127.0.0.1');
      expect(peer.remoteAddress).toBe('127.0.0.1');
    });

    it("picks a bound source's port at connect, per destination, not at bind (IP_BIND_ADDRESS_NO_PORT)", async () => {
      // The pod's range is narrowed to two ports, both held by connections to one listener: a bind-time pick
      // (EADDRINUSE) would refuse a third source connection, although another destination can reuse both.
      const [first, second] = await Promise.all(
        [0, 1].map(async () => track(await listenTcp(pod, { address: '127.0.0.1', port: 0 }))),
      );
      const range = (await nsExec(pair.pod, ['sysctl', '-n', 'net.ipv4.ip_local_port_range'])).trim();
      await nsExec(pair.pod, ['sysctl', '-qw', 'net.ipv4.ip_local_port_range=40000 40001']);
      try {
        const portOf = (server: net.Server) => (server.address() as net.AddressInfo).port;
        const from = { address: '127.0.0.1', localAddress: '127.0.0.1' };
        const held = await Promise.all(
          [0, 1].map(async () => track(await connectTcp(pod, { ...from, port: portOf(first!) }))),
        );
        expect(held.map((socket) => socket.localPort).sort()).toEqual([40000, 40001]);
        // Every 4-tuple to the first listener is taken; to the second, each port is free again.
        expect(await rejectedErrno(connectTcp(pod, { ...from, port: portOf(first!) }))).toBe('EADDRNOTAVAIL');
        const other = track(await connectTcp(pod, { ...from, port: portOf(second!) }));
        expect([40000, 40001]).toContain(other.localPort);
      } finally {
        await nsExec(pair.pod, [
          'sysctl',
          '-qw',
          `net.ipv4.ip_local_port_range=${range.replace(/\s+/, ' ')}`,
        ]);
      }
    });

    it('rejects with ECONNREFUSED when nothing listens in that netns', async () => {
      const probe = track(await listenTcp(pod, { address: '127.0.0.1', port: 0 }));
      const port = (probe.address() as net.AddressInfo).port;
      await new Promise<void>((resolve) => probe.close(() => resolve()));
      expect(await rejectedErrno(connectTcp(pod, { address: '127.0.0.1', port }))).toBe('ECONNREFUSED');
    });

    it('rejects with EADDRNOTAVAIL for a spoofed source without the transparent flag', async () => {
      const errno = await rejectedErrno(
        connectTcp(pod, { address: pair.clientIp, port: 9, localAddress: '192.0.2.77' }),
      );
      expect(errno).toBe('EADDRNOTAVAIL');
    });

    it('times out with ETIMEDOUT', async () => {
      // The client namespace drops SYNs to this port, so the connect hangs until our timeout.
      execFileSync('ip', ['netns', 'exec', pair.client, 'nft', '-f', '-'], {
        input: 'table inet blackhole { chain in { type filter hook input priority 0; tcp dport 9 drop; }; }',
      });
      const errno = await rejectedErrno(connectTcp(pod, { address: pair.clientIp, port: 9, timeoutMs: 300 }));
      expect(errno).toBe('ETIMEDOUT');
    });
  });

  describe('bindUdp', () => {
    it('binds a UDP socket inside the netns and exchanges datagrams', async () => {
      const sock = track(await bindUdp(pod, { address: '127.0.0.1', port: 0, mark: 0x539 }));
      expect(isSocketInNetns(sock, pod)).toBe(true);
      expect(socketMark(sock)).toBe(0x539);
      expect(socketFd(sock)).toBeGreaterThan(2);
      sock.on('message', (msg, from) =>
        sock.send(Buffer.concat([Buffer.from('re:'), msg]), from.port, from.address),
      );
      const port = sock.address().port;
      expect(await nsExec(pair.pod, ['socat', '-T2', '-', `UDP:127.0.0.1:${port}`], 'hi')).toBe('re:hi');
    });

    it('fails with EADDRINUSE on a taken port', async () => {
      const first = track(await bindUdp(pod, { address: '127.0.0.1', port: 0 }));
      expect(await rejectedErrno(bindUdp(pod, { address: '127.0.0.1', port: first.address().port }))).toBe(
        'EADDRINUSE',
      );
    });
  });

  describe('originalDestination', () => {
    it('fails with ENOENT on a connection that was not redirected', async () => {
      const server = track(await listenTcp(pod, { address: '127.0.0.1', port: 0 }));
      const accepted = once(server, 'connection') as Promise<[net.Socket]>;
      track(
        await connectTcp(pod, { address: '127.0.0.1', port: (server.address() as net.AddressInfo).port }),
      );
      const [peer] = await accepted;
      track(peer);
      expect(errnoOf(() => originalDestination(peer))).toBe('ENOENT');
    });
  });

  describe('without privileges', () => {
    // A child process with fewer privileges runs the module: `nobody` cannot setns at all; root without
    // CAP_NET_ADMIN and CAP_NET_RAW (dropped from the bounding set) can enter the netns but cannot set SO_MARK.
    function run(privileges: string[], code: string): string {
      const moduleUrl = new URL('../../src/core/sys/netns-socket.ts', import.meta.url).href;
      const script = `import * as m from ${JSON.stringify(moduleUrl)};\n${code}`;
      const result = spawnSync(
        'setpriv',
        [...privileges, process.execPath, '--input-type=module', '-e', script],
        {
          encoding: 'utf8',
          env: { PATH: process.env.PATH ?? '' },
        },
      );
      return `${result.stdout}${result.stderr}`.trim();
    }

    it('setns fails with EPERM', () => {
      const out = run(
        ['--reuid=65534', '--regid=65534', '--clear-groups'],
        `const ns = m.Netns.open(${JSON.stringify(pair.podPath)});\n` +
          `try { m.tcpListenerFd(ns, { address: '127.0.0.1', port: 0 }); console.log('no error'); }\n` +
          'catch (e) { console.log(e.errno); }',
      );
      expect(out).toBe('EPERM');
    });

    it('SO_MARK fails with EPERM, and the fd is closed rather than leaked', () => {
      const out = run(
        ['--bounding-set=-net_admin,-net_raw'],
        `const ns = m.Netns.open(${JSON.stringify(pair.podPath)});\n` +
          'const { readdirSync } = await import("node:fs");\n' +
          'const attempt = () => { try { m.tcpListenerFd(ns, { address: "127.0.0.1", port: 0, mark: 0x539 }); return "no error"; } catch (e) { return e.message; } };\n' +
          // The first attempt also opens the module's one saved fd of our own netns; count from the second.
          'attempt(); const before = readdirSync("/proc/self/fd").length;\n' +
          'console.log(attempt()); console.log(readdirSync("/proc/self/fd").length - before);',
      );
      expect(out).toBe('setsockopt(SO_MARK): EPERM\n0');
    });
  });
});
