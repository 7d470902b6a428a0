/**
 * Splits the byte stream of an HTTP/2 connection into frames. DATA frames without padding (what carries a
 * tunnel's bytes) are handed on as they arrive: a start with the frame's length, each part of the payload as
 * a view of the read it came in (no copy, no buffer per frame), and an end. Profiling 8-stream bulk showed
 * that assembling each 1 MiB frame from the TLS socket's 16 KiB reads cost a copy of every byte plus a
 * 1 MiB allocation per frame, which doubled the external memory V8 collects. Every other frame is handed
 * on whole: a view of the read when it arrived in one, else assembled in a buffer of exactly its size. The
 * frame size limit is checked on the header, before anything is buffered, so a peer can make us hold at
 * most one frame of the size we advertised.
 */
import { Flag, FRAME_HEADER_BYTES, FrameType } from './constants.ts';

export interface FrameSink {
  /** One complete frame; `payload` is only valid during the call unless copied or retained on purpose. */
  onFrame(type: number, flags: number, streamId: number, payload: Buffer): void;
  /** An unpadded DATA frame begins; its payload follows in `onDataPayload` parts, then `onDataEnd`. */
  onDataStart(flags: number, streamId: number, length: number): void;
  /** A part of the current DATA frame's payload: a view of the read, which the sink may keep. */
  onDataPayload(part: Buffer): void;
  /** The current DATA frame is complete. */
  onDataEnd(): void;
  /** A frame longer than the limit: the caller answers FRAME_SIZE_ERROR and stops feeding. */
  onOversizedFrame(type: number, length: number): void;
}

export class FrameDecoder {
  readonly #maxFrameSize: number;
  readonly #sink: FrameSink;
  readonly #header = Buffer.alloc(FRAME_HEADER_BYTES);
  #headerFill = 0;
  /** A frame other than streamed DATA being assembled across reads (header parsed), if any. */
  #payload: Buffer | undefined;
  #payloadFill = 0;
  /** Payload bytes of the streamed DATA frame still to come. */
  #dataLeft = 0;
  #streamingData = false;
  #type = 0;
  #flags = 0;
  #streamId = 0;
  #stopped = false;

  constructor(maxFrameSize: number, sink: FrameSink) {
    this.#maxFrameSize = maxFrameSize;
    this.#sink = sink;
  }

  /** Bytes held for a partial frame (bounded by the frame size limit; streamed DATA is not held here). */
  get bufferedBytes(): number {
    return this.#headerFill + (this.#payload?.length ?? 0);
  }

  /** No more frames are delivered (after a connection error). */
  stop(): void {
    this.#stopped = true;
    this.#payload = undefined;
  }

  push(chunk: Buffer): void {
    let at = 0;
    const end = chunk.length;
    while (at < end && !this.#stopped) {
      if (this.#streamingData) {
        at = this.#continueData(chunk, at);
        continue;
      }
      if (this.#payload !== undefined) {
        const take = Math.min(this.#payload.length - this.#payloadFill, end - at);
        chunk.copy(this.#payload, this.#payloadFill, at, at + take);
        this.#payloadFill += take;
        at += take;
        if (this.#payloadFill === this.#payload.length) {
          const payload = this.#payload;
          this.#payload = undefined;
          this.#sink.onFrame(this.#type, this.#flags, this.#streamId, payload);
        }
        continue;
      }
      let header: Buffer;
      let headerAt: number;
      if (this.#headerFill === 0 && end - at >= FRAME_HEADER_BYTES) {
        header = chunk;
        headerAt = at;
        at += FRAME_HEADER_BYTES;
      } else {
        const take = Math.min(FRAME_HEADER_BYTES - this.#headerFill, end - at);
        chunk.copy(this.#header, this.#headerFill, at, at + take);
        this.#headerFill += take;
        at += take;
        if (this.#headerFill < FRAME_HEADER_BYTES) return;
        this.#headerFill = 0;
        header = this.#header;
        headerAt = 0;
      }
      // Byte by byte: Buffer's readUInt*BE box their results (a heap number per frame, garbage for the GC).
      const length = (header[headerAt]! << 16) | (header[headerAt + 1]! << 8) | header[headerAt + 2]!;
      const type = header[headerAt + 3]!;
      const flags = header[headerAt + 4]!;
      const streamId =
        ((header[headerAt + 5]! & 0x7f) << 24) |
        (header[headerAt + 6]! << 16) |
        (header[headerAt + 7]! << 8) |
        header[headerAt + 8]!;
      if (length > this.#maxFrameSize) {
        this.#stopped = true;
        this.#sink.onOversizedFrame(type, length);
        return;
      }
      if (type === FrameType.DATA && (flags & Flag.PADDED) === 0) {
        this.#streamingData = true;
        this.#dataLeft = length;
        this.#sink.onDataStart(flags, streamId, length);
        // An empty frame ends here; a stop in onDataStart leaves the loop.
        if (length === 0 && !this.#stopped) this.#endData();
        continue;
      }
      if (end - at >= length) {
        const payload = chunk.subarray(at, at + length);
        at += length;
        this.#sink.onFrame(type, flags, streamId, payload);
        continue;
      }
      this.#type = type;
      this.#flags = flags;
      this.#streamId = streamId;
      this.#payload = Buffer.allocUnsafe(length);
      this.#payloadFill = 0;
    }
  }

  /** Hands on what `chunk` holds of the current DATA payload from `at`; returns where it stopped. */
  #continueData(chunk: Buffer, at: number): number {
    const take = Math.min(this.#dataLeft, chunk.length - at);
    this.#dataLeft -= take;
    this.#sink.onDataPayload(at === 0 && take === chunk.length ? chunk : chunk.subarray(at, at + take));
    if (this.#dataLeft === 0 && !this.#stopped) this.#endData();
    return at + take;
  }

  #endData(): void {
    this.#streamingData = false;
    this.#sink.onDataEnd();
  }
}
