/**
 * The only file that talks to libc. Node has no API for the few socket calls the data plane needs inside a
 * pod's network namespace (setns around socket(), SO_MARK, IP_TRANSPARENT, SO_ORIGINAL_DST, the netns of a
 * socket), so they are reached through koffi, an FFI library with prebuilt binaries. Every function here is a
 * thin typed wrapper that turns a -1 return into a SystemError carrying the errno name; the typed API that
 * the rest of Ambit uses is `netns-socket.ts`.
 */
import { constants } from 'node:os';
import koffi from 'koffi';
import { SystemError } from '../errors.ts';

const lib = koffi.load('libc.so.6');

const c = {
  socket: lib.func('int socket(int domain, int type, int protocol)'),
  setns: lib.func('int setns(int fd, int nstype)'),
  bind: lib.func('int bind(int fd, const void *addr, uint32_t len)'),
  listen: lib.func('int listen(int fd, int backlog)'),
  setsockopt: lib.func('int setsockopt(int fd, int level, int name, const void *value, uint32_t len)'),
  getsockopt: lib.func(
    'int getsockopt(int fd, int level, int name, _Out_ void *value, _Inout_ uint32_t *len)',
  ),
  ioctl: lib.func('int ioctl(int fd, unsigned long request, unsigned long arg)'),
  close: lib.func('int close(int fd)'),
  flock: lib.func('int flock(int fd, int operation)'),
  inetPton: lib.func('int inet_pton(int family, const char *text, _Out_ void *bytes)'),
  inetNtop: lib.func(
    'const char *inet_ntop(int family, const void *bytes, _Out_ uint8_t *text, uint32_t size)',
  ),
};

export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
export const CLONE_NEWNET = 0x40000000;

export const SOL_SOCKET = 1;
export const SOL_IP = 0;
export const SOL_IPV6 = 41;
export const SO_REUSEADDR = 2;
export const SO_REUSEPORT = 15;
export const SO_MARK = 36;
const SO_LINGER = 13;
export const IP_TRANSPARENT = 19;
/** At SOL_IP, for IPv4 and IPv6 sockets alike: a bind to port 0 leaves the port to connect(). */
export const IP_BIND_ADDRESS_NO_PORT = 24;
export const IPV6_TRANSPARENT = 75;
export const IPV6_V6ONLY = 26;
/** Same number at SOL_IP (sockaddr_in) and SOL_IPV6 (sockaddr_in6, IP6T_SO_ORIGINAL_DST). */
export const SO_ORIGINAL_DST = 80;

/** ioctl on a socket: returns a new fd referring to the socket's network namespace. */
const SIOCGSKNS = 0x894c;
/** ioctl on a namespace fd (_IO(0xb7, 3)): returns its CLONE_NEW* type. */
const NS_GET_NSTYPE = 0xb703;

const ERRNO_NAMES = new Map<number, string>(
  Object.entries(constants.errno).map(([name, num]) => [num, name]),
);

export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}

function check(result: number, what: string): number {
  if (result < 0) throw new SystemError(what, errnoName(koffi.errno()));
  return result;
}

/** A non-blocking, close-on-exec socket in the calling thread's current network namespace. */
export function socket(family: number, type: number): number {
  return check(c.socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), 'socket()');
}

export function setns(fd: number, nstype: number): void {
  check(c.setns(fd, nstype), 'setns()');
}

export function bind(fd: number, sockaddr: Buffer): void {
  check(c.bind(fd, sockaddr, sockaddr.length), 'bind()');
}

export function listen(fd: number, backlog: number): void {
  check(c.listen(fd, backlog), 'listen()');
}

export function setIntOption(fd: number, level: number, name: number, value: number, what: string): void {
  const buf = Buffer.alloc(4);
  buf.writeInt32LE(value);
  check(c.setsockopt(fd, level, name, buf, 4), `setsockopt(${what})`);
}

/**
 * SO_LINGER: with `seconds`, close() waits that long for unsent data (0: it discards it and sends a RST);
 * undefined restores the default (close() returns at once, the kernel sends what is queued, then a FIN).
 */
export function setLinger(fd: number, seconds: number | undefined): void {
  const buf = Buffer.alloc(8);
  buf.writeInt32LE(seconds === undefined ? 0 : 1, 0);
  buf.writeInt32LE(seconds ?? 0, 4);
  check(c.setsockopt(fd, SOL_SOCKET, SO_LINGER, buf, 8), 'setsockopt(SO_LINGER)');
}

/** getsockopt into a buffer of `size` bytes; returns the bytes the kernel filled in. */
export function getOption(fd: number, level: number, name: number, size: number, what: string): Buffer {
  const buf = Buffer.alloc(size);
  const len = [size];
  check(c.getsockopt(fd, level, name, buf, len), `getsockopt(${what})`);
  return buf.subarray(0, len[0]);
}

/** A new fd for the network namespace that socket `fd` lives in (the caller closes it). */
export function socketNetnsFd(fd: number): number {
  return check(c.ioctl(fd, SIOCGSKNS, 0), 'ioctl(SIOCGSKNS)');
}

/** The CLONE_NEW* type of namespace fd `fd` (EINVAL-style SystemError if it is not a namespace at all). */
export function namespaceType(fd: number): number {
  return check(c.ioctl(fd, NS_GET_NSTYPE, 0), 'ioctl(NS_GET_NSTYPE)');
}

export function close(fd: number): void {
  check(c.close(fd), 'close()');
}

const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;

/**
 * flock(LOCK_EX | LOCK_NB) on `fd`: true when taken, false when another open file description holds it. The
 * kernel drops the lock when the last fd of its description closes, a process killed with -9 included.
 */
export function tryLockExclusive(fd: number): boolean {
  if (c.flock(fd, LOCK_EX | LOCK_NB) === 0) return true;
  const errno = koffi.errno();
  if (errno === constants.errno.EWOULDBLOCK) return false;
  throw new SystemError('flock()', errnoName(errno));
}

export function unlock(fd: number): void {
  check(c.flock(fd, LOCK_UN), 'flock(LOCK_UN)');
}

/** Text address to its 4 or 16 network-order bytes; undefined when the text is not an address of `family`. */
export function addressBytes(family: number, text: string): Buffer | undefined {
  const buf = Buffer.alloc(family === AF_INET ? 4 : 16);
  return c.inetPton(family, text, buf) === 1 ? buf : undefined;
}

/** 4 or 16 network-order bytes to the canonical text form of the address. */
export function addressText(family: number, bytes: Buffer): string {
  const text = Buffer.alloc(64);
  if (c.inetNtop(family, bytes, text, text.length) === null) {
    throw new SystemError('inet_ntop()', errnoName(koffi.errno()));
  }
  return text.toString('latin1', 0, text.indexOf(0));
}
