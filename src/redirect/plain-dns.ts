/**
 * Just enough DNS for the plain capture handler to answer a query with a TXT record (the capture report),
 * so that tests and operators can use real resolvers (`dig`) against any nameserver and see that the query
 * landed on the pod's 15053 listener. Not a DNS proxy: the ztunnel brings its own.
 */

const HEADER_BYTES = 12;
const TYPE_TXT = 16;
const CLASS_IN = 1;

/** The question section of a query: where it ends, so it can be copied into the answer. */
export function questionEnd(query: Buffer): number | undefined {
  if (query.length < HEADER_BYTES || query.readUInt16BE(4) < 1) return undefined;
  let offset = HEADER_BYTES;
  for (;;) {
    const length = query[offset];
    if (length === undefined || length > 63) return undefined; // truncated, or compression (not in queries)
    offset += 1 + length;
    if (length === 0) break;
  }
  offset += 4; // QTYPE, QCLASS
  return offset <= query.length ? offset : undefined;
}

/** A response to `query` whose only answer is a TXT record holding `text`; undefined for a non-query. */
export function txtAnswer(query: Buffer, text: string): Buffer | undefined {
  const end = questionEnd(query);
  if (end === undefined || (query.readUInt16BE(2) & 0x8000) !== 0) return undefined;
  const bytes = Buffer.from(text, 'utf8');
  const strings: Buffer[] = [];
  for (let i = 0; i < bytes.length || strings.length === 0; i += 255) {
    const chunk = bytes.subarray(i, i + 255);
    strings.push(Buffer.from([chunk.length]), chunk);
  }
  const rdata = Buffer.concat(strings);
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt16BE(query.readUInt16BE(0), 0); // id
  header.writeUInt16BE(0x8400 | (query.readUInt16BE(2) & 0x0100), 2); // QR, AA, RD copied
  header.writeUInt16BE(1, 4); // one question
  header.writeUInt16BE(1, 6); // one answer
  const answer = Buffer.alloc(12);
  answer.writeUInt16BE(0xc000 | HEADER_BYTES, 0); // name: pointer to the question's name
  answer.writeUInt16BE(TYPE_TXT, 2);
  answer.writeUInt16BE(CLASS_IN, 4);
  answer.writeUInt32BE(0, 6); // TTL 0: never cached
  answer.writeUInt16BE(rdata.length, 10);
  return Buffer.concat([header, query.subarray(HEADER_BYTES, end), answer, rdata]);
}
