/**
 * A proxied socket that its process abandons by dying (kill -9, the OOM killer, a crash) must look reset to
 * its peer, not finished: the kernel closes a dead process's sockets with a FIN after whatever was queued,
 * which an app reads as the clean end of the stream, a truncated transfer taken for a complete one. A zero
 * SO_LINGER makes that close a RST. A socket the relay ends on purpose is disarmed first, so that its FIN,
 * and every byte before it, still arrive.
 */
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { setLinger } from '../sys/libc.ts';
import { socketFd } from '../sys/netns-socket.ts';

const armed = new WeakSet<Duplex>();

/** Makes a close that nobody chose (the process died) a reset; a no-op for anything but an open socket. */
export function resetIfAbandoned(socket: Duplex): void {
  if (socket.destroyed || !(socket instanceof Socket)) return;
  try {
    setLinger(socketFd(socket), 0);
    armed.add(socket);
  } catch {
    // No fd (closed meanwhile): nothing is left to reset.
  }
}

/** Before a graceful end: the close after it is an ordinary one again (queued data, then FIN). */
export function disarm(socket: Duplex): void {
  if (!armed.delete(socket)) return;
  try {
    setLinger(socketFd(socket as Socket), undefined);
  } catch {
    // Closed meanwhile.
  }
}
