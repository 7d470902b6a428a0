/**
 * Sockets inside another network namespace, with the options Node cannot set: the typed API over `libc.ts`
 * that the redirect agent, the ztunnel and the local cluster use for every socket they open in a pod's netns.
 *
 * How it works: the socket *fd* is created with setns() around socket() only, on the calling thread, and the
 * thread switches straight back (nothing else runs in between: it is one synchronous JS call). A socket stays
 * in the namespace it was created in, so options, bind, listen and connect can happen afterwards from our own
 * namespace, and the fd is handed to Node (`net.Server.listen({fd})`, `net.Socket({fd}).connect()`,
 * `dgram.Socket.bind({fd})`). Never wrap Node's own socket calls in setns instead: Node creates its socket a
 * tick later, after the switch back, so it would land in the agent's namespace.
 *
 * Facts found by trying (Node 24, Linux 6.x):
 * - `new net.Socket({fd})` on a bound but unconnected TCP fd, then `.connect({host, port})`, connects *that*
 *   fd: Node reuses the handle it adopted, so the mark, the transparent flag and the source bound here hold.
 * - `dgram.Socket.bind({fd})` adopts a bound UDP fd (Node's dgram cannot create one with these options).
 * - ioctl(SIOCGSKNS) on a socket gives an fd of its namespace; its inode equals the inode of the netns path.
 */
import dgram from 'node:dgram';
import { closeSync, constants as fsConstants, fstatSync, openSync } from 'node:fs';
import net from 'node:net';
import { errorMessage, SystemError } from '../errors.ts';
import {
  bind,
  CLONE_NEWNET,
  close,
  getOption,
  IP_BIND_ADDRESS_NO_PORT,
  IP_TRANSPARENT,
  IPV6_TRANSPARENT,
  IPV6_V6ONLY,
  listen,
  namespaceType,
  SO_MARK,
  SO_ORIGINAL_DST,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SOCK_DGRAM,
  SOCK_STREAM,
  SOL_IP,
  SOL_IPV6,
  SOL_SOCKET,
  setIntOption,
  setns,
  socket,
  socketNetnsFd,
} from './libc.ts';
import {
  addressFamilyConstant,
  decodeSockaddr,
  encodeSockaddr,
  familyOf,
  type IpFamily,
  SOCKADDR_IN_SIZE,
  SOCKADDR_IN6_SIZE,
  type SocketAddress,
} from './sockaddr.ts';

export type { IpFamily, SocketAddress } from './sockaddr.ts';

/** An open network namespace. Holding the fd keeps the namespace alive and pins it even if its path goes. */
export class Netns {
  readonly path: string;
  readonly fd: number;
  /** Identity of the namespace (the nsfs inode), what `ip netns identify` and `/proc/<pid>/ns/net` compare. */
  readonly inode: bigint;
  #closed = false;

  private constructor(path: string, fd: number, inode: bigint) {
    this.path = path;
    this.fd = fd;
    this.inode = inode;
  }

