/**
 * A small authoritative DNS server for an "outside" host in tests (never the real internet): UDP on
 * `<address>:53`, A records read from a JSON file (`{"name": {"address": "...", "ttl": 1}}`) on every query, so
 * a test changes an answer by rewriting the file. Unknown names get NXDOMAIN. It counts the queries it
 * answered per name in `<records>.queries.json`, so a test can tell a cached answer from a fresh one.
 *
 * Run as a script: `node test/support/outside-dns.ts <address> <records.json>` (inside the outside netns).
 */
import { createSocket } from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
import { buildResponse, DNS_TYPE, parseQuery, RCODE } from '../../src/core/dns/codec.ts';

export interface OutsideRecord {
  address: string;
  ttl: number;
}

export function writeOutsideRecords(file: string, records: Record<string, OutsideRecord>): void {
  writeFileSync(file, JSON.stringify(records));
}

/** Queries answered so far, by name. */
export function outsideQueries(file: string): Record<string, number> {
  try {
    return JSON.parse(readFileSync(`${file}.queries.json`, 'utf8')) as Record<string, number>;
  } catch {
    return {};
  }
}

function serve(address: string, file: string): void {
  const counts: Record<string, number> = {};
  const socket = createSocket('udp4');
  socket.on('message', (message, remote) => {
    let query: ReturnType<typeof parseQuery>;
    try {
      query = parseQuery(message);
    } catch {
      return;
    }
    const question = query.questions[0];
    if (!question) return;
    const records = JSON.parse(readFileSync(file, 'utf8')) as Record<string, OutsideRecord>;
    const record = records[question.name];
    counts[question.name] = (counts[question.name] ?? 0) + 1;
    writeFileSync(`${file}.queries.json`, JSON.stringify(counts));
    const answers =
      record && question.type === DNS_TYPE.A
        ? [{ type: DNS_TYPE.A, ttl: record.ttl, address: record.address }]
        : [];
    const response = buildResponse(message, query, {
      rcode: record ? RCODE.NOERROR : RCODE.NXDOMAIN,
      authoritative: true,
      answers,
    });
    socket.send(response, remote.port, remote.address);
  });
  socket.bind(53, address);
}

if (import.meta.main) {
  const [address, file] = process.argv.slice(2);
  if (!address || !file) throw new Error('usage: outside-dns.ts <address> <records.json>');
  serve(address, file);
}
