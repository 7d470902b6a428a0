/**
 * The output side of an HTTP/2 connection: frames are appended (header and payload copied together) to
 * slabs of memory that are reused, and what accumulated goes to the socket as one write, with at most one
 * write in flight. A TLS socket completes a write only on the next event-loop turn, so everything framed
 * while one is in flight (all the streams' data of one turn, window updates, acks) leaves in the next single
 * write, as one contiguous buffer: TLSWrap then encrypts it in place, where a list of buffers (what corking
 * the socket gives) is first copied into a new one. Profiling 8-stream bulk showed V8's major GC (driven by
 * the external memory of a buffer per frame and per read) as the largest cost: here no buffer is allocated
 * per frame, and slabs are shared by the process's connections.
 *
 * Frames are written at the end of the tick (`process.nextTick`), or, inside `hold()`/`release()` (what a
 * read callback frames), when the callback is done: the same batching, without the tick's extra entry into
 * JavaScript on the request/response path. Writes go straight to the socket's handle once it is connected
 * (`handle-writer.ts`), bypassing its Writable.
 */
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { FRAME_HEADER_BYTES } from './constants.ts';
import { writableHandle, writeError, writeThroughHandle } from './handle-writer.ts';

/** The size of a slab, which bounds the DATA payload of one frame written through it. */
export const SLAB_BYTES = 256 << 10;
/** Slabs kept for reuse by the process (what a burst of busy connections leaves is returned to V8). */
const POOLED_SLABS = 64;
interface Region {
  slab: Buffer;
  end: number;
  /** The region after this one in a writer's queue (a list through the regions: no array per write). */
  next: Region | undefined;
}

/** Pooled with their regions, so that a write allocates no region object either. */
const pool: Region[] = [];

function takeRegion(): Region {
  const region = pool.pop();
  if (region === undefined) return { slab: Buffer.allocUnsafeSlow(SLAB_BYTES), end: 0, next: undefined };
  region.end = 0;
  region.next = undefined;
  return region;
}

function returnRegion(region: Region): void {
  if (region.slab.length === SLAB_BYTES && pool.length < POOLED_SLABS) pool.push(region);
}

export class FrameWriter {
  readonly #socket: Duplex;
  readonly #onWritten: () => void;
  /** Filled regions waiting for the socket, oldest first; the last one is still being filled. */
  #first: Region | undefined;
  #last: Region | undefined;
  /** The region of the write in flight (its slab goes back to the pool when it completes). */
  #inFlight: Region | undefined;
  #pendingBytes = 0;
  #inFlightBytes = 0;
  #scheduled = false;
  /** Nested `hold()`s: frames wait for the last `release()` instead of the end of the tick. */
  #holds = 0;
  /** `end()` was called: the socket ends once what is framed is written. */
  #ending = false;
  #closed = false;
  /**
   * Whether a slab may be reused once its write completed: a socket has copied (TLS: encrypted) it by then,
   * but another Duplex (a test's in-memory pair) may still hold views of it.
   */
  readonly #reuse: boolean;

  /** `onWritten` is told after each write completes (waiters on `bufferedBytes` look again then). */
  constructor(socket: Duplex, onWritten: () => void) {
    this.#socket = socket;
    this.#onWritten = onWritten;
    this.#reuse = socket instanceof Socket;
  }

  /** Bytes framed and not yet taken by the socket (waiting, or in the write in flight). */
  get bufferedBytes(): number {
    return this.#pendingBytes + this.#inFlightBytes;
  }

  /** Room for a DATA payload in the slab being filled, or in a fresh one (never 0). */
  dataRoom(): number {
    const last = this.#last;
    const free = last ? last.slab.length - last.end - FRAME_HEADER_BYTES : 0;
    // A nearly full slab is closed rather than cut into small frames.
    return free >= 4096 ? free : SLAB_BYTES - FRAME_HEADER_BYTES;
  }

