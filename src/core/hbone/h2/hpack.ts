/**
 * HPACK (RFC 7541) for HBONE: a full decoder (static and dynamic table, Huffman strings, table size updates),
 * bounded against compression bombs, and a minimal encoder that never indexes (literal fields without
 * indexing, names from the static table where one fits), so it keeps no state a peer could grow.
 */
import { AmbitError } from '../../errors.ts';
import { huffmanDecode } from './huffman.ts';

/** RFC 7541 appendix A; index 1 is entry 0. */
const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

/** Per-entry overhead in table and header-list size accounting (RFC 7541 section 4.1). */
const ENTRY_OVERHEAD = 32;

export type HeaderField = readonly [name: string, value: string];

export type HpackFailure =
  /** Malformed encoding: bad index, truncated integer or string, bad Huffman, misplaced size update. */
  | 'compression'
  /** The decoded list exceeds the header list size limit (how a compression bomb shows). */
  | 'header-list-too-large';

export type DecodeResult =
  | { ok: true; fields: HeaderField[] }
  | { ok: false; failure: HpackFailure; detail: string };

export interface HpackDecoderLimits {
  /** What we advertise as SETTINGS_HEADER_TABLE_SIZE: the most the peer may make the dynamic table hold. */
  maxTableSize: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE we advertise: decoded names + values + 32 per field. */
  maxHeaderListSize: number;
}

/** Thrown inside the decoder only; `decode` turns it into a result (a peer's bad block is no crash). */
class DecodeError extends AmbitError {
  readonly failure: HpackFailure;
  constructor(failure: HpackFailure, message: string) {
    super('BAD_REQUEST', message);
    this.failure = failure;
  }
}

/** One decoder per connection (the dynamic table is connection state); blocks must be decoded in order. */
export class HpackDecoder {
  readonly #limits: HpackDecoderLimits;
  /** Newest first. */
  readonly #table: HeaderField[] = [];
  #tableSize = 0;
  #tableLimit: number;

  constructor(limits: HpackDecoderLimits) {
    this.#limits = limits;
    this.#tableLimit = limits.maxTableSize;
  }

  /** Bytes the dynamic table holds (for tests and memory accounting). */
  get tableSize(): number {
    return this.#tableSize;
  }

  /**
   * Decodes one complete header block. After a failure the connection must end (the table may be out of
   * step with the peer's encoder): callers send GOAWAY.
   */
  decode(block: Uint8Array): DecodeResult {
    try {
      return { ok: true, fields: this.#decode(block) };
    } catch (error) {
      if (error instanceof DecodeError) return { ok: false, failure: error.failure, detail: error.message };
      throw error;
    }
  }

  #decode(block: Uint8Array): HeaderField[] {
    const fields: HeaderField[] = [];
    const cursor = { at: 0 };
    let listSize = 0;
    let sizeUpdateAllowed = true;
    while (cursor.at < block.length) {
      const first = block[cursor.at]!;
      let field: HeaderField;
      if (first & 0x80) {
        field = this.#entry(readInteger(block, cursor, 7));
      } else if ((first & 0xe0) === 0x20) {
        if (!sizeUpdateAllowed) throw new DecodeError('compression', 'table size update after a field');
        const size = readInteger(block, cursor, 5);
        if (size > this.#limits.maxTableSize) {
          throw new DecodeError(
            'compression',
            `table size update to ${size} above our ${this.#limits.maxTableSize}`,
          );
        }
        this.#tableLimit = size;
        this.#evict(0);
        continue;
      } else {
        // 01xxxxxx: incremental indexing (6-bit index); 0000xxxx / 0001xxxx: without / never indexed (4-bit).
        const indexing = (first & 0xc0) === 0x40;
        const nameIndex = readInteger(block, cursor, indexing ? 6 : 4);
        const name = nameIndex === 0 ? readString(block, cursor) : this.#entry(nameIndex)[0];
        const value = readString(block, cursor);
        field = [name, value];
        if (indexing) this.#insert(field);
      }
      sizeUpdateAllowed = false;
      listSize += field[0].length + field[1].length + ENTRY_OVERHEAD;
      if (listSize > this.#limits.maxHeaderListSize) {
        throw new DecodeError(
          'header-list-too-large',
          `header list above ${this.#limits.maxHeaderListSize} bytes after ${fields.length} fields`,
        );
      }
      fields.push(field);
    }
    return fields;
  }

