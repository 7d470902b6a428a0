/**
 * The server name (SNI) of a TLS ClientHello, read from a connection's first bytes without terminating TLS:
 * what a passthrough listener routes TLSRoutes by. Pure; reads the first TLS record only (a ClientHello
 * larger than one record, 16 KiB, is refused as malformed, as is anything that is not a ClientHello).
 */

/** Record header (5 bytes) plus the largest plaintext record. */
export const CLIENT_HELLO_MAX_BYTES = 5 + 16_384;

/**
 * How long a client has to open its TLS: its whole handshake where TLS ends here, its ClientHello where the
 * proxy only reads the server name (a passthrough port, a DYNAMIC_DNS TLS port).
 */
export const TLS_OPENING_TIMEOUT_MS = 10_000;

export type ClientHelloResult =
  | { kind: 'more' }
  | { kind: 'notTls' }
  /** A ClientHello; `serverName` undefined when it carries no host_name SNI entry. */
  | { kind: 'clientHello'; serverName: string | undefined };

const HANDSHAKE = 0x16;
const CLIENT_HELLO = 0x01;
const SERVER_NAME_EXTENSION = 0x0000;
const HOST_NAME = 0x00;

export function readClientHello(bytes: Buffer): ClientHelloResult {
  if (bytes.length === 0) return { kind: 'more' };
  if (bytes[0] !== HANDSHAKE) return { kind: 'notTls' };
  if (bytes.length < 5) return { kind: 'more' };
  const recordLength = bytes.readUInt16BE(3);
  if (recordLength > CLIENT_HELLO_MAX_BYTES - 5 || recordLength < 4) return { kind: 'notTls' };
  if (bytes.length < 5 + recordLength) return { kind: 'more' };
  const record = bytes.subarray(5, 5 + recordLength);
  if (record[0] !== CLIENT_HELLO) return { kind: 'notTls' };
  const helloLength = (record[1]! << 16) | (record[2]! << 8) | record[3]!;
  const hello = record.subarray(4, 4 + helloLength);
  if (hello.length !== helloLength) return { kind: 'notTls' };
  const serverName = serverNameOf(hello);
  return serverName === null ? { kind: 'notTls' } : { kind: 'clientHello', serverName };
}

/** The host_name SNI of a ClientHello body; undefined when absent, null when the body is malformed. */
function serverNameOf(hello: Buffer): string | undefined | null {
  const reader = new Reader(hello);
  reader.skip(2 + 32); // client_version, random
  reader.skip(reader.u8()); // session_id
  reader.skip(reader.u16()); // cipher_suites
  reader.skip(reader.u8()); // compression_methods
  if (reader.failed) return null;
  if (reader.remaining === 0) return undefined; // no extensions
  const extensions = reader.slice(reader.u16());
  while (!extensions.failed && extensions.remaining > 0) {
    const type = extensions.u16();
    const data = extensions.slice(extensions.u16());
    if (type !== SERVER_NAME_EXTENSION) continue;
    const names = data.slice(data.u16());
    while (!names.failed && names.remaining > 0) {
      const nameType = names.u8();
      const name = names.bytes(names.u16());
      if (names.failed) return null;
      if (nameType === HOST_NAME) return name.toString('ascii').toLowerCase();
    }
    return names.failed || data.failed ? null : undefined;
  }
  return extensions.failed || reader.failed ? null : undefined;
}

/** A bounds-checked reader: reading past the end sets `failed` instead of throwing. */
class Reader {
  failed = false;
  #offset = 0;
  readonly #buffer: Buffer;

  constructor(buffer: Buffer) {
    this.#buffer = buffer;
  }

  get remaining(): number {
    return this.#buffer.length - this.#offset;
  }

  bytes(length: number): Buffer {
    if (this.failed || length > this.remaining) {
      this.failed = true;
      return Buffer.alloc(0);
    }
    const out = this.#buffer.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    return out;
  }

  skip(length: number): void {
    this.bytes(length);
  }

  slice(length: number): Reader {
    const reader = new Reader(this.bytes(length));
    reader.failed = this.failed;
    return reader;
  }

  u8(): number {
    const bytes = this.bytes(1);
    return bytes.length === 1 ? bytes[0]! : 0;
  }

  u16(): number {
    const bytes = this.bytes(2);
    return bytes.length === 2 ? bytes.readUInt16BE(0) : 0;
  }
}
