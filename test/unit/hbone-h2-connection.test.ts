import { describe, expect, it } from 'vitest';
import { SettingId } from '../../src/core/hbone/h2/constants.ts';
import { encodeHeaders } from '../../src/core/hbone/h2/hpack.ts';
import type { H2Stream } from '../../src/core/hbone/h2/stream.ts';
import {
  CLIENT_PREFACE,
  connectHeaders,
  ErrorCode,
  Flag,
  FrameType,
  frame,
  harness,
  type ParsedFrame,
  parseFrames,
  settings,
  settingsAck,
  u32,
} from '../support/h2-frames.ts';
import { until } from '../support/h2-peers.ts';

const opening = () => Buffer.concat([CLIENT_PREFACE, settings(), settingsAck()]);
const repeat = (n: number, make: (i: number) => Buffer) =>
  Buffer.concat(Array.from({ length: n }, (_, i) => make(i)));
const ping = (flags = 0) => frame(FrameType.PING, flags, 0, Buffer.alloc(8));
/** HEADERS then RST_STREAM on each of n new streams: the rapid-reset pattern. */
const rapidReset = (n: number) =>
  repeat(n, (i) =>
    Buffer.concat([
      connectHeaders(2 * i + 1),
      frame(FrameType.RST_STREAM, 0, 2 * i + 1, u32(ErrorCode.CANCEL)),
    ]),
  );