  /**
   * Appends one frame: its header, then `payload[start, end)` copied after it. A DATA payload must fit
   * `dataRoom()`; other frames are small, and one larger than a slab gets a buffer of its own.
   */
  frame(
    type: number,
    flags: number,
    streamId: number,
    payload?: Buffer,
    start = 0,
    end = payload?.length ?? 0,
  ) {
    if (this.#closed || this.#ending) return;
    const length = end - start;
    const region = this.#regionFor(FRAME_HEADER_BYTES + length);
    const slab = region.slab;
    let at = region.end;
    slab[at] = length >>> 16;
    slab[at + 1] = (length >>> 8) & 0xff;
    slab[at + 2] = length & 0xff;
    slab[at + 3] = type;
    slab[at + 4] = flags;
    // Byte by byte, as above: writeUInt32BE's range check allocates on every call.
    slab[at + 5] = streamId >>> 24;
    slab[at + 6] = (streamId >>> 16) & 0xff;
    slab[at + 7] = (streamId >>> 8) & 0xff;
    slab[at + 8] = streamId & 0xff;
    at += FRAME_HEADER_BYTES;
    if (length > 0) payload!.copy(slab, at, start, end);
    region.end = at + length;
    this.#pendingBytes += FRAME_HEADER_BYTES + length;
    if (!this.#scheduled && this.#inFlight === undefined && this.#holds === 0) {
      this.#scheduled = true;
      process.nextTick(this.#flush);
    }
  }

  /** Frames from now on wait for `release()` (calls nest). */
  hold(): void {
    this.#holds++;
  }

  /** Ends a `hold()`: the last one writes what was framed meanwhile, at once. */
  release(): void {
    if (--this.#holds === 0) this.#flush();
  }

  /** Writes what is framed now, then ends the socket (a GOAWAY goes out before the FIN). */
  end(): void {
    if (this.#closed || this.#ending) return;
    this.#ending = true;
    if (this.#inFlight === undefined) this.#flush();
  }

  /** Nothing more is written (the socket is gone); slabs are returned. */
  close(): void {
    this.#closed = true;
    for (let region = this.#first; region !== undefined; region = region.next) this.#recycle(region);
    this.#first = undefined;
    this.#last = undefined;
    this.#pendingBytes = 0;
  }

  #recycle(region: Region): void {
    if (this.#reuse) returnRegion(region);
  }

  #regionFor(bytes: number): Region {
    const last = this.#last;
    if (last && last.slab.length - last.end >= bytes) return last;
    const region =
      bytes <= SLAB_BYTES ? takeRegion() : { slab: Buffer.allocUnsafe(bytes), end: 0, next: undefined };
    if (last === undefined) this.#first = region;
    else last.next = region;
    this.#last = region;
    return region;
  }

  /**
   * Writes the oldest region. One region per write, and the next only when it completed: buffers queued
   * together would reach TLSWrap as a list, which it copies into one before encrypting.
   */
  readonly #flush = (): void => {
    this.#scheduled = false;
    if (this.#closed || this.#inFlight !== undefined || this.#holds > 0) return;
    const region = this.#first;
    if (region !== undefined) {
      this.#first = region.next;
      if (this.#first === undefined) this.#last = undefined;
      region.next = undefined;
    }
    const socket = this.#socket;
    if (region === undefined) {
      if (this.#ending) {
        this.#closed = true;
        socket.end();
      }
      return;
    }
    if (socket.destroyed || !socket.writable) {
      this.close();
      return;
    }
    this.#inFlight = region;
    this.#inFlightBytes = region.end;
    this.#pendingBytes -= region.end;
    const bytes = region.slab.subarray(0, region.end);
    // Until the socket is connected (a client's TLS handshake), its Writable holds what is written.
    const handle = this.#reuse ? writableHandle(socket) : undefined;
    if (handle === undefined) {
      socket.write(bytes, this.#written);
      return;
    }
    const result = writeThroughHandle(handle, bytes, this.#completed, false);
    if (result === 'written') this.#written();
    else if (result !== 'pending') this.#failed(result);
  };

  readonly #completed = (status: number): void => {
    if (status < 0) this.#failed(status);
    else this.#written();
  };

  /** A direct write failed: the socket's Writable never saw it, so the socket is told here. */
  #failed(errno: number): void {
    this.#written(writeError(errno));
    this.#socket.destroy(writeError(errno));
  }

  readonly #written = (error?: Error | null): void => {
    // Written: the socket holds no view of this slab any more.
    if (this.#inFlight) this.#recycle(this.#inFlight);
    this.#inFlight = undefined;
    this.#inFlightBytes = 0;
    if (error) {
      this.close();
      return;
    }
    this.#flush();
    this.#onWritten();
  };
}
