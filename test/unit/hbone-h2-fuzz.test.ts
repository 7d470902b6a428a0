/**
 * Seeded fuzzing of the framer's decoding path: random frame sequences and mutations of a valid one, fed to
 * a server connection with small limits. Whatever arrives, nothing throws out of the connection (every bad
 * input ends in its error path: GOAWAY or RST_STREAM), and what it holds stays under a fixed bound.
 */
import { describe, expect, it } from 'vitest';
import { SettingId } from '../../src/core/hbone/h2/constants.ts';
import { encodeHeaders, HpackDecoder } from '../../src/core/hbone/h2/hpack.ts';
import {
  CLIENT_PREFACE,
  connectHeaders,
  ErrorCode,
  Flag,
  FrameType,
  frame,
  harness,
  settings,
  settingsAck,
  u32,
} from '../support/h2-frames.ts';
import { seededRandom as prng } from '../support/seeded-random.ts';

const LIMITS = {
  streamWindowBytes: 65_535,
  connectionWindowBytes: 65_535 * 4,
  maxFrameSize: 16_384,
  maxHeaderListSize: 8192,
  maxConcurrentStreams: 8,
};
/** Partial frame + header block + HPACK table + 8 stream buffers (window + high-water mark) + slack for our output. */
const BOUND =
  LIMITS.maxFrameSize +
  9 +
  LIMITS.maxHeaderListSize +
  LIMITS.maxFrameSize +
  4096 +
  LIMITS.maxConcurrentStreams * (LIMITS.streamWindowBytes + 65_536) +
  256 * 1024;

function randomBytes(random: () => number, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(random() * 256);
  return out;
}

/** A plausible frame: a real type, flags and a small stream id, with a random or well-formed payload. */
function randomFrame(random: () => number): Buffer {
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
  const type = Math.floor(random() * 11);
  const flags = pick([
    0,
    Flag.END_STREAM,
    Flag.END_HEADERS,
    Flag.END_HEADERS | Flag.END_STREAM,
    Flag.PADDED,
    0xff,
  ]);
  const streamId = pick([0, 1, 3, 5, 7, 9, 2, 2 ** 31 - 1]);
  const payload = pick([
    () => randomBytes(random, Math.floor(random() * 64)),
    () => u32(Math.floor(random() * 2 ** 32)),
    () => Buffer.alloc(8),
    () =>
      encodeHeaders([
        [':method', 'CONNECT'],
        [':authority', '10.0.0.1:80'],
      ]),
    () => randomBytes(random, Math.floor(random() * 20_000)),
  ])();
  return frame(type, flags, streamId, payload);
}

function validSequence(): Buffer[] {
  return [
    CLIENT_PREFACE,
    settings([
      [SettingId.INITIAL_WINDOW_SIZE, 1 << 20],
      [SettingId.MAX_FRAME_SIZE, 16_384],
    ]),
    settingsAck(),
    connectHeaders(1),
    frame(FrameType.HEADERS, 0, 3, encodeHeaders([[':method', 'CONNECT']])),
    frame(FrameType.CONTINUATION, Flag.END_HEADERS, 3, encodeHeaders([[':authority', '10.0.0.2:80']])),
    frame(FrameType.DATA, 0, 1, Buffer.alloc(1000, 1)),
    frame(
      FrameType.DATA,
      Flag.PADDED,
      3,
      Buffer.concat([Buffer.from([10]), Buffer.alloc(100, 2), Buffer.alloc(10)]),
    ),
    frame(FrameType.WINDOW_UPDATE, 0, 0, u32(1000)),
    frame(FrameType.WINDOW_UPDATE, 0, 1, u32(1000)),
    frame(FrameType.PRIORITY, 0, 5, Buffer.alloc(5)),
    frame(FrameType.PING, 0, 0, Buffer.alloc(8)),
    frame(FrameType.DATA, Flag.END_STREAM, 1, Buffer.alloc(10)),
    frame(FrameType.RST_STREAM, 0, 3, u32(ErrorCode.CANCEL)),
    connectHeaders(5, '[fd00::1]:443'),
    frame(FrameType.GOAWAY, 0, 0, Buffer.concat([u32(0), u32(0)])),
  ];
}