describe('the framer refuses hostile peers with a GOAWAY and counts why', () => {
  const cases: [string, () => Buffer, number, string][] = [
    [
      'rapid reset (1001 HEADERS + RST_STREAM)',
      () => rapidReset(1001),
      ErrorCode.ENHANCE_YOUR_CALM,
      'rapid-reset',
    ],
    [
      'a CONTINUATION flood (9 after one HEADERS)',
      () =>
        Buffer.concat([
          frame(FrameType.HEADERS, 0, 1, Buffer.alloc(1, 0x82)),
          repeat(9, () => frame(FrameType.CONTINUATION, 0, 1, Buffer.alloc(1, 0x82))),
        ]),
      ErrorCode.ENHANCE_YOUR_CALM,
      'continuation-flood',
    ],
    [
      'a header block beyond 64 KiB',
      () =>
        Buffer.concat([
          frame(FrameType.HEADERS, 0, 1, Buffer.alloc(40_000, 0x82)),
          frame(FrameType.CONTINUATION, 0, 1, Buffer.alloc(40_000, 0x82)),
        ]),
      ErrorCode.ENHANCE_YOUR_CALM,
      'header-list-too-large',
    ],
    [
      'an HPACK bomb (one entry referenced 10000 times)',
      () => {
        const insert = Buffer.concat([
          Buffer.from([0x40, 0x01, 0x78, 0x7f, 0xa1, 0x1e]),
          Buffer.alloc(4000, 0x62),
        ]);
        return frame(
          FrameType.HEADERS,
          Flag.END_HEADERS,
          1,
          Buffer.concat([insert, Buffer.alloc(10_000, 0xbe)]),
        );
      },
      ErrorCode.ENHANCE_YOUR_CALM,
      'header-list-too-large',
    ],
    [
      'a PING flood (1001 at once)',
      () => repeat(1001, () => ping()),
      ErrorCode.ENHANCE_YOUR_CALM,
      'ping-flood',
    ],
    [
      'a SETTINGS flood (1001 at once)',
      () => repeat(1001, () => settings()),
      ErrorCode.ENHANCE_YOUR_CALM,
      'settings-flood',
    ],
    [
      'SETTINGS with 33 entries',
      () => settings(Array.from({ length: 33 }, () => [0x99, 1])),
      ErrorCode.ENHANCE_YOUR_CALM,
      'settings-flood',
    ],
    [
      'a glitch flood (1001 DATA frames on a closed stream)',
      () => Buffer.concat([rapidReset(1), repeat(1001, () => frame(FrameType.DATA, 0, 1, Buffer.alloc(1)))]),
      ErrorCode.ENHANCE_YOUR_CALM,
      'glitch-flood',
    ],
    [
      'a connection WINDOW_UPDATE beyond 2^31-1',
      () => frame(FrameType.WINDOW_UPDATE, 0, 0, u32(2 ** 31 - 1)),
      ErrorCode.FLOW_CONTROL_ERROR,
      'flow-control',
    ],
    [
      'a WINDOW_UPDATE of 0 on the connection',
      () => frame(FrameType.WINDOW_UPDATE, 0, 0, u32(0)),
      ErrorCode.PROTOCOL_ERROR,
      'protocol',
    ],
    [
      'DATA beyond the connection window (17 MiB over 5 unread streams)',
      () =>
        repeat(5, (i) =>
          Buffer.concat([
            connectHeaders(2 * i + 1),
            repeat(4, () => frame(FrameType.DATA, 0, 2 * i + 1, Buffer.alloc((1 << 20) - 1))),
          ]),
        ),
      ErrorCode.FLOW_CONTROL_ERROR,
      'flow-control',
    ],
    [
      'INITIAL_WINDOW_SIZE above 2^31-1',
      () => settings([[SettingId.INITIAL_WINDOW_SIZE, 2 ** 31]]),
      ErrorCode.FLOW_CONTROL_ERROR,
      'flow-control',
    ],
    [
      'a frame above our MAX_FRAME_SIZE',
      () => frame(FrameType.DATA, 0, 1, Buffer.alloc(1 << 20)),
      ErrorCode.FRAME_SIZE_ERROR,
      'frame-size',
    ],
    [
      'a PING of 7 bytes',
      () => frame(FrameType.PING, 0, 0, Buffer.alloc(7)),
      ErrorCode.FRAME_SIZE_ERROR,
      'frame-size',
    ],
    [
      'DATA on an idle stream',
      () => frame(FrameType.DATA, 0, 5, Buffer.alloc(1)),
      ErrorCode.PROTOCOL_ERROR,
      'protocol',
    ],
    [
      'HEADERS on stream 0',
      () => frame(FrameType.HEADERS, Flag.END_HEADERS, 0, Buffer.alloc(1, 0x82)),
      ErrorCode.PROTOCOL_ERROR,
      'protocol',
    ],
    [
      'a stream id going backwards',
      () => Buffer.concat([connectHeaders(5), connectHeaders(3)]),
      ErrorCode.STREAM_CLOSED,
      'protocol',
    ],
    [
      'a frame interleaved in a header block',
      () => Buffer.concat([frame(FrameType.HEADERS, 0, 1, Buffer.alloc(1, 0x82)), ping()]),
      ErrorCode.PROTOCOL_ERROR,
      'protocol',
    ],
    [
      'CONTINUATION without HEADERS',
      () => frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, Buffer.alloc(1, 0x82)),
      ErrorCode.PROTOCOL_ERROR,
      'protocol',
    ],
    [
      'PUSH_PROMISE',
      () => frame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, Buffer.alloc(4)),
      ErrorCode.PROTOCOL_ERROR,
      'protocol',
    ],
    [
      'a broken HPACK block',
      () => frame(FrameType.HEADERS, Flag.END_HEADERS, 1, Buffer.from([0x80])),
      ErrorCode.COMPRESSION_ERROR,
      'compression',
    ],
    [
      'RST_STREAM on an idle stream',
      () => frame(FrameType.RST_STREAM, 0, 7, u32(0)),
      ErrorCode.PROTOCOL_ERROR,
      'protocol',
    ],
  ];

  it.each(cases)('%s', async (_what, attack, code, violation) => {
    const h = harness({ role: 'server', settings: { maxConcurrentStreams: 2000 }, now: () => 0 });
    h.connection.on('stream', (s) => s.on('error', () => {}));
    h.feed(opening());
    h.feed(attack());
    await h.settle();
    expect(h.goaway()?.code).toBe(code);
    expect(h.connection.violations.get(violation as never)).toBeGreaterThanOrEqual(1);
    expect(h.connection.destroyed).toBe(true);
  });

  it('tolerates exactly the allowed burst (1000 resets, 1000 PINGs) without a GOAWAY', async () => {
    const h = harness({ role: 'server', settings: { maxConcurrentStreams: 2000 }, now: () => 0 });
    h.connection.on('stream', (s) => s.on('error', () => {}));
    h.feed(opening());
    h.feed(rapidReset(1000));
    h.feed(repeat(1000, () => ping()));
    await h.settle();
    expect(h.goaway()).toBeUndefined();
    expect(
      parseFrames(h.output()).filter((f) => f.type === FrameType.PING && f.flags & Flag.ACK),
    ).toHaveLength(1000);
  });

  it('refuses streams beyond MAX_CONCURRENT_STREAMS with RST_STREAM(REFUSED_STREAM), keeping the connection', async () => {
    const h = harness({ role: 'server', settings: { maxConcurrentStreams: 2 } });
    const opened: H2Stream[] = [];
    h.connection.on('stream', (s) => opened.push(s));
    h.feed(opening());
    h.feed(Buffer.concat([connectHeaders(1), connectHeaders(3), connectHeaders(5)]));
    await h.settle();
    expect(opened.map((s) => s.id)).toEqual([1, 3]);
    const rst = parseFrames(h.output()).find((f) => f.type === FrameType.RST_STREAM);
    expect(rst?.streamId).toBe(5);
    expect(rst?.payload.readUInt32BE(0)).toBe(ErrorCode.REFUSED_STREAM);
    expect(h.connection.violations.get('refused-stream')).toBe(1);
    expect(h.goaway()).toBeUndefined();
  });

  it('times out a peer that never acknowledges our SETTINGS', async () => {
    const h = harness({ role: 'server', limits: { settingsTimeoutMs: 50 } });
    h.feed(Buffer.concat([CLIENT_PREFACE, settings()]));
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(h.goaway()?.code).toBe(ErrorCode.SETTINGS_TIMEOUT);
  });

  it('checks liveness with PING when asked: an answering peer stays, a silent one is dropped and counted', async () => {
    const ackPings = (frames: ParsedFrame[]) => {
      const ping = frames.find((f) => f.type === FrameType.PING && !(f.flags & Flag.ACK));
      return ping && frame(FrameType.PING, Flag.ACK, 0, ping.payload);
    };
    const answering = harness({ role: 'client', limits: { keepAliveMs: 40 } }, ackPings);
    const silent = harness({ role: 'client', limits: { keepAliveMs: 40 } });
    for (const h of [answering, silent]) h.feed(Buffer.concat([settings(), settingsAck()]));
    const pings = (h: typeof silent) =>
      parseFrames(h.output()).filter((f) => f.type === FrameType.PING && !(f.flags & Flag.ACK));
    await until(() => silent.connection.destroyed, 'the silent peer dropped');
    await until(() => pings(answering).length >= 3, 'three PINGs answered');
    expect(silent.connection.violations.get('ping-timeout')).toBe(1);
    expect(answering.connection.destroyed).toBe(false);
    answering.connection.destroy();
  });

  it('refuses a connection that does not start with the client preface', async () => {
    const h = harness({ role: 'server' });
    h.feed(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await h.settle();
    expect(h.goaway()?.code).toBe(ErrorCode.PROTOCOL_ERROR);
  });
});

