/**
 * The part of the DNS wire format (RFC 1035) that the ztunnel's DNS proxy and the local cluster's DNS need:
 * read a query (header, questions, names with compression pointers, defensively: a hostile packet gets
 * FORMERR, never a crash or a loop) and write a response (the question echoed; A, AAAA, CNAME, PTR and SRV
 * records, RFC 2782). The transports around it are in transport.ts.
 */
import { AmbitError } from '../errors.ts';
import { canonicalIp, parseIp } from '../net/ip.ts';

export const DNS_TYPE = { A: 1, CNAME: 5, SOA: 6, PTR: 12, AAAA: 28, SRV: 33, ANY: 255 } as const;
export const DNS_CLASS_IN = 1;
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export type Rcode = (typeof RCODE)[keyof typeof RCODE];

const RCODE_NAMES = Object.fromEntries(Object.entries(RCODE).map(([name, code]) => [code, name]));

/** `NOERROR`, `NXDOMAIN`, ... (metric label values); the number for codes without a name here. */
export function rcodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? String(rcode);
}

const HEADER_LENGTH = 12;
const MAX_NAME_LENGTH = 255;
const MAX_POINTER_JUMPS = 16;

export interface DnsQuestion {
  /** Lowercased, without the trailing dot (`reviews.default.svc.cluster.local`); '' for the root. */
  name: string;
  type: number;
  class: number;
}

export interface DnsQuery {
  id: number;
  opcode: number;
  recursionDesired: boolean;
  questions: DnsQuestion[];
  /** Where the question section ends in the original message (for echoing it byte for byte). */
  questionEnd: number;
}

export class DnsFormatError extends AmbitError {
  /** The query id, when the header was readable (so that a FORMERR can be sent back). */
  readonly id: number | undefined;

  constructor(message: string, id?: number) {
    super('BAD_REQUEST', message);
    this.name = 'DnsFormatError';
    this.id = id;
  }
}

export function parseQuery(message: Uint8Array): DnsQuery {
  if (message.length < HEADER_LENGTH) throw new DnsFormatError('message shorter than a DNS header');
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  const id = view.getUint16(0);
  const flags = view.getUint16(2);
  if (flags & 0x8000) throw new DnsFormatError('not a query (QR set)', id);
  const qdcount = view.getUint16(4);
  if (qdcount > 8) throw new DnsFormatError(`${qdcount} questions`, id);
  const questions: DnsQuestion[] = [];
  let offset = HEADER_LENGTH;
  for (let i = 0; i < qdcount; i++) {
    const { name, end } = readName(message, offset, id);
    if (end + 4 > message.length) throw new DnsFormatError('question truncated', id);
    questions.push({ name, type: view.getUint16(end), class: view.getUint16(end + 2) });
    offset = end + 4;
  }
  return {
    id,
    opcode: (flags >> 11) & 0xf,
    recursionDesired: (flags & 0x0100) !== 0,
    questions,
    questionEnd: offset,
  };
}

/** Reads a (possibly compressed) name at `offset`; `end` is where the name's bytes end at that position. */
export function readName(message: Uint8Array, offset: number, id?: number): { name: string; end: number } {
  const labels: string[] = [];
  let length = 0;
  let position = offset;
  let end = -1;
  for (let jumps = 0; ; ) {
    if (position >= message.length) throw new DnsFormatError('name runs past the message', id);
    const byte = message[position]!;
    if (byte === 0) {
      if (end < 0) end = position + 1;
      break;
    }
    const kind = byte & 0xc0;
    if (kind === 0xc0) {
      if (position + 1 >= message.length) throw new DnsFormatError('truncated compression pointer', id);
      if (++jumps > MAX_POINTER_JUMPS) throw new DnsFormatError('compression pointer loop', id);
      if (end < 0) end = position + 2;
      const target = ((byte & 0x3f) << 8) | message[position + 1]!;
      // Pointers must go backwards; a forward or self pointer is malformed (and could loop).
      if (target >= position) throw new DnsFormatError('compression pointer does not point backwards', id);
      position = target;
      continue;
    }
    if (kind !== 0) throw new DnsFormatError('unsupported label type', id);
    if (position + 1 + byte > message.length) throw new DnsFormatError('label runs past the message', id);
    length += byte + 1;
    if (length > MAX_NAME_LENGTH) throw new DnsFormatError('name longer than 255 bytes', id);
    labels.push(latin1Lower(message, position + 1, byte));
    position += 1 + byte;
  }
  return { name: labels.join('.'), end };
}