  /** Opens `/run/netns/<name>`, `/proc/<pid>/ns/net` or any bind mount of a netns; checks it is one. */
  static open(path: string): Netns {
    let fd: number;
    try {
      fd = openSync(path, fsConstants.O_RDONLY);
    } catch (error) {
      throw new SystemError(`cannot open network namespace ${path}`, (error as NodeJS.ErrnoException).code);
    }
    try {
      let type: number;
      try {
        type = namespaceType(fd);
      } catch (error) {
        throw new SystemError(`${path} is not a namespace`, (error as SystemError).errno);
      }
      if (type !== CLONE_NEWNET) throw new SystemError(`${path} is not a network namespace`, 'EINVAL');
      return new Netns(path, fd, fstatSync(fd, { bigint: true }).ino);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  /** The namespace the calling thread is in now (the agent's own). */
  static current(): Netns {
    return Netns.open('/proc/thread-self/ns/net');
  }

  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeSync(this.fd);
  }
}

/** Options every socket opened in a netns may carry. */
export interface NetnsSocketOptions {
  /** SO_MARK (needs CAP_NET_ADMIN or CAP_NET_RAW). The agent marks its sockets 0x539 so the capture rules skip them. */
  mark?: number | undefined;
  /** IP_TRANSPARENT / IPV6_TRANSPARENT: bind a non-local (spoofed) source, or accept TPROXY traffic. */
  transparent?: boolean | undefined;
  reuseAddress?: boolean | undefined;
  reusePort?: boolean | undefined;
}

export interface NetnsListenOptions extends NetnsSocketOptions {
  /** Local address (`0.0.0.0`, `::`, `127.0.0.1`...); its family picks IPv4 or IPv6. */
  address: string;
  /** 0 picks a free port (read it back with `server.address()`). */
  port: number;
  /** TCP only; 511 like Node. */
  backlog?: number | undefined;
  /** IPv6 only; default true, so an IPv4 listener on the same port can coexist. */
  v6Only?: boolean | undefined;
}

export interface NetnsConnectOptions extends NetnsSocketOptions {
  address: string;
  port: number;
  /** Source address to bind before connecting; with `transparent` it may be a non-local (spoofed) one. */
  localAddress?: string | undefined;
  localPort?: number | undefined;
  /** Give up (ETIMEDOUT) if not connected by then. */
  timeoutMs?: number | undefined;
  /** Passed to the Node socket (tunnels need half-open sockets). */
  allowHalfOpen?: boolean | undefined;
}

let ownNetnsFd: number | undefined;

/**
 * Creates a socket fd inside `netns`. The only place the thread leaves its own namespace; it always comes
 * back before returning. If it could not come back, every later socket would be created in a pod's
 * namespace, so the process aborts instead (fail closed; this needs a kernel bug or a closed fd).
 */
export function socketInNetns(netns: Netns, family: IpFamily, type: 'tcp' | 'udp'): number {
  if (netns.closed) throw new SystemError(`network namespace ${netns.path} is closed`, 'EBADF');
  ownNetnsFd ??= openSync('/proc/thread-self/ns/net', fsConstants.O_RDONLY);
  setns(netns.fd, CLONE_NEWNET);
  try {
    return socket(addressFamilyConstant(family), type === 'tcp' ? SOCK_STREAM : SOCK_DGRAM);
  } finally {
    try {
      setns(ownNetnsFd, CLONE_NEWNET);
    } catch (error) {
      process.stderr.write(`ambit: cannot return to the agent's network namespace: ${errorMessage(error)}\n`);
      process.abort();
    }
  }
}

function applyOptions(
  fd: number,
  family: IpFamily,
  options: NetnsSocketOptions & { v6Only?: boolean },
): void {
  if (options.reuseAddress) setIntOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, 'SO_REUSEADDR');
  if (options.reusePort) setIntOption(fd, SOL_SOCKET, SO_REUSEPORT, 1, 'SO_REUSEPORT');
  if (options.mark !== undefined) setIntOption(fd, SOL_SOCKET, SO_MARK, options.mark, 'SO_MARK');
  if (options.transparent) {
    if (family === 4) setIntOption(fd, SOL_IP, IP_TRANSPARENT, 1, 'IP_TRANSPARENT');
    else setIntOption(fd, SOL_IPV6, IPV6_TRANSPARENT, 1, 'IPV6_TRANSPARENT');
  }
  if (family === 6) setIntOption(fd, SOL_IPV6, IPV6_V6ONLY, options.v6Only === false ? 0 : 1, 'IPV6_V6ONLY');
}

/**
 * Runs `setup` on a fresh socket fd in `netns` (undefined: the caller's own namespace, no setns and no
 * privilege needed); closes the fd if setup throws.
 */
function preparedSocket(
  netns: Netns | undefined,
  family: IpFamily,
  type: 'tcp' | 'udp',
  setup: (fd: number) => void,
): number {
  const fd = netns
    ? socketInNetns(netns, family, type)
    : socket(addressFamilyConstant(family), type === 'tcp' ? SOCK_STREAM : SOCK_DGRAM);
  try {
    setup(fd);
    return fd;
  } catch (error) {
    close(fd);
    throw error;
  }
}

/** A bound, listening TCP socket fd in `netns` (for callers that adopt fds themselves). */
export function tcpListenerFd(netns: Netns, options: NetnsListenOptions): number {
  const family = familyOf(options.address);
  return preparedSocket(netns, family, 'tcp', (fd) => {
    applyOptions(fd, family, { ...options, reuseAddress: options.reuseAddress ?? true });
    bind(fd, encodeSockaddr(options.address, options.port));
    listen(fd, options.backlog ?? 511);
  });
}

/**
 * Listens on a TCP port inside `netns` and resolves with the Node server (the given one, or a new one) once
 * it accepts. Attach the 'connection' listener before or after; accepted sockets live in `netns` too.
 */
export async function listenTcp(
  netns: Netns,
  options: NetnsListenOptions,
  server: net.Server = net.createServer(),
): Promise<net.Server> {
  const fd = tcpListenerFd(netns, options);
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    server.listen({ fd }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  return server;
}

/**
 * Starts a TCP connection from inside `netns` (undefined: the caller's own) and returns the Node socket at
 * once; it emits 'connect' or 'error' (for callers whose interface hands back a connecting socket). Setting
 * the options or binding the source throws synchronously (EPERM, EADDRNOTAVAIL...), with the fd closed.
 */
export function startTcpConnect(netns: Netns | undefined, options: NetnsConnectOptions): net.Socket {
  const family = familyOf(options.address);
  const fd = preparedSocket(netns, family, 'tcp', (fd) => {
    applyOptions(fd, family, options);
    if (options.localAddress !== undefined || options.localPort !== undefined) {
      // A source without a port gets its port at connect(), unique for the 4-tuple, so that each destination
      // may use every port. Picked at bind() instead, it must be free of every socket on the address: the
      // kernel scans the range for one, at a cost that grows with the connections and TIME_WAITs the address
      // holds (measured: 6x system CPU per proxied connection for a minute after a flood), and it fails once
      // the address has used the whole range, whatever the destinations.
      if (!options.localPort) setIntOption(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1, 'IP_BIND_ADDRESS_NO_PORT');
      bind(
        fd,
        encodeSockaddr(options.localAddress ?? (family === 4 ? '0.0.0.0' : '::'), options.localPort ?? 0),
      );
    }
  });
  const sock = new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: options.allowHalfOpen });
  return sock.connect({ host: options.address, port: options.port });
}

