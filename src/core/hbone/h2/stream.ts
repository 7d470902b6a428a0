/**
 * One HTTP/2 stream of the framer as a Node Duplex: writes become DATA frames (as large as the peer's frame
 * size and both send windows allow), `end()` becomes END_STREAM, `close(code)` and `destroy()` become
 * RST_STREAM, and bytes read are credited back to the peer (WINDOW_UPDATE) only as the app consumes them,
 * so a stalled reader holds at most one stream window. Its surface (`rstCode`, `close(code)`, `respond`,
 * `headersSent`, the `response` event) is the part of Node's Http2Stream that HBONE uses, so the pool, the
 * server and the copy treat both alike.
 */
import { Duplex } from 'node:stream';
import { ErrorCode } from './constants.ts';
import type { HeaderField } from './hpack.ts';

/** What a stream asks of its connection; implemented by `H2Connection`. */
export interface StreamOwner {
  sendData(stream: H2Stream, chunk: Buffer, callback: (error?: Error | null) => void): void;
  sendEnd(stream: H2Stream, callback: (error?: Error | null) => void): void;
  /** Frames a copy of `chunk` past the Writable; false: stop reading until `resume`. */
  sendCopy(stream: H2Stream, chunk: Buffer, resume: () => void): boolean;
  sendHeaders(stream: H2Stream, fields: readonly HeaderField[], endStream: boolean): void;
  /** The app wants more: credit what it consumed. */
  credit(stream: H2Stream): void;
  /** The stream is gone (any reason): send RST_STREAM unless it closed cleanly, release its state. */
  release(stream: H2Stream, error: Error | null): void;
}

export type HeaderMap = Record<string, string>;

/**
 * What a stream's writer may queue before `write()` says wait. Writes go out as DATA frames at once while the
 * windows allow, so this only fills when the peer's window is closed; but at Node's default (64 KiB) every
 * 64 KiB read from an app socket returned false and paused that socket, then resumed it a tick later: two
 * epoll changes and two extra ticks per read on the busiest path.
 */
const WRITABLE_HIGH_WATER_MARK = 256 << 10;

/** A write the send windows could not take yet. */
export interface PendingWrite {
  chunk: Buffer;
  offset: number;
  callback: (error?: Error | null) => void;
}

export class H2Stream extends Duplex {
  readonly id: number;
  /** The RST_STREAM code that ended the stream (sent or received), as on Node's Http2Stream. */
  rstCode: number | undefined;
  headersSent = false;
  /** Bytes we may still send on this stream (the peer's stream window). */
  sendWindow: number;
  /** Bytes the peer may still send before our next WINDOW_UPDATE. */
  receiveWindow: number;
  /** Bytes received and handed to the app but not yet credited back to the connection window. */
  uncredited = 0;
  /** Bytes consumed but not yet credited back to this stream's window (sent in quarter windows). */
  streamUncredited = 0;
  /** An RST_STREAM went either way (or the connection died): none is to be sent any more. */
  rstExchanged = false;
  /** We sent END_STREAM / the peer did. */
  localEnded = false;
  remoteEnded = false;
  /** Client side: the response HEADERS arrived. */
  responded = false;
  /** `push` said the app's buffer is full: credit nothing until it reads again. */
  readPaused = false;
  pending: PendingWrite | undefined;
  /**
   * Set by a relay that takes this stream's data straight from the connection (`pumps.ts`), bypassing the
   * Readable: gets each DATA payload part (a view of the connection's read buffer) and returns true if it
   * still holds a view of it. The relay credits the window (`owner.credit`) as its socket takes the bytes.
   */
  tap: ((part: Buffer) => boolean) | undefined;
  readonly #owner: StreamOwner;

  constructor(owner: StreamOwner, id: number, sendWindow: number, receiveWindow: number) {
    super({ allowHalfOpen: true, writableHighWaterMark: WRITABLE_HIGH_WATER_MARK });
    this.#owner = owner;
    this.id = id;
    this.sendWindow = sendWindow;
    this.receiveWindow = receiveWindow;
  }

  /** Both directions ended at the protocol level: nothing more may be sent or received. */
  get protocolClosed(): boolean {
    return this.localEnded && this.remoteEnded;
  }

  /** Server side: answers the request with `:status` (and other) headers; `endStream` ends our side too. */
  respond(headers: Record<string, string | number>, options?: { endStream?: boolean }): void {
    if (this.headersSent) throw new Error('headers already sent');
    if (this.destroyed) throw new Error('stream destroyed');
    const fields: HeaderField[] = [];
    for (const [name, value] of Object.entries(headers)) fields.push([name.toLowerCase(), String(value)]);
    const endStream = options?.endStream === true;
    this.#owner.sendHeaders(this, fields, endStream);
    if (endStream) this.end();
  }

  /** Resets the stream with `code` (RST_STREAM), like Node's `Http2Stream.close`. */
  close(code: number = ErrorCode.NO_ERROR): void {
    if (this.destroyed) return;
    this.rstCode ??= code;
    this.destroy();
  }

  /**
   * For a relay reading a socket straight into this stream: frames a copy of `chunk` (the relay reuses its
   * buffer) without the Writable; false when the relay should stop reading until `resume` is called.
   */
  writeCopy(chunk: Buffer, resume: () => void): boolean {
    return this.#owner.sendCopy(this, chunk, resume);
  }

  /** For a relay with a tap: its socket took what arrived (or drained), so the window may open again. */
  consumed(): void {
    this.readPaused = false;
    this.#owner.credit(this);
  }

  /** Data from a DATA frame; the connection already checked the windows. */
  deliver(data: Buffer): void {
    this.uncredited += data.length;
    if (!this.push(data)) this.readPaused = true;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#owner.sendData(this, chunk, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#owner.sendEnd(this, callback);
  }

  override _read(): void {
    // A tapped stream is never pushed to: its relay says when the app reads.
    if (this.tap !== undefined) return;
    this.readPaused = false;
    this.#owner.credit(this);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#owner.release(this, error);
    callback(error);
  }
}