function latin1Lower(message: Uint8Array, start: number, length: number): string {
  let out = '';
  for (let i = start; i < start + length; i++) {
    const c = message[i]!;
    out += String.fromCharCode(c >= 0x41 && c <= 0x5a ? c + 0x20 : c);
  }
  return out;
}

/** A resource record to write; `name` undefined means the (first) question's name, as a pointer to it. */
export type DnsRecord = { name?: string | undefined; ttl: number } & (
  | { type: typeof DNS_TYPE.A | typeof DNS_TYPE.AAAA; address: string }
  | { type: typeof DNS_TYPE.PTR | typeof DNS_TYPE.CNAME; target: string }
  | { type: typeof DNS_TYPE.SRV; priority: number; weight: number; port: number; target: string }
);

/** An address record (what the DNS proxy answers). */
export type DnsAnswer = Extract<DnsRecord, { address: string }>;

export interface ResponseOptions {
  rcode: Rcode;
  authoritative: boolean;
  answers?: readonly DnsRecord[];
  /** The additional section (e.g. the addresses of SRV targets). */
  additionals?: readonly DnsRecord[];
}

/**
 * A response to `query`: same id and opcode, RD copied, RA set, the query's question section echoed, then
 * the answers and additional records.
 */
export function buildResponse(original: Uint8Array, query: DnsQuery, options: ResponseOptions): Buffer {
  const answers = options.answers ?? [];
  const additionals = options.additionals ?? [];
  const question = original.subarray(HEADER_LENGTH, query.questionEnd);
  const header = Buffer.alloc(HEADER_LENGTH);
  header.writeUInt16BE(query.id, 0);
  let flags = 0x8000 | (query.opcode << 11) | 0x0080 | options.rcode;
  if (options.authoritative) flags |= 0x0400;
  if (query.recursionDesired) flags |= 0x0100;
  header.writeUInt16BE(flags, 2);
  header.writeUInt16BE(query.questions.length, 4);
  header.writeUInt16BE(answers.length, 6);
  header.writeUInt16BE(additionals.length, 10);
  return Buffer.concat([header, question, ...answers.map(encodeRecord), ...additionals.map(encodeRecord)]);
}

/** Pointer to the first question's name, right after the header. */
const QUESTION_NAME_POINTER = Buffer.from([0xc0, HEADER_LENGTH]);

function encodeRecord(record: DnsRecord): Buffer {
  const owner = record.name === undefined ? QUESTION_NAME_POINTER : encodeName(record.name);
  const data = encodeRecordData(record);
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(record.type, 0);
  fixed.writeUInt16BE(DNS_CLASS_IN, 2);
  fixed.writeUInt32BE(record.ttl, 4);
  fixed.writeUInt16BE(data.length, 8);
  return Buffer.concat([owner, fixed, data]);
}

function encodeRecordData(record: DnsRecord): Buffer {
  switch (record.type) {
    case DNS_TYPE.A:
    case DNS_TYPE.AAAA: {
      const bytes = parseIp(record.address)?.bytes;
      if (bytes?.length !== (record.type === DNS_TYPE.A ? 4 : 16))
        throw new Error(`${record.address} does not fit a type ${record.type} record`);
      return Buffer.from(bytes);
    }
    case DNS_TYPE.PTR:
    case DNS_TYPE.CNAME:
      return encodeName(record.target);
    case DNS_TYPE.SRV: {
      const fixed = Buffer.alloc(6);
      fixed.writeUInt16BE(record.priority, 0);
      fixed.writeUInt16BE(record.weight, 2);
      fixed.writeUInt16BE(record.port, 4);
      return Buffer.concat([fixed, encodeName(record.target)]);
    }
  }
}

