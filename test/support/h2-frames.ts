/**
 * Raw HTTP/2 frames for tests that play a hostile or exotic peer against the framer: built by hand so a test
 * can send what no well-behaved library would (floods, overflows, broken header blocks).
 */
import { duplexPair } from 'node:stream';
import { H2Connection, type H2ConnectionOptions } from '../../src/core/hbone/h2/connection.ts';
import { CLIENT_PREFACE, ErrorCode, Flag, FrameType } from '../../src/core/hbone/h2/constants.ts';
import { encodeHeaders, type HeaderField } from '../../src/core/hbone/h2/hpack.ts';

export { CLIENT_PREFACE, ErrorCode, Flag, FrameType };

export function frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array = Buffer.alloc(0),
): Buffer {
  const out = Buffer.alloc(9 + payload.length);
  out.writeUIntBE(payload.length, 0, 3);
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(streamId >>> 0, 5);
  Buffer.from(payload).copy(out, 9);
  return out;
}

export function settings(entries: [number, number][] = []): Buffer {
  const payload = Buffer.alloc(entries.length * 6);
  for (const [i, [id, value]] of entries.entries()) {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value >>> 0, i * 6 + 2);
  }
  return frame(FrameType.SETTINGS, 0, 0, payload);
}

export const settingsAck = (): Buffer => frame(FrameType.SETTINGS, Flag.ACK, 0);

export function u32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value >>> 0);
  return out;
}

export function connectHeaders(
  streamId: number,
  authority = '10.0.0.1:80',
  flags = Flag.END_HEADERS,
): Buffer {
  const fields: HeaderField[] = [
    [':method', 'CONNECT'],
    [':authority', authority],
  ];
  return frame(FrameType.HEADERS, flags, streamId, encodeHeaders(fields));
}

export interface ParsedFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** Splits bytes a framer wrote into frames (skipping a client preface at the start). */
export function parseFrames(bytes: Buffer): ParsedFrame[] {
  let at = bytes.subarray(0, CLIENT_PREFACE.length).equals(CLIENT_PREFACE) ? CLIENT_PREFACE.length : 0;
  const frames: ParsedFrame[] = [];
  while (at + 9 <= bytes.length) {
    const length = bytes.readUIntBE(at, 3);
    if (at + 9 + length > bytes.length) break;
    frames.push({
      type: bytes[at + 3]!,
      flags: bytes[at + 4]!,
      streamId: bytes.readUInt32BE(at + 5) & 0x7fffffff,
      payload: bytes.subarray(at + 9, at + 9 + length),
    });
    at += 9 + length;
  }
  return frames;
}

/**
 * A framer connection whose peer is the test: `feed` hands it bytes synchronously (so a throw would surface
 * in the test, not as an uncaught exception), `output()` is everything it wrote so far, and `answer` (if
 * given) replies to each write at once.
 */
export function harness(
  options: H2ConnectionOptions,
  answer?: (frames: ParsedFrame[]) => Buffer | undefined,
) {
  const [ours, theirs] = duplexPair();
  const written: Buffer[] = [];
  theirs.on('data', (chunk: Buffer) => {
    written.push(chunk);
    // A scripted peer: answers what the framer just wrote (whole frames per write, as it corks them).
    const reply = answer?.(parseFrames(chunk));
    if (reply) ours.emit('data', reply);
  });
  const connection = new H2Connection(ours, options);
  connection.on('error', () => {});
  return {
    connection,
    feed(bytes: Buffer): void {
      ours.emit('data', bytes);
    },
    output(): Buffer {
      return Buffer.concat(written);
    },
    /** Lets corked writes reach the peer side. */
    async settle(): Promise<void> {
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
    },
    goaway(): { lastStreamId: number; code: number } | undefined {
      const found = parseFrames(Buffer.concat(written)).find((f) => f.type === FrameType.GOAWAY);
      return found && { lastStreamId: found.payload.readUInt32BE(0), code: found.payload.readUInt32BE(4) };
    },
  };
}
