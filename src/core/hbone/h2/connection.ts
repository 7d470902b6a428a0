/**
 * One HTTP/2 connection of the HBONE framer, either end, over an established (TLS) socket. It carries what
 * HBONE needs and what a standard peer relies on: the preface and SETTINGS (acknowledged, with a timeout),
 * CONNECT HEADERS (+ CONTINUATION) through our HPACK, DATA frames as large as the peer allows, flow control
 * both ways with overflow errors, RST_STREAM, GOAWAY with last-stream-id (graceful drain), PING (answered,
 * and sent for liveness when asked). Frames are copied into reused slabs and leave as one socket write per
 * event-loop turn (`FrameWriter`); a TLS socket is read through its handle into a reused buffer
 * (`readThroughHandle`), and DATA goes to a stream's reader as views of that buffer.
 *
 * What a peer can make it hold or do is bounded, at least as strictly as nghttp2's defaults: streams (REFUSED
 * beyond our MAX_CONCURRENT_STREAMS), frame size, header block size and CONTINUATION count (8), header list
 * size (decoded, so HPACK bombs stop there), SETTINGS entries (32), unanswered ACKs queued (1000), and the
 * rates of stream resets (rapid reset: burst 1000, 33/s), PINGs, SETTINGS and protocol glitches. Each
 * refusal is counted in `violations` and reported through `onViolation`.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { type RateLimit, TokenBucket } from '../../token-bucket.ts';
import {
  CLIENT_PREFACE,
  DEFAULT_HEADER_TABLE_SIZE,
  DEFAULT_WINDOW,
  ErrorCode,
  Flag,
  FrameType,
  MAX_STREAM_ID,
  MAX_WINDOW,
} from './constants.ts';
import { errorCodeName, H2Error } from './errors.ts';
import { FrameDecoder, type FrameSink } from './frame-decoder.ts';
import { FrameWriter } from './frame-writer.ts';
import { readThroughHandle } from './handle-reader.ts';
import { toHeaderMap } from './header-map.ts';
import { encodeHeaders, type HeaderField, HpackDecoder } from './hpack.ts';
import {
  defaultPeerSettings,
  encodeSettings,
  type LocalSettings,
  type PeerSettings,
  parseSettings,
} from './settings.ts';
import { H2Stream, type HeaderMap, type PendingWrite, type StreamOwner } from './stream.ts';

export type H2Role = 'client' | 'server';

/** Why the connection refused something a peer did; the label of the refusal counter. */
export type H2Violation =
  | 'protocol'
  | 'flow-control'
  | 'frame-size'
  | 'compression'
  | 'header-list-too-large'
  | 'continuation-flood'
  | 'rapid-reset'
  | 'ping-flood'
  | 'settings-flood'
  | 'glitch-flood'
  | 'refused-stream'
  | 'settings-timeout'
  | 'ping-timeout';

export interface H2Limits {
  /** How long the peer has to acknowledge our SETTINGS. */
  settingsTimeoutMs: number;
  /** CONTINUATION frames after one HEADERS (nghttp2: 8). */
  maxContinuations: number;
  /** Entries in one SETTINGS frame (nghttp2: 32). */
  maxSettingsEntries: number;
  /** SETTINGS/PING ACKs we may owe while the peer does not read (nghttp2: 1000). */
  maxQueuedAcks: number;
  /** RST_STREAMs from the peer (nghttp2: burst 1000, 33/s). */
  resets: RateLimit;
  /** Frames that do nothing useful: on closed streams, empty DATA, refused streams (nghttp2: 1000, 33/s). */
  glitches: RateLimit;
  /** PINGs from the peer, and (in a bucket of their own) SETTINGS. */
  pings: RateLimit;
  /**
   * Bytes framed and not yet taken by the socket beyond which stream writes wait. The peer's windows
   * already bound what we queue for it; this stops a peer that advertises huge windows and never reads.
   * Writers resume as soon as a write completes below it (waiting for a full drain left the pipe empty
   * between drains and cost half the throughput on 8 streams).
   */
  sendBufferBytes: number;
  /** Send a PING after this long without a frame from the peer, and close if the next period is silent too. */
  keepAliveMs: number | undefined;
}

export const DEFAULT_LIMITS: H2Limits = {
  settingsTimeoutMs: 10_000,
  maxContinuations: 8,
  maxSettingsEntries: 32,
  maxQueuedAcks: 1000,
  resets: { burst: 1000, perSecond: 33 },
  glitches: { burst: 1000, perSecond: 33 },
  pings: { burst: 1000, perSecond: 100 },
  sendBufferBytes: 4 << 20,
  keepAliveMs: undefined,
};

/** One TLS record's plaintext at most: what a read of a TLS socket hands on at a time. */
const READ_BUFFER_BYTES = 16 << 10;
const newReadBuffer = () => Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);

/**
 * Output waiting for the socket beyond which ACKs we owe count as unread (Node's default high-water mark):
 * a peer that floods PINGs or SETTINGS and reads nothing is cut off after `maxQueuedAcks` of them.
 */
const ACK_BACKLOG_BYTES = 16 << 10;

/** HBONE connections PING after this long without a frame from the peer (and close after twice that). */
export const HBONE_KEEPALIVE_MS = 30_000;

/** We advertise 1 MiB - 1 as the largest frame we accept, as Istio's ztunnel does. */
export const DEFAULT_LOCAL_SETTINGS: LocalSettings = {
  streamWindowBytes: 4 << 20,
  connectionWindowBytes: 16 << 20,
  maxConcurrentStreams: undefined,
  maxFrameSize: (1 << 20) - 1,
  maxHeaderListSize: 64 << 10,
  headerTableSize: DEFAULT_HEADER_TABLE_SIZE,
};

export interface H2ConnectionOptions {
  role: H2Role;
  settings?: Partial<LocalSettings>;
  limits?: Partial<H2Limits>;
  onViolation?: (violation: H2Violation, detail: string) => void;
  /** The clock of the rate limits (tests freeze it). */
  now?: () => number;
}

