/**
 * SETTINGS (RFC 9113 section 6.5): what we advertise, and the peer's values parsed and validated as a pure
 * function, so every rule is a table test.
 */
import {
  DEFAULT_HEADER_TABLE_SIZE,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  ErrorCode,
  MAX_MAX_FRAME_SIZE,
  MAX_WINDOW,
  MIN_MAX_FRAME_SIZE,
  SettingId,
} from './constants.ts';

export interface PeerSettings {
  headerTableSize: number;
  enablePush: boolean;
  /** Undefined until the peer announces a limit (none by default). */
  maxConcurrentStreams: number | undefined;
  initialWindowSize: number;
  maxFrameSize: number;
  maxHeaderListSize: number | undefined;
}

export function defaultPeerSettings(): PeerSettings {
  return {
    headerTableSize: DEFAULT_HEADER_TABLE_SIZE,
    enablePush: true,
    maxConcurrentStreams: undefined,
    initialWindowSize: DEFAULT_WINDOW,
    maxFrameSize: DEFAULT_MAX_FRAME_SIZE,
    maxHeaderListSize: undefined,
  };
}

export type SettingsUpdate =
  | { ok: true; changed: Partial<PeerSettings> }
  | { ok: false; errorCode: number; detail: string };

/**
 * Parses a non-ACK SETTINGS payload (length already checked to be a multiple of 6). Unknown ids are
 * ignored, as the RFC requires; the last value of a repeated id wins.
 */
export function parseSettings(payload: Uint8Array): SettingsUpdate {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const changed: Partial<PeerSettings> = {};
  for (let at = 0; at + 6 <= payload.byteLength; at += 6) {
    const id = view.getUint16(at);
    const value = view.getUint32(at + 2);
    switch (id) {
      case SettingId.HEADER_TABLE_SIZE:
        changed.headerTableSize = value;
        break;
      case SettingId.ENABLE_PUSH:
        if (value > 1)
          return { ok: false, errorCode: ErrorCode.PROTOCOL_ERROR, detail: `ENABLE_PUSH ${value}` };
        changed.enablePush = value === 1;
        break;
      case SettingId.MAX_CONCURRENT_STREAMS:
        changed.maxConcurrentStreams = value;
        break;
      case SettingId.INITIAL_WINDOW_SIZE:
        if (value > MAX_WINDOW) {
          return {
            ok: false,
            errorCode: ErrorCode.FLOW_CONTROL_ERROR,
            detail: `INITIAL_WINDOW_SIZE ${value}`,
          };
        }
        changed.initialWindowSize = value;
        break;
      case SettingId.MAX_FRAME_SIZE:
        if (value < MIN_MAX_FRAME_SIZE || value > MAX_MAX_FRAME_SIZE) {
          return { ok: false, errorCode: ErrorCode.PROTOCOL_ERROR, detail: `MAX_FRAME_SIZE ${value}` };
        }
        changed.maxFrameSize = value;
        break;
      case SettingId.MAX_HEADER_LIST_SIZE:
        changed.maxHeaderListSize = value;
        break;
      default:
        break;
    }
  }
  return { ok: true, changed };
}

/** What we advertise. */
export interface LocalSettings {
  /** SETTINGS_INITIAL_WINDOW_SIZE: each stream's receive window. */
  streamWindowBytes: number;
  /** Raised with a WINDOW_UPDATE on stream 0 right after the preface (there is no setting for it). */
  connectionWindowBytes: number;
  /** Only a server announces it (a client accepts no pushed streams at all). */
  maxConcurrentStreams: number | undefined;
  maxFrameSize: number;
  maxHeaderListSize: number;
  headerTableSize: number;
}

/** The SETTINGS payload for `local`; push is always disabled (a client says so, a server never pushes). */
export function encodeSettings(local: LocalSettings, role: 'client' | 'server'): Buffer {
  const entries: [number, number][] = [
    [SettingId.HEADER_TABLE_SIZE, local.headerTableSize],
    [SettingId.INITIAL_WINDOW_SIZE, local.streamWindowBytes],
    [SettingId.MAX_FRAME_SIZE, local.maxFrameSize],
    [SettingId.MAX_HEADER_LIST_SIZE, local.maxHeaderListSize],
  ];
  if (role === 'client') entries.push([SettingId.ENABLE_PUSH, 0]);
  if (local.maxConcurrentStreams !== undefined) {
    entries.push([SettingId.MAX_CONCURRENT_STREAMS, local.maxConcurrentStreams]);
  }
  const out = Buffer.allocUnsafe(entries.length * 6);
  for (const [i, [id, value]] of entries.entries()) {
    out.writeUInt16BE(id, i * 6);
    out.writeUInt32BE(value, i * 6 + 2);
  }
  return out;
}
