/**
 * Writes a buffer straight to a socket's stream handle, the write half of `handle-reader.ts`: what
 * `socket.write` does underneath (a write request on the handle, its completion told through the request's
 * `oncomplete`), without the Writable in front of it (its queue, state updates, callbacks and the
 * `afterWrite` tick on every write). On the 1-connection request/response path each message is one write
 * per ztunnel, so that machinery was paid four times per round trip for nothing: the framer keeps at most one
 * write in flight per TLS socket and the relay one per app socket, so they need no queue of Node's.
 *
 * A caller must not mix these writes with the socket's own `write` while either is in flight (a TLS handle
 * takes one write at a time); `socket.end()` is safe once every direct write completed (the socket's
 * Writable is then empty, and the shutdown queues behind what the kernel has not taken yet).
 */
import type { Duplex } from 'node:stream';
import { getSystemErrorName } from 'node:util';

interface WriteRequest {
  oncomplete: (this: WriteRequest, status: number) => void;
  /** Keeps the written memory reachable while the kernel may still read it (what Node's own writes do). */
  buffer: Buffer | undefined;
  done: ((status: number) => void) | undefined;
}

interface WritableHandle {
  writeBuffer(request: WriteRequest, buffer: Buffer): number;
}

interface StreamWrapBinding {
  WriteWrap: new () => WriteRequest;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
}

// Deprecated in documentation only (see handle-reader.ts); read once here.
const binding = (process as unknown as { binding(name: string): StreamWrapBinding }).binding('stream_wrap');
const { WriteWrap, streamBaseState, kLastWriteWasAsync } = binding;

/** What became of a direct write: done at once, under way (`onComplete` follows), or failed (errno). */
export type DirectWrite = 'written' | 'pending' | number;

/** The handle of `socket` if it can be written directly now (connected, nothing queued in its Writable). */
export function writableHandle(socket: Duplex): WritableHandle | undefined {
  const s = socket as Duplex & { _handle?: Partial<WritableHandle> | null; connecting?: boolean };
  const handle = s._handle;
  if (!handle || typeof handle.writeBuffer !== 'function' || s.connecting || socket.writableLength > 0) {
    return undefined;
  }
  return handle as WritableHandle;
}

/**
 * Writes `buffer` to `handle`. 'written': the kernel took all of it and nothing more happens; 'pending': the
 * handle still reads from `buffer` and `onComplete(status)` is called when it is done (status < 0: an
 * errno); a number: the write failed at once with that errno, and nothing is called. `completesAtOnce`:
 * whether the kernel usually takes such a write at once (a TCP socket; a TLS socket completes later).
 */
export function writeThroughHandle(
  handle: WritableHandle,
  buffer: Buffer,
  onComplete: (status: number) => void,
  completesAtOnce = true,
): DirectWrite {
  // A handle that always completes later (TLS) would hold the spare: it gets a fresh request.
  const request = (completesAtOnce ? spareRequest : undefined) ?? newRequest();
  if (completesAtOnce) spareRequest = undefined;
  request.done = onComplete;
  const error = handle.writeBuffer(request, buffer);
  if (error === 0 && streamBaseState[kLastWriteWasAsync] !== 0) {
    request.buffer = buffer;
    return 'pending';
  }
  if (error !== 0) return error;
  // The kernel took everything at once: the handle never tied the request to itself, the next write reuses it.
  request.done = undefined;
  spareRequest = request;
  return 'written';
}

/**
 * A request object no write holds: a write the kernel takes at once (an app socket's, most of the time) never
 * ties its request to the handle, so one object serves them all instead of one of garbage per write. One
 * that a pending write holds is never reused.
 */
let spareRequest: WriteRequest | undefined;

function newRequest(): WriteRequest {
  const request = new WriteWrap();
  request.oncomplete = completed;
  return request;
}

/** Shared by every request (no closure per write): the handle calls it with the request as `this`. */
function completed(this: WriteRequest, status: number): void {
  const done = this.done!;
  this.buffer = undefined;
  this.done = undefined;
  done(status);
}

/** An errno from a handle as the Error a socket write would have failed with. */
export function writeError(errno: number): NodeJS.ErrnoException {
  const code = getSystemErrorName(errno);
  return Object.assign(new Error(`write ${code}`), { errno, code, syscall: 'write' });
}