/**
 * Connects a TCP socket from inside `netns` (with a mark, a source, a transparent flag) and resolves once
 * connected. Rejects with the connect error (ECONNREFUSED, ETIMEDOUT...); the fd is closed on failure.
 */
export async function connectTcp(netns: Netns, options: NetnsConnectOptions): Promise<net.Socket> {
  const sock = startTcpConnect(netns, options);
  return new Promise((resolve, reject) => {
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            sock.destroy();
            reject(new SystemError(`connect to ${options.address}:${options.port}`, 'ETIMEDOUT'));
          }, options.timeoutMs);
    const onError = (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      sock.destroy();
      reject(new SystemError(`connect to ${options.address}:${options.port}`, error.code, { cause: error }));
    };
    sock.once('error', onError);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.off('error', onError);
      resolve(sock);
    });
  });
}

/**
 * A UDP socket bound inside `netns`, as a Node dgram socket (it adopts the fd). Replies sent from it leave
 * from the bound address: bind DNS capture to 127.0.0.1/::1, where REDIRECT delivers, so that conntrack
 * recognises the reply and rewrites its source back to the nameserver the app asked.
 */
export async function bindUdp(netns: Netns, options: NetnsListenOptions): Promise<dgram.Socket> {
  const family = familyOf(options.address);
  const fd = preparedSocket(netns, family, 'udp', (fd) => {
    applyOptions(fd, family, options);
    bind(fd, encodeSockaddr(options.address, options.port));
  });
  const sock = dgram.createSocket({ type: family === 4 ? 'udp4' : 'udp6' });
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    sock.once('error', onError);
    sock.bind({ fd }, () => {
      sock.off('error', onError);
      resolve();
    });
  });
  return sock;
}

/** Anything that owns a socket fd. */
export type SocketLike = number | net.Socket | net.Server | dgram.Socket;

/** The fd under a Node socket, server or dgram socket (Linux exposes it on the libuv handle). */
export function socketFd(target: SocketLike): number {
  if (typeof target === 'number') return target;
  const handle =
    target instanceof dgram.Socket
      ? dgramHandle(target)
      : (target as unknown as { _handle?: { fd?: number } })._handle;
  const fd = handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new SystemError('socket has no fd (closed?)', 'EBADF');
  return fd;
}

function dgramHandle(sock: dgram.Socket): { fd?: number } | undefined {
  // dgram keeps its handle in a symbol-keyed state object; there is no public accessor.
  for (const symbol of Object.getOwnPropertySymbols(sock)) {
    const state = (sock as unknown as Record<symbol, { handle?: { fd?: number } } | undefined>)[symbol];
    if (state && typeof state === 'object' && 'handle' in state) return state.handle;
  }
  return undefined;
}

/**
 * The destination a connection had before REDIRECT rewrote it (SO_ORIGINAL_DST, IPv4 or IPv6 by the
 * socket's own family). SystemError ENOENT when the connection was not redirected.
 */
export function originalDestination(sock: net.Socket): SocketAddress {
  const fd = socketFd(sock);
  const local = sock.localAddress ?? '';
  const v4 = sock.localFamily === 'IPv4' || /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(local);
  const raw = v4
    ? getOption(fd, SOL_IP, SO_ORIGINAL_DST, SOCKADDR_IN_SIZE, 'SO_ORIGINAL_DST')
    : getOption(fd, SOL_IPV6, SO_ORIGINAL_DST, SOCKADDR_IN6_SIZE, 'IP6T_SO_ORIGINAL_DST');
  return decodeSockaddr(raw);
}

/** The SO_MARK of a socket (0 when unmarked). */
export function socketMark(target: SocketLike): number {
  return getOption(socketFd(target), SOL_SOCKET, SO_MARK, 4, 'SO_MARK').readUInt32LE(0);
}

/** The identity (nsfs inode) of the network namespace a socket lives in. */
export function socketNetnsInode(target: SocketLike): bigint {
  const nsFd = socketNetnsFd(socketFd(target));
  try {
    return fstatSync(nsFd, { bigint: true }).ino;
  } finally {
    close(nsFd);
  }
}

/** Whether a socket lives in `netns` (tests use it to prove no socket leaked into the wrong namespace). */
export function isSocketInNetns(target: SocketLike, netns: Netns): boolean {
  return socketNetnsInode(target) === netns.inode;
}
