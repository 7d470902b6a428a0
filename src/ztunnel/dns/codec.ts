/**
 * The part of the DNS wire format (RFC 1035) the DNS proxy needs: read a query (header, questions, names
 * with compression pointers, defensively: a hostile packet gets FORMERR, never a crash or a loop) and write
 * a response (the question echoed, A/AAAA answers pointing at it).
 */
import { AmbitError } from '../../core/errors.ts';
import { canonicalIp, parseIp } from '../../core/net/ip.ts';

export const DNS_TYPE = { A: 1, AAAA: 28 } as const;
export const DNS_CLASS_IN = 1;
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export type Rcode = (typeof RCODE)[keyof typeof RCODE];

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

export interface DnsAnswer {
  type: typeof DNS_TYPE.A | typeof DNS_TYPE.AAAA;
  ttl: number;
  address: string;
}

export interface ResponseOptions {
  rcode: Rcode;
  authoritative: boolean;
  answers?: readonly DnsAnswer[];
}

/**
 * A response to `query`: same id and opcode, RD copied, RA set, the query's question section echoed, and
 * answers whose owner name points at the (first) question's name.
 */
export function buildResponse(original: Uint8Array, query: DnsQuery, options: ResponseOptions): Buffer {
  const answers = options.answers ?? [];
  const question = original.subarray(HEADER_LENGTH, query.questionEnd);
  let size = HEADER_LENGTH + question.length;
  for (const answer of answers) size += 12 + (answer.type === DNS_TYPE.A ? 4 : 16);
  const out = Buffer.alloc(size);
  out.writeUInt16BE(query.id, 0);
  let flags = 0x8000 | (query.opcode << 11) | 0x0080 | options.rcode;
  if (options.authoritative) flags |= 0x0400;
  if (query.recursionDesired) flags |= 0x0100;
  out.writeUInt16BE(flags, 2);
  out.writeUInt16BE(query.questions.length, 4);
  out.writeUInt16BE(answers.length, 6);
  out.set(question, HEADER_LENGTH);
  let offset = HEADER_LENGTH + question.length;
  for (const answer of answers) {
    out.writeUInt16BE(0xc000 | HEADER_LENGTH, offset);
    out.writeUInt16BE(answer.type, offset + 2);
    out.writeUInt16BE(DNS_CLASS_IN, offset + 4);
    out.writeUInt32BE(answer.ttl, offset + 6);
    const length = answer.type === DNS_TYPE.A ? 4 : 16;
    const bytes = parseIp(answer.address)?.bytes;
    if (bytes?.length !== length)
      throw new Error(`${answer.address} does not fit a type ${answer.type} record`);
    out.writeUInt16BE(length, offset + 10);
    out.set(bytes, offset + 12);
    offset += 12 + length;
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
  const labels = name
    .replace(/\.$/, '')
    .split('.')
    .filter((label) => label !== '');
  const nameLength = labels.reduce((sum, label) => sum + 1 + Buffer.byteLength(label), 1);
  const out = Buffer.alloc(HEADER_LENGTH + nameLength + 4);
  out.writeUInt16BE(id, 0);
  out.writeUInt16BE(0x0100, 2);
  out.writeUInt16BE(1, 4);
  let offset = HEADER_LENGTH;
  for (const label of labels) {
    out[offset] = Buffer.byteLength(label);
    out.write(label, offset + 1, 'latin1');
    offset += 1 + Buffer.byteLength(label);
  }
  out[offset] = 0;
  out.writeUInt16BE(type, offset + 1);
  out.writeUInt16BE(DNS_CLASS_IN, offset + 3);
  return out;
}

export interface ParsedResponse {
  id: number;
  rcode: number;
  authoritative: boolean;
  truncated: boolean;
  answers: { name: string; type: number; ttl: number; address: string }[];
}

/** Reads a response's A/AAAA answers (for tests and the `ztunnel-config` tooling). */
export function parseResponse(message: Uint8Array): ParsedResponse {
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  const flags = view.getUint16(2);
  const qdcount = view.getUint16(4);
  const ancount = view.getUint16(6);
  let offset = HEADER_LENGTH;
  for (let i = 0; i < qdcount; i++) offset = readName(message, offset).end + 4;
  const answers: ParsedResponse['answers'] = [];
  for (let i = 0; i < ancount; i++) {
    const { name, end } = readName(message, offset);
    const type = view.getUint16(end);
    const ttl = view.getUint32(end + 4);
    const length = view.getUint16(end + 8);
    const data = message.subarray(end + 10, end + 10 + length);
    if (type === DNS_TYPE.A && length === 4) answers.push({ name, type, ttl, address: data.join('.') });
    if (type === DNS_TYPE.AAAA && length === 16) {
      const words: string[] = [];
      for (let w = 0; w < 16; w += 2) words.push(((data[w]! << 8) | data[w + 1]!).toString(16));
      answers.push({ name, type, ttl, address: canonicalIp(words.join(':'))! });
    }
    offset = end + 10 + length;
  }
  return {
    id: view.getUint16(0),
    rcode: flags & 0xf,
    authoritative: (flags & 0x0400) !== 0,
    truncated: (flags & 0x0200) !== 0,
    answers,
  };
}