function mutate(random: () => number, frames: Buffer[]): Buffer[] {
  const out: Buffer[] = frames.map((f) => Buffer.from(f));
  const rounds = 1 + Math.floor(random() * 6);
  for (let r = 0; r < rounds; r++) {
    const i = Math.floor(random() * out.length);
    const target = out[i]!;
    switch (Math.floor(random() * 5)) {
      case 0: // flip a bit
        if (target.length > 0) target[Math.floor(random() * target.length)]! ^= 1 << Math.floor(random() * 8);
        break;
      case 1: // truncate
        out[i] = target.subarray(0, Math.floor(random() * target.length));
        break;
      case 2: // duplicate
        out.splice(i, 0, Buffer.from(target));
        break;
      case 3: // drop
        out.splice(i, 1);
        break;
      default: // insert a random frame
        out.splice(i, 0, randomFrame(random));
    }
  }
  return out;
}

/** Feeds the bytes in random slices (frames split across reads) and checks the two invariants. */
async function run(random: () => number, parts: Buffer[]): Promise<number> {
  const h = harness({ role: 'server', settings: LIMITS, now: () => 0 });
  let streams = 0;
  // Streams are accepted but never read: the worst case for buffering.
  h.connection.on('stream', (s) => {
    streams++;
    s.on('error', () => {});
  });
  const bytes = Buffer.concat(parts);
  let at = 0;
  while (at < bytes.length && !h.connection.destroyed) {
    const take = 1 + Math.floor(random() * 4096);
    expect(() => h.feed(bytes.subarray(at, at + take))).not.toThrow();
    at += take;
    expect(h.connection.heldBytes).toBeLessThan(BOUND);
  }
  await h.settle();
  h.connection.destroy();
  return streams;
}

describe('framer decoder fuzzing (seeded)', () => {
  it('survives 300 random frame sequences after a valid opening', async () => {
    for (let seed = 1; seed <= 300; seed++) {
      const random = prng(seed);
      const frames = [
        CLIENT_PREFACE,
        settings(),
        settingsAck(),
        ...Array.from({ length: 1 + Math.floor(random() * 30) }, () => randomFrame(random)),
      ];
      await run(random, frames);
    }
  });

  it('survives 300 mutations of a valid exchange', async () => {
    let streams = 0;
    for (let seed = 1000; seed < 1300; seed++) {
      const random = prng(seed);
      streams += await run(random, mutate(random, validSequence()));
    }
    // The mutations reach the stream code, not only the first checks.
    expect(streams).toBeGreaterThan(300);
  });

  it('survives 200 streams of raw random bytes after the preface', async () => {
    for (let seed = 5000; seed < 5200; seed++) {
      const random = prng(seed);
      await run(random, [CLIENT_PREFACE, randomBytes(random, Math.floor(random() * 50_000))]);
    }
  });

  it('HPACK decoder: random and mutated blocks never throw and keep the table within its limit', () => {
    const random = prng(42);
    const decoder = new HpackDecoder({ maxTableSize: 4096, maxHeaderListSize: 8192 });
    const valid = encodeHeaders([
      [':method', 'CONNECT'],
      [':authority', '10.0.0.1:80'],
      ['baggage', 'a=b'],
    ]);
    for (let i = 0; i < 5000; i++) {
      const block = i % 2 ? randomBytes(random, Math.floor(random() * 200)) : Buffer.from(valid);
      if (i % 2 === 0) block[Math.floor(random() * block.length)]! ^= 1 << Math.floor(random() * 8);
      expect(() => decoder.decode(block)).not.toThrow();
      expect(decoder.tableSize).toBeLessThanOrEqual(4096);
    }
  });
});