describe('streams, flow control and shutdown', () => {
  it('holds a stalled reader to its stream window (plus the stream buffer) and resets a peer that overruns it', async () => {
    const window = 65_536;
    const h = harness({ role: 'server', settings: { streamWindowBytes: window } });
    let stream: H2Stream | undefined;
    h.connection.on('stream', (s) => {
      stream = s;
      s.on('error', () => {});
    });
    h.feed(opening());
    h.feed(connectHeaders(1));
    // Twice the window, in frames of a quarter: a peer ignoring flow control.
    h.feed(repeat(8, () => frame(FrameType.DATA, 0, 1, Buffer.alloc(window / 4))));
    await h.settle();
    const credited = parseFrames(h.output())
      .filter((f) => f.type === FrameType.WINDOW_UPDATE && f.streamId === 1)
      .reduce((sum, f) => sum + f.payload.readUInt32BE(0), 0);
    // Only what fits the stream's own buffer (its high-water mark) was credited; the app read nothing.
    expect(credited).toBeLessThanOrEqual(stream!.readableHighWaterMark);
    expect(stream!.rstCode).toBe(ErrorCode.FLOW_CONTROL_ERROR);
    expect(h.connection.violations.get('flow-control')).toBe(1);
    expect(h.goaway()).toBeUndefined();
  });

  it('sends DATA frames as large as the peer allows and no larger', async () => {
    const h = harness({ role: 'client' });
    h.feed(
      Buffer.concat([
        settings([
          [SettingId.MAX_FRAME_SIZE, 100_000],
          [SettingId.INITIAL_WINDOW_SIZE, 1 << 20],
        ]),
        settingsAck(),
      ]),
    );
    h.feed(frame(FrameType.WINDOW_UPDATE, 0, 0, u32(1 << 20)));
    const stream = h.connection.request({ ':method': 'CONNECT', ':authority': '10.0.0.1:80' });
    h.feed(frame(FrameType.HEADERS, Flag.END_HEADERS, 1, encodeHeaders([[':status', '200']])));
    stream.end(Buffer.alloc(250_000, 7));
    await h.settle();
    const data = parseFrames(h.output()).filter((f) => f.type === FrameType.DATA);
    expect(data.map((f) => f.payload.length)).toEqual([100_000, 100_000, 50_000, 0]);
    expect(data.at(-1)!.flags & Flag.END_STREAM).toBe(Flag.END_STREAM);
  });

  it('waits for window and resumes on WINDOW_UPDATE; refuses a stream window overflow with RST_STREAM', async () => {
    const h = harness({ role: 'client' });
    h.feed(Buffer.concat([settings([[SettingId.INITIAL_WINDOW_SIZE, 10]]), settingsAck()]));
    const stream = h.connection.request({ ':method': 'CONNECT', ':authority': '10.0.0.1:80' });
    stream.on('error', () => {});
    h.feed(frame(FrameType.HEADERS, Flag.END_HEADERS, 1, encodeHeaders([[':status', '200']])));
    stream.write(Buffer.alloc(25, 1));
    await h.settle();
    const sizes = () =>
      parseFrames(h.output())
        .filter((f) => f.type === FrameType.DATA)
        .map((f) => f.payload.length);
    expect(sizes()).toEqual([10]);
    h.feed(frame(FrameType.WINDOW_UPDATE, 0, 1, u32(20)));
    await h.settle();
    expect(sizes()).toEqual([10, 15]);
    h.feed(frame(FrameType.WINDOW_UPDATE, 0, 1, u32(2 ** 31 - 1)));
    await h.settle();
    const rst = parseFrames(h.output()).find((f) => f.type === FrameType.RST_STREAM);
    expect(rst?.payload.readUInt32BE(0)).toBe(ErrorCode.FLOW_CONTROL_ERROR);
    expect(h.goaway()).toBeUndefined();
  });

  it('drains on GOAWAY: streams up to last-stream-id go on, later ones are refused, then the socket closes', async () => {
    const h = harness({ role: 'client' });
    h.feed(Buffer.concat([settings(), settingsAck()]));
    const first = h.connection.request({ ':method': 'CONNECT', ':authority': '10.0.0.1:80' });
    const second = h.connection.request({ ':method': 'CONNECT', ':authority': '10.0.0.1:80' });
    const secondError = new Promise<unknown>((resolve) => second.once('error', resolve));
    h.feed(frame(FrameType.HEADERS, Flag.END_HEADERS, 1, encodeHeaders([[':status', '200']])));
    const goaway = Buffer.concat([u32(1), u32(ErrorCode.NO_ERROR)]);
    h.feed(frame(FrameType.GOAWAY, 0, 0, goaway));
    expect(await secondError).toMatchObject({ errorCode: ErrorCode.REFUSED_STREAM });
    expect(h.connection.closed).toBe(true);
    expect(() => h.connection.request({ ':method': 'CONNECT', ':authority': 'x:1' })).toThrow(/closing/);
    // The first stream still carries data both ways and ends cleanly.
    const received: Buffer[] = [];
    first.on('data', (c: Buffer) => received.push(c));
    h.feed(frame(FrameType.DATA, Flag.END_STREAM, 1, Buffer.from('bye')));
    first.end('ok');
    await new Promise((resolve) => first.once('close', resolve));
    expect(Buffer.concat(received).toString()).toBe('bye');
    expect(first.rstCode).toBeUndefined();
    expect(h.connection.destroyed).toBe(true);
  });

  it('resets a destroyed stream with RST_STREAM(CANCEL) and a close(code) with that code', async () => {
    const h = harness({ role: 'client' });
    h.feed(Buffer.concat([settings(), settingsAck()]));
    const a = h.connection.request({ ':method': 'CONNECT', ':authority': '10.0.0.1:80' });
    const b = h.connection.request({ ':method': 'CONNECT', ':authority': '10.0.0.1:80' });
    a.destroy();
    b.close(ErrorCode.CONNECT_ERROR);
    await h.settle();
    const resets = parseFrames(h.output()).filter((f) => f.type === FrameType.RST_STREAM);
    expect(resets.map((f) => [f.streamId, f.payload.readUInt32BE(0)])).toEqual([
      [1, ErrorCode.CANCEL],
      [3, ErrorCode.CONNECT_ERROR],
    ]);
  });
});