interface HeaderBlock {
  streamId: number;
  endStream: boolean;
  fragments: Buffer[];
  bytes: number;
  continuations: number;
}

export interface H2ConnectionEvents {
  /** The peer's first SETTINGS arrived: it speaks HTTP/2. */
  connect: [];
  /** Server: a new stream and its request headers. */
  stream: [stream: H2Stream, headers: HeaderMap];
  goaway: [errorCode: number, lastStreamId: number];
  error: [error: Error];
  close: [];
}

export class H2Connection extends EventEmitter<H2ConnectionEvents> implements StreamOwner {
  readonly role: H2Role;
  readonly socket: Duplex;
  /** What the peer told us (defaults until its SETTINGS arrive). */
  readonly remoteSettings: PeerSettings = defaultPeerSettings();
  /** Refusals by kind, for tests and metrics. */
  readonly violations = new Map<H2Violation, number>();
  readonly #local: LocalSettings;
  readonly #limits: H2Limits;
  readonly #onViolation: H2ConnectionOptions['onViolation'];
  readonly #decoder: FrameDecoder;
  readonly #writer: FrameWriter;
  /** Whether something kept a view of the read being decoded (its buffer is then not reused). */
  #readRetained = false;
  readonly #hpack: HpackDecoder;
  readonly #streams = new Map<number, H2Stream>();
  /** Streams with a write waiting for window. */
  readonly #blocked = new Set<H2Stream>();
  readonly #drainWaiters: (() => void)[] = [];
  readonly #resets: TokenBucket;
  readonly #glitches: TokenBucket;
  readonly #pings: TokenBucket;
  readonly #settingsFrames: TokenBucket;
  readonly #now: () => number;
  #sendWindow = DEFAULT_WINDOW;
  #receiveWindow = DEFAULT_WINDOW;
  #connectionUncredited = 0;
  #nextStreamId: number;
  #lastPeerStreamId = 0;
  #headerBlock: HeaderBlock | undefined;
  /** The stream the DATA frame being received goes to (undefined when it is discarded), and its flags. */
  #dataStream: H2Stream | undefined;
  #dataFlags = 0;
  /** Server: bytes of the client preface still to check. */
  #prefaceAt: number;
  #peerSettingsSeen = false;
  #settingsTimer: NodeJS.Timeout | undefined;
  #keepAliveTimer: NodeJS.Timeout | undefined;
  #heardSinceTick = false;
  #pingOutstanding = false;
  #queuedAcks = 0;
  #resetTableSize = false;
  #goawaySent = false;
  #goawayReceived = false;
  /** No more frames in or out (connection error, destroy, or socket gone). */
  #dead = false;
  #closeEmitted = false;

