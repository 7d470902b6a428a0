/**
 * Reads a socket through its stream handle, into a buffer of ours that is reused from read to read, instead
 * of through the socket's Readable: Node otherwise allocates a buffer per read (per 16 KiB TLS record, per
 * 64 KiB TCP read) and pushes it through the stream machinery, and that garbage, external memory that only
 * V8's major GC frees once it outlives the young generation, was the largest cost of the framer's bulk
 * path. The reader says after each chunk whether anything still holds a view of it (a stream's buffer, a
 * write the kernel did not take at once); only then is the next read given a fresh buffer.
 *
 * This is Node's own mechanism for `net.Socket`'s `onread` option (a user buffer on the handle, the
 * handle's `onread` told how many bytes arrived through `streamBaseState`), applied to sockets we did not
 * create (accepted, TLS-wrapped). End of stream and errors go back to the socket's own handler, so its
 * 'end', 'error' and 'close' are as usual. A socket without such a handle (an in-memory pair in tests) is not
 * taken over: the caller reads 'data' events then.
 */
import type { Duplex } from 'node:stream';

/** Given a chunk (valid only during the call unless kept), returns true if anything still holds a view of it. */
export type ChunkReader = (chunk: Buffer) => boolean;

export interface StreamHandle {
  onread: (this: StreamHandle, arrayBuffer: ArrayBuffer | undefined) => unknown;
  useUserBuffer(buffer: Uint8Array): void;
  /** Whether the handle is reading (net.Socket keeps this in step with readStart/readStop). */
  reading: boolean;
  readStart(): number;
  readStop(): number;
}

interface StreamWrapBinding {
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
}

// `process.binding` is the only way to Node's stream state outside its own modules; it is deprecated in
// documentation only, and read once here.
const binding = (process as unknown as { binding(name: string): StreamWrapBinding }).binding('stream_wrap');
const { streamBaseState, kReadBytesOrError } = binding;

/** The stream handle of `socket`, if it has one we can read through. */
export function readableHandle(socket: Duplex): StreamHandle | undefined {
  const handle = (socket as Duplex & { _handle?: Partial<StreamHandle> | null })._handle;
  if (!handle || typeof handle.useUserBuffer !== 'function' || typeof handle.onread !== 'function') {
    return undefined;
  }
  return handle as StreamHandle;
}

/**
 * Takes over `socket`'s reads, into `buffer()` (asked again for a fresh one whenever `read` kept a view of
 * the last: a reader that never keeps one can share a buffer among sockets); false (nothing changed) if its
 * handle does not support it. The socket must be flowing (`resume()`) for its end to be seen.
 */
export function readThroughHandle(socket: Duplex, buffer: () => Buffer, read: ChunkReader): boolean {
  const handle = readableHandle(socket);
  if (!handle) return false;
  const socketOnRead = handle.onread;
  let current = buffer();
  handle.useUserBuffer(current);
  handle.onread = function onread(this: StreamHandle, arrayBuffer) {
    const bytes = streamBaseState[kReadBytesOrError]!;
    if (bytes <= 0) return socketOnRead.call(this, arrayBuffer);
    if (!read(current.subarray(0, bytes))) return undefined;
    // Returned to the handle: its next read goes there.
    current = buffer();
    return current;
  };
  return true;
}