  #entry(index: number): HeaderField {
    if (index === 0) throw new DecodeError('compression', 'index 0');
    if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1]!;
    const entry = this.#table[index - STATIC_TABLE.length - 1];
    if (!entry) throw new DecodeError('compression', `index ${index} beyond the tables`);
    return entry;
  }

  #insert(field: HeaderField): void {
    const size = field[0].length + field[1].length + ENTRY_OVERHEAD;
    // An entry larger than the table empties it and is not added (RFC 7541 section 4.4).
    this.#evict(size);
    if (size > this.#tableLimit) return;
    this.#table.unshift(field);
    this.#tableSize += size;
  }

  /** Evicts the oldest entries until `room` more bytes fit. */
  #evict(room: number): void {
    while (this.#table.length > 0 && this.#tableSize + room > this.#tableLimit) {
      const old = this.#table.pop()!;
      this.#tableSize -= old[0].length + old[1].length + ENTRY_OVERHEAD;
    }
  }
}

/** Integers above this are refused: no legitimate index, length or size comes close. */
const MAX_INTEGER = 2 ** 24;

function readInteger(block: Uint8Array, cursor: { at: number }, prefixBits: number): number {
  const mask = (1 << prefixBits) - 1;
  let value = block[cursor.at++]! & mask;
  if (value < mask) return value;
  let shift = 0;
  for (;;) {
    if (cursor.at >= block.length) throw new DecodeError('compression', 'truncated integer');
    const byte = block[cursor.at++]!;
    value += (byte & 0x7f) * 2 ** shift;
    if (value > MAX_INTEGER) throw new DecodeError('compression', 'integer too large');
    if ((byte & 0x80) === 0) return value;
    shift += 7;
  }
}

function readString(block: Uint8Array, cursor: { at: number }): string {
  if (cursor.at >= block.length) throw new DecodeError('compression', 'truncated string');
  const huffman = (block[cursor.at]! & 0x80) !== 0;
  const length = readInteger(block, cursor, 7);
  if (cursor.at + length > block.length) throw new DecodeError('compression', 'string beyond the block');
  const start = cursor.at;
  cursor.at += length;
  if (!huffman) return Buffer.from(block.buffer, block.byteOffset + start, length).toString('latin1');
  const decoded = huffmanDecode(block, start, length);
  if (decoded === undefined) throw new DecodeError('compression', 'invalid Huffman string');
  return decoded;
}

const STATIC_NAME_INDEX = new Map<string, number>();
const STATIC_FIELD_INDEX = new Map<string, number>();
for (const [i, [name, value]] of STATIC_TABLE.entries()) {
  if (!STATIC_NAME_INDEX.has(name)) STATIC_NAME_INDEX.set(name, i + 1);
  if (value !== '') STATIC_FIELD_INDEX.set(`${name}\0${value}`, i + 1);
}

/**
 * Encodes fields as one header block: fully indexed when the static table has the exact field, otherwise a
 * literal without indexing (static name index where one exists) with raw strings. `resetTable` starts the
 * block with a dynamic table size update to 0, which an encoder must send after the peer changed
 * SETTINGS_HEADER_TABLE_SIZE (we never use the table, so 0 is always right).
 */
export function encodeHeaders(fields: readonly HeaderField[], resetTable = false): Buffer {
  let size = resetTable ? 1 : 0;
  for (const [name, value] of fields) size += name.length + value.length + 3 * 5;
  const out = Buffer.allocUnsafe(size);
  const cursor = { at: 0 };
  if (resetTable) out[cursor.at++] = 0x20;
  for (const [name, value] of fields) {
    const exact = STATIC_FIELD_INDEX.get(`${name}\0${value}`);
    if (exact !== undefined) {
      writeInteger(out, cursor, 7, 0x80, exact);
      continue;
    }
    const nameIndex = STATIC_NAME_INDEX.get(name);
    if (nameIndex !== undefined) writeInteger(out, cursor, 4, 0x00, nameIndex);
    else {
      out[cursor.at++] = 0x00;
      writeString(out, cursor, name);
    }
    writeString(out, cursor, value);
  }
  return out.subarray(0, cursor.at);
}

function writeInteger(
  out: Buffer,
  cursor: { at: number },
  prefixBits: number,
  pattern: number,
  value: number,
): void {
  const mask = (1 << prefixBits) - 1;
  if (value < mask) {
    out[cursor.at++] = pattern | value;
    return;
  }
  out[cursor.at++] = pattern | mask;
  let rest = value - mask;
  while (rest >= 0x80) {
    out[cursor.at++] = (rest & 0x7f) | 0x80;
    rest = Math.floor(rest / 0x80);
  }
  out[cursor.at++] = rest;
}

function writeString(out: Buffer, cursor: { at: number }, text: string): void {
  writeInteger(out, cursor, 7, 0x00, text.length);
  cursor.at += out.write(text, cursor.at, 'latin1');
}