  constructor(socket: Duplex, options: H2ConnectionOptions) {
    super();
    this.role = options.role;
    this.socket = socket;
    this.#local = { ...DEFAULT_LOCAL_SETTINGS, ...options.settings };
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#onViolation = options.onViolation;
    this.#nextStreamId = options.role === 'client' ? 1 : 2;
    this.#prefaceAt = options.role === 'server' ? 0 : CLIENT_PREFACE.length;
    this.#now = options.now ?? Date.now;
    const now = this.#now();
    this.#resets = new TokenBucket(this.#limits.resets, now);
    this.#glitches = new TokenBucket(this.#limits.glitches, now);
    this.#pings = new TokenBucket(this.#limits.pings, now);
    this.#settingsFrames = new TokenBucket(this.#limits.pings, now);
    this.#hpack = new HpackDecoder({
      maxTableSize: this.#local.headerTableSize,
      maxHeaderListSize: this.#local.maxHeaderListSize,
    });
    const sink: FrameSink = {
      onFrame: (type, flags, streamId, payload) => this.#onFrame(type, flags, streamId, payload),
      onDataStart: (flags, streamId, length) => this.#onDataStart(flags, streamId, length, length),
      onDataPayload: (part) => this.#onDataPayload(part),
      onDataEnd: () => this.#onDataEnd(),
      onOversizedFrame: (type, length) =>
        this.#connectionError(
          ErrorCode.FRAME_SIZE_ERROR,
          'frame-size',
          `frame type ${type} of ${length} bytes`,
        ),
    };
    this.#decoder = new FrameDecoder(this.#local.maxFrameSize, sink);

    this.#writer = new FrameWriter(socket, () => this.#onWritten());
    const throughHandle = readThroughHandle(socket, newReadBuffer, (chunk) => {
      this.#readRetained = false;
      this.#onRead(chunk);
      return this.#readRetained;
    });
    if (throughHandle) socket.resume();
    else socket.on('data', (chunk: Buffer) => this.#onRead(chunk));
    socket.on('error', (error: Error) => this.#fail(error));
    socket.on('close', () => this.#onSocketClose());

    // Ahead of every frame: the writer's first write leaves at the end of this tick.
    if (this.role === 'client') socket.write(CLIENT_PREFACE);
    this.#writeFrame(FrameType.SETTINGS, 0, 0, encodeSettings(this.#local, this.role));
    if (this.#local.connectionWindowBytes > DEFAULT_WINDOW) {
      const increment = this.#local.connectionWindowBytes - DEFAULT_WINDOW;
      this.#receiveWindow += increment;
      this.#writeWindowUpdate(0, increment);
    }
    this.#settingsTimer = setTimeout(
      () =>
        this.#connectionError(ErrorCode.SETTINGS_TIMEOUT, 'settings-timeout', 'SETTINGS not acknowledged'),
      this.#limits.settingsTimeoutMs,
    );
    this.#settingsTimer.unref();
    if (this.#limits.keepAliveMs !== undefined) this.#startKeepAlive(this.#limits.keepAliveMs);
  }

  /** Nothing more can be sent: destroyed, failed, or the socket is gone. */
  get destroyed(): boolean {
    return this.#dead;
  }

  /** No new streams: a GOAWAY went either way, or the connection is dead. */
  get closed(): boolean {
    return this.#dead || this.#goawaySent || this.#goawayReceived;
  }

  /** Streams open at the protocol level. */
  get streamCount(): number {
    return this.#streams.size;
  }

  /**
   * Bytes this connection holds on behalf of the peer: a partial frame, a header block being assembled, the
   * HPACK table, stream buffers and unsent output. Tests check that hostile input keeps it bounded.
   */
  get heldBytes(): number {
    let bytes = this.#decoder.bufferedBytes + (this.#headerBlock?.bytes ?? 0) + this.#hpack.tableSize;
    for (const stream of this.#streams.values()) bytes += stream.readableLength + stream.writableLength;
    return bytes + this.#writer.bufferedBytes;
  }

  /** Client: opens a stream with `headers` (pseudo-headers first); its HEADERS frame goes out this tick. */
  request(headers: Record<string, string>): H2Stream {
    if (this.role !== 'client') throw new Error('only a client opens streams');
    if (this.closed)
      throw new H2Error('connection', ErrorCode.REFUSED_STREAM, 'the HTTP/2 connection is closing');
    if (this.#nextStreamId > MAX_STREAM_ID) {
      throw new H2Error('connection', ErrorCode.REFUSED_STREAM, 'stream ids exhausted on this connection');
    }
    const id = this.#nextStreamId;
    this.#nextStreamId += 2;
    const stream = new H2Stream(
      this,
      id,
      this.remoteSettings.initialWindowSize,
      this.#local.streamWindowBytes,
    );
    this.#streams.set(id, stream);
    const fields: HeaderField[] = [];
    for (const [name, value] of Object.entries(headers)) {
      if (name.startsWith(':')) fields.push([name, value]);
    }
    for (const [name, value] of Object.entries(headers)) {
      if (!name.startsWith(':')) fields.push([name.toLowerCase(), value]);
    }
    this.sendHeaders(stream, fields, false);
    return stream;
  }

  /**
   * Graceful close: GOAWAY(NO_ERROR) with the last stream the peer opened; streams already open run to their
   * end, then the socket closes.
   */
  close(): void {
    if (this.#dead) return;
    if (!this.#goawaySent) this.#sendGoaway(ErrorCode.NO_ERROR, '');
    this.#maybeFinish();
  }

  /** Abrupt close: every stream is reset and the socket destroyed. */
  destroy(error?: Error): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#teardown(error ?? new H2Error('connection', ErrorCode.CANCEL, 'HTTP/2 connection destroyed'));
    this.socket.destroy();
  }

  // --- StreamOwner: called by H2Stream -------------------------------------------------------------

  sendData(stream: H2Stream, chunk: Buffer, callback: (error?: Error | null) => void): void {
    if (this.#dead) {
      callback(new H2Error('stream', ErrorCode.CANCEL, 'HTTP/2 connection closed'));
      return;
    }
    if (stream.localEnded) {
      // After the peer's RST_STREAM(NO_ERROR) it wants no more of ours: the rest is dropped, not an error.
      callback(
        stream.rstExchanged ? null : new H2Error('stream', ErrorCode.STREAM_CLOSED, 'write after END_STREAM'),
      );
      return;
    }
    stream.pending = { chunk, offset: 0, callback };
    this.#flushStream(stream);
  }

  /**
   * Frames `chunk` on `stream` as far as the windows allow, copying it (the caller reuses its buffer); what
   * they do not allow yet is copied aside and sent as they open. True if the caller may go on; false if it
   * should stop reading until `resume` is called (a window is closed, or the socket is behind).
   */
  sendCopy(stream: H2Stream, chunk: Buffer, resume: () => void): boolean {
    // Ended or gone: what the Writable would refuse is dropped (the relay is closing both sides).
    if (stream.destroyed || stream.writableEnded) return true;
    // Called from the relay's read callback: its frame leaves when this returns, not a tick later.
    this.#writer.hold();
    try {
      return this.#sendCopy(stream, chunk, resume);
    } finally {
      this.#writer.release();
    }
  }

  #sendCopy(stream: H2Stream, chunk: Buffer, resume: () => void): boolean {
    if (this.#fitsOneFrame(stream, chunk.length)) {
      // The common case (a request, a response, most bulk reads): one DATA frame now, nothing kept aside.
      this.#writeData(stream, chunk, 0, chunk.length);
      if (this.#writer.bufferedBytes <= this.#limits.sendBufferBytes) return true;
      this.#drainWaiters.push(resume);
      return false;
    }
    const waiting = stream.pending;
    if (waiting !== undefined) {
      // Already waiting (a read the caller could not stop in time): queued behind, it resumes once.
      waiting.chunk = Buffer.concat([waiting.chunk.subarray(waiting.offset), chunk]);
      waiting.offset = 0;
      return false;
    }
    let sent = false;
    let sync = true;
    this.sendData(stream, chunk, () => {
      sent = true;
      if (!sync) resume();
    });
    sync = false;
    const pending = stream.pending as PendingWrite | undefined;
    if (pending?.chunk === chunk) {
      pending.chunk = Buffer.from(chunk.subarray(pending.offset));
      pending.offset = 0;
    }
    return sent;
  }

  sendEnd(stream: H2Stream, callback: (error?: Error | null) => void): void {
    const pending = stream.pending;
    if (pending !== undefined) {
      // Data a reader framed past the stream's Writable (`sendCopy`) still waits for window: END_STREAM
      // follows it.
      const sent = pending.callback;
      pending.callback = (error) => {
        sent(error);
        this.sendEnd(stream, callback);
      };
      return;
    }
    if (!stream.localEnded && !this.#dead && stream.rstCode === undefined) {
      this.#writeFrame(FrameType.DATA, Flag.END_STREAM, stream.id);
      stream.localEnded = true;
      this.#maybeCloseStream(stream);
    }
    callback();
  }

  sendHeaders(stream: H2Stream, fields: readonly HeaderField[], endStream: boolean): void {
    if (this.#dead) return;
    const block = encodeHeaders(fields, this.#resetTableSize);
    this.#resetTableSize = false;
    const max = this.remoteSettings.maxFrameSize;
    let at = 0;
    let type: number = FrameType.HEADERS;
    do {
      const end = Math.min(block.length, at + max);
      let flags = end === block.length ? Flag.END_HEADERS : 0;
      if (type === FrameType.HEADERS && endStream) flags |= Flag.END_STREAM;
      this.#writeFrame(type, flags, stream.id, block.subarray(at, end));
      type = FrameType.CONTINUATION;
      at = end;
    } while (at < block.length);
    stream.headersSent = true;
    if (endStream) {
      stream.localEnded = true;
      this.#maybeCloseStream(stream);
    }
  }

  credit(stream: H2Stream): void {
    if (stream.readPaused || stream.uncredited === 0 || this.#dead) return;
    const bytes = stream.uncredited;
    stream.uncredited = 0;
    this.#creditConnection(bytes);
    if (stream.remoteEnded || !this.#streams.has(stream.id)) return;
    stream.streamUncredited += bytes;
    // Give the window back in quarters: one WINDOW_UPDATE per quarter window, not per frame.
    if (stream.streamUncredited >= this.#local.streamWindowBytes / 4) {
      stream.receiveWindow += stream.streamUncredited;
      this.#writeWindowUpdate(stream.id, stream.streamUncredited);
      stream.streamUncredited = 0;
    }
  }

  release(stream: H2Stream, error: Error | null): void {
    const open = this.#streams.get(stream.id) === stream;
    if (open) {
      this.#streams.delete(stream.id);
      this.#blocked.delete(stream);
      if (!this.#dead && !stream.rstExchanged) {
        const code = stream.rstCode ?? (error ? ErrorCode.INTERNAL_ERROR : ErrorCode.CANCEL);
        stream.rstCode = code;
        stream.rstExchanged = true;
        this.#writeRstStream(stream.id, code);
      }
    }
    const pending = stream.pending;
    stream.pending = undefined;
    pending?.callback(new H2Error('stream', stream.rstCode ?? ErrorCode.CANCEL, 'stream closed'));
    // Whatever the app never consumed still counts against the connection window: give it back.
    this.#creditConnection(stream.uncredited);
    stream.uncredited = 0;
    if (open) this.#maybeFinish();
  }

  // --- Writing -------------------------------------------------------------------------------------

  #writeFrame(type: number, flags: number, streamId: number, payload?: Buffer): void {
    this.#writer.frame(type, flags, streamId, payload);
  }

  #writeWindowUpdate(streamId: number, increment: number): void {
    const payload = Buffer.allocUnsafe(4);
    payload.writeUInt32BE(increment);
    this.#writeFrame(FrameType.WINDOW_UPDATE, 0, streamId, payload);
  }

  #writeRstStream(streamId: number, code: number): void {
    const payload = Buffer.allocUnsafe(4);
    payload.writeUInt32BE(code);
    this.#writeFrame(FrameType.RST_STREAM, 0, streamId, payload);
  }

  #sendGoaway(code: number, detail: string): void {
    this.#goawaySent = true;
    const debug = Buffer.from(detail.slice(0, 200), 'latin1');
    const payload = Buffer.allocUnsafe(8 + debug.length);
    payload.writeUInt32BE(this.#lastPeerStreamId, 0);
    payload.writeUInt32BE(code, 4);
    debug.copy(payload, 8);
    this.#writeFrame(FrameType.GOAWAY, 0, 0, payload);
  }

  /** An ACK the peer asked for; refused when the peer does not read what we already owe it. */
  #writeAck(type: number, payload?: Buffer): boolean {
    if (this.#writer.bufferedBytes > ACK_BACKLOG_BYTES) {
      if (++this.#queuedAcks > this.#limits.maxQueuedAcks) {
        const violation = type === FrameType.PING ? 'ping-flood' : 'settings-flood';
        this.#connectionError(ErrorCode.ENHANCE_YOUR_CALM, violation, 'too many unread ACKs');
        return false;
      }
    }
    this.#writeFrame(type, Flag.ACK, 0, payload);
    return true;
  }

  #flushStream(stream: H2Stream): void {
    const pending = stream.pending;
    if (!pending) return;
    const { chunk } = pending;
    while (pending.offset < chunk.length) {
      const n = Math.min(
        chunk.length - pending.offset,
        stream.sendWindow,
        this.#sendWindow,
        this.remoteSettings.maxFrameSize,
        this.#writer.dataRoom(),
      );
      if (n <= 0) {
        this.#blocked.add(stream);
        return;
      }
      const end = pending.offset + n;
      this.#writeData(stream, chunk, pending.offset, end);
      pending.offset = end;
    }
    stream.pending = undefined;
    this.#blocked.delete(stream);
    if (this.#writer.bufferedBytes <= this.#limits.sendBufferBytes) pending.callback();
    else this.#drainWaiters.push(() => pending.callback());
  }

  /** Whether `length` bytes go out on `stream` now as one DATA frame (open, nothing queued, windows open). */
  #fitsOneFrame(stream: H2Stream, length: number): boolean {
    return (
      stream.pending === undefined &&
      !stream.localEnded &&
      !this.#dead &&
      length > 0 &&
      length <= stream.sendWindow &&
      length <= this.#sendWindow &&
      length <= this.remoteSettings.maxFrameSize &&
      length <= this.#writer.dataRoom()
    );
  }

  /** One DATA frame of `chunk[start, end)`, charged to both send windows. */
  #writeData(stream: H2Stream, chunk: Buffer, start: number, end: number): void {
    this.#writer.frame(FrameType.DATA, 0, stream.id, chunk, start, end);
    stream.sendWindow -= end - start;
    this.#sendWindow -= end - start;
  }

  #flushBlocked(): void {
    for (const stream of this.#blocked) {
      if (this.#sendWindow <= 0) return;
      this.#flushStream(stream);
    }
  }

  /** A write completed: the peer reads, and stream writes waiting for room may go on. */
  #onWritten(): void {
    this.#queuedAcks = 0;
    if (this.#writer.bufferedBytes > this.#limits.sendBufferBytes || this.#drainWaiters.length === 0) return;
    const waiters = this.#drainWaiters.splice(0);
    for (const waiter of waiters) waiter();
  }

  #creditConnection(bytes: number): void {
    if (bytes === 0 || this.#dead) return;
    this.#connectionUncredited += bytes;
    if (this.#connectionUncredited >= this.#local.connectionWindowBytes / 4) {
      this.#receiveWindow += this.#connectionUncredited;
      this.#writeWindowUpdate(0, this.#connectionUncredited);
      this.#connectionUncredited = 0;
    }
  }

  // --- Reading -------------------------------------------------------------------------------------

  /** One read of the socket: what its frames make us send leaves in one write when it is decoded. */
  #onRead(chunk: Buffer): void {
    this.#writer.hold();
    try {
      this.#onData(chunk);
    } finally {
      this.#writer.release();
    }
  }

  #onData(chunk: Buffer): void {
    if (this.#dead) return;
    this.#heardSinceTick = true;
    if (this.#prefaceAt < CLIENT_PREFACE.length) {
      const take = Math.min(CLIENT_PREFACE.length - this.#prefaceAt, chunk.length);
      if (chunk.compare(CLIENT_PREFACE, this.#prefaceAt, this.#prefaceAt + take, 0, take) !== 0) {
        this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'protocol', 'no HTTP/2 client preface');
        return;
      }
      this.#prefaceAt += take;
      if (take === chunk.length) return;
      chunk = chunk.subarray(take);
    }
    this.#decoder.push(chunk);
  }

  /** What every frame must respect wherever it stands: no frame inside a header block, SETTINGS first. */
  #frameAllowed(type: number): boolean {
    if (this.#dead) return false;
    if (this.#headerBlock !== undefined && type !== FrameType.CONTINUATION) {
      this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'protocol', `frame type ${type} inside a header block`);
      return false;
    }
    if (!this.#peerSettingsSeen && type !== FrameType.SETTINGS) {
      this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'protocol', 'first frame is not SETTINGS');
      return false;
    }
    return true;
  }

  #onFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (!this.#frameAllowed(type)) return;
    switch (type) {
      case FrameType.DATA:
        this.#onDataFrame(flags, streamId, payload);
        return;
      case FrameType.HEADERS:
        this.#onHeadersFrame(flags, streamId, payload);
        return;
      case FrameType.CONTINUATION:
        this.#onContinuation(flags, streamId, payload);
        return;
      case FrameType.PRIORITY:
        if (streamId === 0)
          this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'protocol', 'PRIORITY on stream 0');
        else if (payload.length !== 5) {
          this.#connectionError(ErrorCode.FRAME_SIZE_ERROR, 'frame-size', 'PRIORITY not 5 bytes');
        }
        return;
      case FrameType.RST_STREAM:
        this.#onRstStream(streamId, payload);
        return;
      case FrameType.SETTINGS:
        this.#onSettings(flags, streamId, payload);
        return;
      case FrameType.PUSH_PROMISE:
        this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'protocol', 'PUSH_PROMISE with push disabled');
        return;
      case FrameType.PING:
        this.#onPing(flags, streamId, payload);
        return;
      case FrameType.GOAWAY:
        this.#onGoaway(streamId, payload);
        return;
      case FrameType.WINDOW_UPDATE:
        this.#onWindowUpdate(streamId, payload);
        return;
      default:
        // Unknown frame types are ignored (RFC 9113 section 4.1), but cost a glitch token.
        this.#glitch('unknown frame type');
        return;
    }
  }

  /** A padded DATA frame (assembled whole by the decoder): its padding is checked and consumed at once. */
  #onDataFrame(flags: number, streamId: number, payload: Buffer): void {
    const length = payload.length;
    const padding = length > 0 ? payload[0]! : 0;
    if (length === 0 || padding >= length) {
      this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'protocol', 'DATA padding exceeds the frame');
      return;
    }
    const data = payload.subarray(1, length - padding);
    this.#onDataStart(flags, streamId, length, data.length);
    const stream = this.#dataStream;
    if (stream === undefined) return;
    stream.uncredited += length - data.length;
    if (data.length > 0) this.#onDataPayload(data);
    this.#onDataEnd();
  }

  /**
   * A DATA frame of `length` bytes (`dataLength` of them data, the rest padding) begins: the windows are
   * checked and charged for the whole frame here, and its stream becomes the target of the payload parts
   * that follow (none when the frame is refused or its stream is gone: the connection window is given back
   * at once then).
   */
  #onDataStart(flags: number, streamId: number, length: number, dataLength: number): void {
    this.#dataStream = undefined;
    this.#dataFlags = flags;
    if (!this.#frameAllowed(FrameType.DATA)) return;
    if (streamId === 0) {
      this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'protocol', 'DATA on stream 0');
      return;
    }
    if (length > this.#receiveWindow) {
      this.#connectionError(
        ErrorCode.FLOW_CONTROL_ERROR,
        'flow-control',
        'DATA beyond the connection window',
      );
      return;
    }
    this.#receiveWindow -= length;
    const stream = this.#streams.get(streamId);
    if (!stream) {
      if (this.#isIdle(streamId)) {
        this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'protocol', `DATA on idle stream ${streamId}`);
        return;
      }
      // A stream we reset or closed: data in flight is normal, but its window is still ours to give back.
      this.#creditConnection(length);
      this.#glitch('DATA on a closed stream');
      return;
    }
    if (stream.remoteEnded || (this.role === 'client' && !stream.responded)) {
      this.#creditConnection(length);
      this.#streamError(stream, ErrorCode.STREAM_CLOSED);
      return;
    }
    if (length > stream.receiveWindow) {
      this.#creditConnection(length);
      this.#streamError(stream, ErrorCode.FLOW_CONTROL_ERROR);
      this.#count('flow-control', `DATA beyond the window of stream ${streamId}`);
      return;
    }
    stream.receiveWindow -= length;
    if (dataLength === 0 && (flags & Flag.END_STREAM) === 0) this.#glitch('empty DATA frame');
    this.#dataStream = stream;
  }

  #onDataPayload(part: Buffer): void {
    const stream = this.#dataStream;
    if (stream === undefined) return;
    // Reset or destroyed while its frame was arriving: what it will never read goes back to the connection.
    if (stream.destroyed) this.#creditConnection(part.length);
    else {
      const tap = stream.tap;
      if (tap === undefined) {
        stream.deliver(part);
        // In the stream's buffer, or already in a consumer's hands: the read buffer is theirs now.
        this.#readRetained = true;
      } else {
        stream.uncredited += part.length;
        if (tap(part)) this.#readRetained = true;
      }
    }
  }

  #onDataEnd(): void {
    const stream = this.#dataStream;
    this.#dataStream = undefined;
    if (stream === undefined || stream.destroyed) return;
    if (this.#dataFlags & Flag.END_STREAM) this.#remoteEnd(stream);
    this.credit(stream);
  }

  #onHeadersFrame(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) {
      this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'protocol', 'HEADERS on stream 0');
      return;
    }
    let start = 0;
    let end = payload.length;
    if (flags & Flag.PADDED) {
      const padding = payload.length > 0 ? payload[0]! : 0;
      start = 1;
      end -= padding;
    }
    if (flags & Flag.PRIORITY) start += 5;
    if (end < start) {
      this.#connectionError(
        ErrorCode.PROTOCOL_ERROR,
        'protocol',
        'HEADERS padding or priority exceeds the frame',
      );
      return;
    }
    const fragment = payload.subarray(start, end);
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (flags & Flag.END_HEADERS) {
      this.#onHeaderBlock(streamId, endStream, fragment);
      return;
    }
    this.#headerBlock = {
      streamId,
      endStream,
      // Copied: the read it came in is reused once this read is decoded.
      fragments: [Buffer.from(fragment)],
      bytes: fragment.length,
      continuations: 0,
    };
    this.#checkHeaderBlock(this.#headerBlock);
  }

  #onContinuation(flags: number, streamId: number, payload: Buffer): void {
    const block = this.#headerBlock;
    if (block === undefined || block.streamId !== streamId) {
      this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'protocol', 'CONTINUATION without its HEADERS');
      return;
    }
    block.fragments.push(Buffer.from(payload));
    block.bytes += payload.length;
    block.continuations++;
    if (!this.#checkHeaderBlock(block)) return;
    if (flags & Flag.END_HEADERS) {
      this.#headerBlock = undefined;
      this.#onHeaderBlock(streamId, block.endStream, Buffer.concat(block.fragments, block.bytes));
    }
  }

  #checkHeaderBlock(block: HeaderBlock): boolean {
    if (block.continuations > this.#limits.maxContinuations) {
      this.#connectionError(
        ErrorCode.ENHANCE_YOUR_CALM,
        'continuation-flood',
        `${block.continuations} CONTINUATIONs`,
      );
      return false;
    }
    if (block.bytes > this.#local.maxHeaderListSize) {
      this.#connectionError(
        ErrorCode.ENHANCE_YOUR_CALM,
        'header-list-too-large',
        `header block of ${block.bytes} bytes`,
      );
      return false;
    }
    return true;
  }

  #onHeaderBlock(streamId: number, endStream: boolean, block: Buffer): void {
    // The block is decoded before anything else: the HPACK state must follow every block the peer sent.
    const decoded = this.#hpack.decode(block);
    if (!decoded.ok) {
      if (decoded.failure === 'compression') {
        this.#connectionError(ErrorCode.COMPRESSION_ERROR, 'compression', decoded.detail);
      } else this.#connectionError(ErrorCode.ENHANCE_YOUR_CALM, 'header-list-too-large', decoded.detail);
      return;
    }
    const existing = this.#streams.get(streamId);
    if (existing) {
      this.#onStreamHeaders(existing, endStream, decoded.fields);
      return;
    }
    const peerInitiated = (streamId & 1) === (this.role === 'server' ? 1 : 0);
    if (!peerInitiated) {
      if (this.#isIdle(streamId)) {
        this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'protocol', `HEADERS on idle stream ${streamId}`);
      } else this.#glitch('HEADERS on a closed stream');
      return;
    }
    if (this.role === 'client') {
      this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'protocol', 'a server opened a stream');
      return;
    }
    if (streamId <= this.#lastPeerStreamId) {
      this.#connectionError(ErrorCode.STREAM_CLOSED, 'protocol', `HEADERS on closed stream ${streamId}`);
      return;
    }
    this.#lastPeerStreamId = streamId;
    if (this.#goawaySent) return;
    const max = this.#local.maxConcurrentStreams;
    if (max !== undefined && this.#streams.size >= max) {
      this.#writeRstStream(streamId, ErrorCode.REFUSED_STREAM);
      this.#count('refused-stream', `more than ${max} concurrent streams`);
      this.#glitch('refused stream');
      return;
    }
    const request = toHeaderMap(decoded.fields, 'request');
    if (!request.ok) {
      this.#writeRstStream(streamId, ErrorCode.PROTOCOL_ERROR);
      this.#count('protocol', request.reason);
      this.#glitch('malformed request');
      return;
    }
    const stream = new H2Stream(
      this,
      streamId,
      this.remoteSettings.initialWindowSize,
      this.#local.streamWindowBytes,
    );
    this.#streams.set(streamId, stream);
    if (endStream) this.#remoteEnd(stream);
    this.emit('stream', stream, request.headers);
  }

  /** HEADERS on an open stream: the client's response, or trailers (which must end the stream). */
  #onStreamHeaders(stream: H2Stream, endStream: boolean, fields: HeaderField[]): void {
    if (stream.remoteEnded) {
      this.#streamError(stream, ErrorCode.STREAM_CLOSED);
      return;
    }
    if (this.role === 'client' && !stream.responded) {
      const response = toHeaderMap(fields, 'response');
      if (!response.ok) {
        this.#streamError(stream, ErrorCode.PROTOCOL_ERROR);
        return;
      }
      // Informational responses (1xx) precede the real one.
      if (response.headers[':status']!.startsWith('1')) {
        if (endStream) this.#streamError(stream, ErrorCode.PROTOCOL_ERROR);
        return;
      }
      stream.responded = true;
      stream.emit('response', response.headers);
      if (endStream) this.#remoteEnd(stream);
      return;
    }
    if (!endStream) {
      this.#streamError(stream, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    this.#remoteEnd(stream);
  }

  #onRstStream(streamId: number, payload: Buffer): void {
    if (payload.length !== 4) {
      this.#connectionError(ErrorCode.FRAME_SIZE_ERROR, 'frame-size', 'RST_STREAM not 4 bytes');
      return;
    }
    if (streamId === 0 || this.#isIdle(streamId)) {
      this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'protocol', `RST_STREAM on idle stream ${streamId}`);
      return;
    }
    if (!this.#resets.take(this.#now())) {
      this.#connectionError(
        ErrorCode.ENHANCE_YOUR_CALM,
        'rapid-reset',
        'stream resets above the allowed rate',
      );
      return;
    }
    const stream = this.#streams.get(streamId);
    if (!stream) return;
    const code = payload.readUInt32BE(0);
    stream.rstCode = code;
    stream.rstExchanged = true;
    this.#streams.delete(streamId);
    this.#blocked.delete(stream);
    if (code === ErrorCode.NO_ERROR && stream.remoteEnded) {
      // The peer finished and does not want the rest of ours: let the app read what arrived, then close.
      stream.localEnded = true;
      const pending = stream.pending;
      stream.pending = undefined;
      pending?.callback();
      if (stream.readableEnded) stream.destroy();
      else stream.once('end', () => stream.destroy());
      this.#maybeFinish();
      return;
    }
    stream.destroy(new H2Error('stream', code, `stream reset by the peer (${errorCodeName(code)})`));
    this.#maybeFinish();
  }

  #onSettings(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) {
      this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'protocol', 'SETTINGS on a stream');
      return;
    }
    if (flags & Flag.ACK) {
      if (payload.length !== 0) {
        this.#connectionError(ErrorCode.FRAME_SIZE_ERROR, 'frame-size', 'SETTINGS ACK with a payload');
        return;
      }
      clearTimeout(this.#settingsTimer);
      this.#settingsTimer = undefined;
      return;
    }
    if (payload.length % 6 !== 0) {
      this.#connectionError(ErrorCode.FRAME_SIZE_ERROR, 'frame-size', 'SETTINGS length not a multiple of 6');
      return;
    }
    if (payload.length / 6 > this.#limits.maxSettingsEntries || !this.#settingsFrames.take(this.#now())) {
      this.#connectionError(ErrorCode.ENHANCE_YOUR_CALM, 'settings-flood', 'too many SETTINGS');
      return;
    }
    const update = parseSettings(payload);
    if (!update.ok) {
      const violation = update.errorCode === ErrorCode.FLOW_CONTROL_ERROR ? 'flow-control' : 'protocol';
      this.#connectionError(update.errorCode, violation, update.detail);
      return;
    }
    const { changed } = update;
    if (changed.initialWindowSize !== undefined) {
      const delta = changed.initialWindowSize - this.remoteSettings.initialWindowSize;
      for (const stream of this.#streams.values()) {
        if (stream.sendWindow + delta > MAX_WINDOW) {
          this.#connectionError(
            ErrorCode.FLOW_CONTROL_ERROR,
            'flow-control',
            'INITIAL_WINDOW_SIZE overflows a window',
          );
          return;
        }
        stream.sendWindow += delta;
      }
    }
    if (changed.headerTableSize !== undefined) this.#resetTableSize = true;
    Object.assign(this.remoteSettings, changed);
    if (!this.#writeAck(FrameType.SETTINGS)) return;
    this.#flushBlocked();
    if (!this.#peerSettingsSeen) {
      this.#peerSettingsSeen = true;
      this.emit('connect');
    }
  }

  #onPing(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) {
      this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'protocol', 'PING on a stream');
      return;
    }
    if (payload.length !== 8) {
      this.#connectionError(ErrorCode.FRAME_SIZE_ERROR, 'frame-size', 'PING not 8 bytes');
      return;
    }
    if (flags & Flag.ACK) {
      this.#pingOutstanding = false;
      return;
    }
    if (!this.#pings.take(this.#now())) {
      this.#connectionError(ErrorCode.ENHANCE_YOUR_CALM, 'ping-flood', 'PINGs above the allowed rate');
      return;
    }
    this.#writeAck(FrameType.PING, payload);
  }

  #onGoaway(streamId: number, payload: Buffer): void {
    if (streamId !== 0) {
      this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'protocol', 'GOAWAY on a stream');
      return;
    }
    if (payload.length < 8) {
      this.#connectionError(ErrorCode.FRAME_SIZE_ERROR, 'frame-size', 'GOAWAY shorter than 8 bytes');
      return;
    }
    const lastStreamId = payload.readUInt32BE(0) & 0x7fffffff;
    const code = payload.readUInt32BE(4);
    this.#goawayReceived = true;
    // Streams we opened above its last-stream-id were never processed: they may be retried elsewhere.
    for (const stream of [...this.#streams.values()]) {
      const ours = (stream.id & 1) === (this.role === 'client' ? 1 : 0);
      if (ours && stream.id > lastStreamId) {
        stream.rstCode = ErrorCode.REFUSED_STREAM;
        stream.rstExchanged = true;
        this.#streams.delete(stream.id);
        stream.destroy(new H2Error('stream', ErrorCode.REFUSED_STREAM, 'stream refused by GOAWAY'));
      }
    }
    this.emit('goaway', code, lastStreamId);
    this.#maybeFinish();
  }

  #onWindowUpdate(streamId: number, payload: Buffer): void {
    if (payload.length !== 4) {
      this.#connectionError(ErrorCode.FRAME_SIZE_ERROR, 'frame-size', 'WINDOW_UPDATE not 4 bytes');
      return;
    }
    const increment = payload.readUInt32BE(0) & 0x7fffffff;
    if (streamId === 0) {
      if (increment === 0) {
        this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'protocol', 'WINDOW_UPDATE of 0');
        return;
      }
      if (this.#sendWindow + increment > MAX_WINDOW) {
        this.#connectionError(ErrorCode.FLOW_CONTROL_ERROR, 'flow-control', 'connection window above 2^31-1');
        return;
      }
      this.#sendWindow += increment;
      this.#flushBlocked();
      return;
    }
    const stream = this.#streams.get(streamId);
    if (!stream) {
      if (this.#isIdle(streamId)) {
        this.#connectionError(
          ErrorCode.PROTOCOL_ERROR,
          'protocol',
          `WINDOW_UPDATE on idle stream ${streamId}`,
        );
      }
      return;
    }
    if (increment === 0) {
      this.#streamError(stream, ErrorCode.PROTOCOL_ERROR);
      this.#count('protocol', 'WINDOW_UPDATE of 0');
      return;
    }
    if (stream.sendWindow + increment > MAX_WINDOW) {
      this.#streamError(stream, ErrorCode.FLOW_CONTROL_ERROR);
      this.#count('flow-control', `stream ${streamId} window above 2^31-1`);
      return;
    }
    stream.sendWindow += increment;
    if (stream.pending) this.#flushStream(stream);
  }

  // --- State ---------------------------------------------------------------------------------------

  /** A stream id that was never opened (by whichever side opens ids of its parity). */
  #isIdle(streamId: number): boolean {
    const peerInitiated = (streamId & 1) === (this.role === 'server' ? 1 : 0);
    return peerInitiated ? streamId > this.#lastPeerStreamId : streamId >= this.#nextStreamId;
  }

  #remoteEnd(stream: H2Stream): void {
    stream.remoteEnded = true;
    stream.push(null);
    this.#maybeCloseStream(stream);
  }

  #maybeCloseStream(stream: H2Stream): void {
    if (!stream.protocolClosed) return;
    this.#streams.delete(stream.id);
    this.#blocked.delete(stream);
    this.#maybeFinish();
  }

  /** After a GOAWAY either way, the socket closes once the last stream is done. */
  #maybeFinish(): void {
    if (this.#dead || !(this.#goawaySent || this.#goawayReceived) || this.#streams.size > 0) return;
    this.#dead = true;
    this.#teardown(undefined);
    this.#writer.end();
    // A peer that never closes its side does not keep the socket.
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  #streamError(stream: H2Stream, code: number): void {
    stream.rstCode = code;
    stream.destroy(new H2Error('stream', code, `stream error ${errorCodeName(code)}`));
  }

  #glitch(detail: string): void {
    if (!this.#glitches.take(this.#now())) {
      this.#connectionError(
        ErrorCode.ENHANCE_YOUR_CALM,
        'glitch-flood',
        `too many useless frames (${detail})`,
      );
    }
  }

  #count(violation: H2Violation, detail: string): void {
    this.violations.set(violation, (this.violations.get(violation) ?? 0) + 1);
    this.#onViolation?.(violation, detail);
  }

  /** A connection error: GOAWAY with `code`, every stream reset, the socket closed once the GOAWAY is out. */
  #connectionError(code: number, violation: H2Violation, detail: string): void {
    if (this.#dead) return;
    this.#count(violation, detail);
    this.#decoder.stop();
    this.#sendGoaway(code, detail);
    this.#dead = true;
    const error = new H2Error('connection', code, `HTTP/2 ${errorCodeName(code)}: ${detail}`);
    this.#teardown(error);
    this.#writer.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  #fail(error: Error): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#teardown(error);
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  #onSocketClose(): void {
    this.#dead = true;
    this.#teardown(new H2Error('connection', ErrorCode.CANCEL, 'HTTP/2 connection closed'));
    if (this.#closeEmitted) return;
    this.#closeEmitted = true;
    this.emit('close');
  }

  /** Ends every open stream with `error` (an abort reaches their apps) and stops the timers. */
  #teardown(error: Error | undefined): void {
    clearTimeout(this.#settingsTimer);
    clearInterval(this.#keepAliveTimer);
    this.#decoder.stop();
    this.#headerBlock = undefined;
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    this.#blocked.clear();
    for (const stream of streams) {
      stream.rstCode ??= ErrorCode.CANCEL;
      stream.rstExchanged = true;
      stream.destroy(error ?? new H2Error('stream', ErrorCode.CANCEL, 'HTTP/2 connection closed'));
    }
    const waiters = this.#drainWaiters.splice(0);
    for (const waiter of waiters) waiter();
  }

  #startKeepAlive(periodMs: number): void {
    this.#keepAliveTimer = setInterval(() => {
      if (this.#heardSinceTick) {
        this.#heardSinceTick = false;
        return;
      }
      if (this.#pingOutstanding) {
        this.#count('ping-timeout', `no frame from the peer in ${2 * periodMs} ms`);
        this.destroy(new H2Error('connection', ErrorCode.CANCEL, 'HTTP/2 peer unresponsive (PING timeout)'));
        return;
      }
      this.#pingOutstanding = true;
      this.#writeFrame(FrameType.PING, 0, 0, Buffer.alloc(8));
    }, periodMs);
    this.#keepAliveTimer.unref();
  }
}
