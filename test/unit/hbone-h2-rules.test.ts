import { describe, expect, it } from 'vitest';
import { ErrorCode, SettingId } from '../../src/core/hbone/h2/constants.ts';
import { toHeaderMap } from '../../src/core/hbone/h2/header-map.ts';
import type { HeaderField } from '../../src/core/hbone/h2/hpack.ts';
import { parseSettings } from '../../src/core/hbone/h2/settings.ts';
import { parseHboneImplementation } from '../../src/core/hbone/implementation.ts';

function settingsPayload(entries: [number, number][]): Buffer {
  const out = Buffer.alloc(entries.length * 6);
  for (const [i, [id, value]] of entries.entries()) {
    out.writeUInt16BE(id, i * 6);
    out.writeUInt32BE(value >>> 0, i * 6 + 2);
  }
  return out;
}

describe('peer SETTINGS', () => {
  it.each([
    [
      'window at the maximum',
      [[SettingId.INITIAL_WINDOW_SIZE, 2 ** 31 - 1]],
      { initialWindowSize: 2 ** 31 - 1 },
    ],
    ['frame size at both bounds', [[SettingId.MAX_FRAME_SIZE, 16_384]], { maxFrameSize: 16_384 }],
    ['largest frame size', [[SettingId.MAX_FRAME_SIZE, 2 ** 24 - 1]], { maxFrameSize: 2 ** 24 - 1 }],
    ['push off', [[SettingId.ENABLE_PUSH, 0]], { enablePush: false }],
    ['unknown ids ignored', [[0x99, 7]], {}],
    [
      'last value of a repeated id wins',
      [
        [SettingId.MAX_CONCURRENT_STREAMS, 1],
        [SettingId.MAX_CONCURRENT_STREAMS, 9],
      ],
      { maxConcurrentStreams: 9 },
    ],
    [
      'table size and list size',
      [
        [SettingId.HEADER_TABLE_SIZE, 0],
        [SettingId.MAX_HEADER_LIST_SIZE, 100],
      ],
      { headerTableSize: 0, maxHeaderListSize: 100 },
    ],
  ] as [string, [number, number][], object][])('accepts %s', (_what, entries, changed) => {
    expect(parseSettings(settingsPayload(entries))).toEqual({ ok: true, changed });
  });

  it.each([
    ['window above 2^31-1', [[SettingId.INITIAL_WINDOW_SIZE, 2 ** 31]], ErrorCode.FLOW_CONTROL_ERROR],
    ['frame size below 16384', [[SettingId.MAX_FRAME_SIZE, 16_383]], ErrorCode.PROTOCOL_ERROR],
    ['frame size above 2^24-1', [[SettingId.MAX_FRAME_SIZE, 2 ** 24]], ErrorCode.PROTOCOL_ERROR],
    ['ENABLE_PUSH of 2', [[SettingId.ENABLE_PUSH, 2]], ErrorCode.PROTOCOL_ERROR],
  ] as [string, [number, number][], number][])('refuses %s', (_what, entries, errorCode) => {
    expect(parseSettings(settingsPayload(entries))).toMatchObject({ ok: false, errorCode });
  });
});

describe('header fields to a request or response map', () => {
  const connect: HeaderField[] = [
    [':method', 'CONNECT'],
    [':authority', '10.0.0.1:80'],
  ];
  it.each([
    ['a CONNECT', connect, 'request', { ':method': 'CONNECT', ':authority': '10.0.0.1:80' }],
    [
      'repeated fields joined',
      [...connect, ['baggage', 'a=1'], ['baggage', 'b=2']],
      'request',
      { baggage: 'a=1, b=2' },
    ],
    [
      'cookies joined with ;',
      [...connect, ['cookie', 'a=1'], ['cookie', 'b=2']],
      'request',
      { cookie: 'a=1; b=2' },
    ],
    ['a response', [[':status', '200']], 'response', { ':status': '200' }],
    ['trailers', [['x-done', '1']], 'trailers', { 'x-done': '1' }],
    ['te: trailers', [...connect, ['te', 'trailers']], 'request', { te: 'trailers' }],
  ] as [string, HeaderField[], 'request' | 'response' | 'trailers', object][])(
    'accepts %s',
    (_w, fields, kind, expected) => {
      const result = toHeaderMap(fields, kind);
      expect(result.ok).toBe(true);
      expect(result.ok && { ...result.headers }).toMatchObject(expected);
    },
  );

  it.each([
    ['an uppercase name', [...connect, ['Forwarded', 'x']], 'request'],
    [
      'a pseudo-header after a regular one',
      [
        [':method', 'CONNECT'],
        ['a', 'b'],
        [':authority', 'x:1'],
      ],
      'request',
    ],
    ['a repeated pseudo-header', [...connect, [':method', 'GET']], 'request'],
    ['an unknown pseudo-header', [...connect, [':evil', 'x']], 'request'],
    ['a response pseudo-header in a request', [...connect, [':status', '200']], 'request'],
    ['no :method', [[':authority', 'x:1']], 'request'],
    ['a connection-specific field', [...connect, ['connection', 'close']], 'request'],
    ['te other than trailers', [...connect, ['te', 'gzip']], 'request'],
    ['an empty name', [...connect, ['', 'x']], 'request'],
    ['a response without :status', [['a', 'b']], 'response'],
    ['a malformed :status', [[':status', '20x']], 'response'],
    ['pseudo-headers in trailers', [[':status', '200']], 'trailers'],
  ] as [string, HeaderField[], 'request' | 'response' | 'trailers'][])('refuses %s', (_w, fields, kind) => {
    expect(toHeaderMap(fields, kind).ok).toBe(false);
  });
});

describe('choosing the HBONE implementation (--hbone-impl, AMBIT_HBONE_IMPL)', () => {
  it.each([
    [undefined, 'framer'],
    ['', 'framer'],
    ['framer', 'framer'],
    ['node-http2', 'node-http2'],
  ] as const)('%s -> %s', (value, expected) => {
    expect(parseHboneImplementation(value ?? '')).toBe(expected);
  });

  it.each(['http2', 'Framer', 'nghttp2'])('refuses %s with the names it accepts', (value) => {
    expect(() => parseHboneImplementation(value)).toThrow(/framer or node-http2/);
  });
});