/** A name as uncompressed labels (`a.b` -> 1 a 1 b 0); a trailing dot is ignored. */
export function encodeName(name: string): Buffer {
  const labels = name
    .replace(/\.$/, '')
    .split('.')
    .filter((label) => label !== '');
  const out = Buffer.alloc(labels.reduce((sum, label) => sum + 1 + Buffer.byteLength(label, 'latin1'), 1));
  let offset = 0;
  for (const label of labels) {
    const length = Buffer.byteLength(label, 'latin1');
    if (length > 63) throw new Error(`DNS label longer than 63 bytes in ${name}`);
    out[offset] = length;
    out.write(label, offset + 1, 'latin1');
    offset += 1 + length;
  }
  return out;
}

/** A header-only error response (FORMERR for an unreadable query whose id we could read). */
export function buildErrorResponse(id: number, rcode: Rcode): Buffer {
  const out = Buffer.alloc(HEADER_LENGTH);
  out.writeUInt16BE(id, 0);
  out.writeUInt16BE(0x8000 | 0x0080 | rcode, 2);
  return out;
}

/** A query message, for clients and tests: one question, RD set. */
export function buildQuery(id: number, name: string, type: number): Buffer {
  const header = Buffer.alloc(HEADER_LENGTH);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2);
  header.writeUInt16BE(1, 4);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(type, 0);
  tail.writeUInt16BE(DNS_CLASS_IN, 2);
  return Buffer.concat([header, encodeName(name), tail]);
}

/** One record of a parsed response: `address` for A/AAAA, `target` for PTR/CNAME/SRV, and SRV's numbers. */
export interface ParsedRecord {
  name: string;
  type: number;
  ttl: number;
  address?: string;
  target?: string;
  priority?: number;
  weight?: number;
  port?: number;
}

export interface ParsedResponse {
  id: number;
  rcode: number;
  authoritative: boolean;
  truncated: boolean;
  answers: ParsedRecord[];
  additionals: ParsedRecord[];
}

/** Reads a response's answers and additional records (for tests, benchmarks and tooling). */
export function parseResponse(message: Uint8Array): ParsedResponse {
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  const flags = view.getUint16(2);
  const qdcount = view.getUint16(4);
  const ancount = view.getUint16(6);
  const nscount = view.getUint16(8);
  const arcount = view.getUint16(10);
  let offset = HEADER_LENGTH;
  for (let i = 0; i < qdcount; i++) offset = readName(message, offset).end + 4;
  const readSection = (count: number): ParsedRecord[] => {
    const records: ParsedRecord[] = [];
    for (let i = 0; i < count; i++) {
      const { name, end } = readName(message, offset);
      const type = view.getUint16(end);
      const ttl = view.getUint32(end + 4);
      const length = view.getUint16(end + 8);
      const start = end + 10;
      const record = decodeRecordData(message, view, { name, type, ttl }, start, length);
      if (record) records.push(record);
      offset = start + length;
    }
    return records;
  };
  const answers = readSection(ancount);
  readSection(nscount);
  const additionals = readSection(arcount);
  return {
    id: view.getUint16(0),
    rcode: flags & 0xf,
    authoritative: (flags & 0x0400) !== 0,
    truncated: (flags & 0x0200) !== 0,
    answers,
    additionals,
  };
}

function decodeRecordData(
  message: Uint8Array,
  view: DataView,
  record: ParsedRecord,
  start: number,
  length: number,
): ParsedRecord | undefined {
  const data = message.subarray(start, start + length);
  switch (record.type) {
    case DNS_TYPE.A:
      return length === 4 ? { ...record, address: data.join('.') } : undefined;
    case DNS_TYPE.AAAA: {
      if (length !== 16) return undefined;
      const words: string[] = [];
      for (let w = 0; w < 16; w += 2) words.push(((data[w]! << 8) | data[w + 1]!).toString(16));
      return { ...record, address: canonicalIp(words.join(':'))! };
    }
    case DNS_TYPE.PTR:
    case DNS_TYPE.CNAME:
      return { ...record, target: readName(message, start).name };
    case DNS_TYPE.SRV:
      return {
        ...record,
        priority: view.getUint16(start),
        weight: view.getUint16(start + 2),
        port: view.getUint16(start + 4),
        target: readName(message, start + 6).name,
      };
    default:
      return undefined;
  }
}
