/**
 * One exclusive unix-socket listener for every local API (the control plane's, the node agent's enrollment,
 * the ztunnel's admin, the local cluster's supervisor): a live owner is refused, never displaced; a socket
 * file left by a crashed one is removed; the socket is readable and writable by its owner only (0600).
 */
import { chmod, mkdir, rm } from 'node:fs/promises';
import { connect, type Server } from 'node:net';
import { dirname } from 'node:path';
import { listen } from './listen.ts';

export interface UnixSocketOptions {
  /** The error to throw when another process already answers on the path. */
  inUse: (path: string) => Error;
  /** Create the socket's directory with this mode when it is missing (default: it must exist). */
  directoryMode?: number | undefined;
}

/** Whether a process answers on the unix socket `path`. */
export function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/**
 * Makes `path` ours to listen on: refuses (with `inUse`) when a live process answers there, removes the
 * stale file of a dead one. Lets a process fail fast before it does anything else.
 */
export async function claimUnixSocket(path: string, options: UnixSocketOptions): Promise<void> {
  if (options.directoryMode !== undefined) {
    await mkdir(dirname(path), { recursive: true, mode: options.directoryMode });
  }
  if (await socketAnswers(path)) throw options.inUse(path);
  await rm(path, { force: true });
}

/** Claims `path`, listens on it and restricts it to the owner. */
export async function listenUnixSocket(
  server: Server,
  path: string,
  options: UnixSocketOptions,
): Promise<void> {
  await claimUnixSocket(path, options);
  await listen(server, { path });
  await chmod(path, 0o600);
}
