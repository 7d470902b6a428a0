import { describe, expect, it } from 'vitest';
import {
  buildQuery,
  buildResponse,
  DNS_TYPE,
  DnsFormatError,
  parseQuery,
  parseResponse,
  RCODE,
  readName,
} from '../../src/core/dns/codec.ts';
import { answerLocally, type DnsClientContext, type HostLookup } from '../../src/ztunnel/dns/resolver.ts';

const services: Record<string, string[]> = {
  'reviews.default.svc.cluster.local': ['10.96.0.20'],
  'ratings.shop.svc.cluster.local': ['10.96.0.30', 'fd00:96::30'],
};
const lookup: HostLookup = (hostname) => services[hostname];
const inDefault: DnsClientContext = { namespace: 'default' };

function ask(name: string, type: number = DNS_TYPE.A, context = inDefault, canForward = false) {
  const result = answerLocally(buildQuery(0x1234, name, type), context, lookup, { canForward });
  if (result.kind !== 'response') return result;
  return { ...result, parsed: parseResponse(result.response) };
}

describe('DNS codec', () => {
  it('round-trips a query', () => {
    const query = parseQuery(buildQuery(7, 'Reviews.Default.svc.cluster.local.', DNS_TYPE.AAAA));
    expect(query).toMatchObject({
      id: 7,
      opcode: 0,
      recursionDesired: true,
      questions: [{ name: 'reviews.default.svc.cluster.local', type: DNS_TYPE.AAAA, class: 1 }],
    });
  });

  it('reads compressed names and refuses pointer tricks', () => {
    // "a.example" at 12, then a name "b" + pointer to "example" (offset 14).
    const message = Buffer.from([
      ...new Array(12).fill(0),
      1,
      0x61,
      7,
      ...Buffer.from('example'),
      0,
      1,
      0x62,
      0xc0,
      14,
    ]);
    expect(readName(message, 12)).toEqual({ name: 'a.example', end: 23 });
    expect(readName(message, 23)).toEqual({ name: 'b.example', end: 27 });
    const self = Buffer.from([...new Array(12).fill(0), 0xc0, 12]);
    expect(() => readName(self, 12)).toThrow(DnsFormatError);
    const forward = Buffer.from([...new Array(12).fill(0), 0xc0, 20, 0, 0, 0, 0, 0, 0, 0]);
    expect(() => readName(forward, 12)).toThrow(/backwards/);
    const runaway = Buffer.from([...new Array(12).fill(0), 9, 0x61]);
    expect(() => readName(runaway, 12)).toThrow(/past the message/);
    const long = Buffer.from([
      ...new Array(12).fill(0),
      ...Array.from({ length: 5 }, () => [63, ...new Array(63).fill(0x61)]).flat(),
      0,
    ]);
    expect(() => readName(long, 12)).toThrow(/255/);
  });

  it('writes answers that point at the question and echo it as asked', () => {
    const raw = buildQuery(9, 'Reviews.default', DNS_TYPE.A);
    const response = buildResponse(raw, parseQuery(raw), {
      rcode: RCODE.NOERROR,
      authoritative: true,
      answers: [{ type: DNS_TYPE.A, ttl: 30, address: '10.96.0.20' }],
    });
    expect(response.subarray(12, raw.length)).toEqual(raw.subarray(12));
    expect(parseResponse(response)).toEqual({
      id: 9,
      rcode: 0,
      authoritative: true,
      truncated: false,
      answers: [{ name: 'reviews.default', type: DNS_TYPE.A, ttl: 30, address: '10.96.0.20' }],
      additionals: [],
    });
  });

  it('refuses a response as a query and a short message', () => {
    const raw = buildQuery(1, 'x', DNS_TYPE.A);
    raw[2] = raw[2]! | 0x80;
    expect(() => parseQuery(raw)).toThrow(/not a query/);
    expect(() => parseQuery(Buffer.alloc(5))).toThrow(DnsFormatError);
  });
});

describe('DNS answers', () => {
  it.each([
    'reviews',
    'reviews.default',
    'reviews.default.svc',
    'reviews.default.svc.cluster.local',
    'REVIEWS.Default.SVC.cluster.local.',
  ])('%s resolves to the VIP for a pod in default', (name) => {
    const result = ask(name);
    expect(result).toMatchObject({ kind: 'response', rcode: RCODE.NOERROR });
    if (result.kind === 'response') {
      expect(result.parsed.authoritative).toBe(true);
      expect(result.parsed.answers.map((a) => a.address)).toEqual(['10.96.0.20']);
      expect(result.parsed.answers[0]!.ttl).toBe(30);
    }
  });

  it('resolves a bare name in the asking pod namespace only', () => {
    expect(ask('ratings', DNS_TYPE.A, { namespace: 'shop' })).toMatchObject({ rcode: RCODE.NOERROR });
    expect(ask('ratings', DNS_TYPE.A, inDefault)).toMatchObject({ rcode: RCODE.NXDOMAIN });
    expect(ask('ratings.shop', DNS_TYPE.A, inDefault)).toMatchObject({ rcode: RCODE.NOERROR });
  });

  it('answers AAAA with IPv6 VIPs, and NODATA for a name without records of the type', () => {
    const v6 = ask('ratings.shop', DNS_TYPE.AAAA);
    if (v6.kind !== 'response') throw new Error('expected a response');
    expect(v6.parsed.answers.map((a) => a.address)).toEqual(['fd00:96::30']);
    const none = ask('reviews', DNS_TYPE.AAAA);
    if (none.kind !== 'response') throw new Error('expected a response');
    expect(none.rcode).toBe(RCODE.NOERROR);
    expect(none.parsed.answers).toEqual([]);
  });

  it.each([
    // A resolver walking the pod's search list sends these before the real name: they do not exist.
    'reviews.default.default.svc.cluster.local',
    'reviews.default.svc.cluster.local.svc.cluster.local',
    'reviews.default.svc.cluster.local.cluster.local',
  ])('%s is not a name of the Service (no search-expanded canonical names)', (name) => {
    expect(ask(name)).toMatchObject({ rcode: RCODE.NXDOMAIN });
    expect(ask(name, DNS_TYPE.A, inDefault, true)).toEqual({ kind: 'forward', name });
  });

  it('says NXDOMAIN for unknown cluster names without an upstream, forwards the rest to it', () => {
    const unknown = ask('nope.default.svc.cluster.local');
    expect(unknown).toMatchObject({ rcode: RCODE.NXDOMAIN });
    if (unknown.kind === 'response') expect(unknown.parsed.authoritative).toBe(true);
    expect(ask('nope.default.svc.cluster.local', DNS_TYPE.A, inDefault, true)).toEqual({
      kind: 'forward',
      name: 'nope.default.svc.cluster.local',
    });
    expect(ask('example.com', DNS_TYPE.A, inDefault, true)).toEqual({ kind: 'forward', name: 'example.com' });
    const refused = ask('example.com', DNS_TYPE.A, inDefault, false);
    expect(refused).toMatchObject({ rcode: RCODE.NXDOMAIN });
    if (refused.kind === 'response') expect(refused.parsed.authoritative).toBe(false);
  });

  it.each([
    ['an SRV query for a known name', 'reviews.default.svc.cluster.local', DNS_TYPE.SRV],
    ['a PTR query', '20.0.96.10.in-addr.arpa', DNS_TYPE.PTR],
    ['a headless Service (no VIP)', 'db.default.svc.cluster.local', DNS_TYPE.A],
  ])('forwards %s to the cluster DNS', (_what, name, type) => {
    const withHeadless: HostLookup = (hostname) =>
      hostname === 'db.default.svc.cluster.local' ? [] : lookup(hostname);
    const result = answerLocally(buildQuery(1, name, type), inDefault, withHeadless, { canForward: true });
    expect(result).toEqual({ kind: 'forward', name });
  });

  it('answers NOTIMP to other opcodes and FORMERR to a query it cannot read but can reply to', () => {
    const status = buildQuery(3, 'reviews', DNS_TYPE.A);
    status.writeUInt16BE(0x1000, 2);
    expect(answerLocally(status, inDefault, lookup, { canForward: false })).toMatchObject({
      rcode: RCODE.NOTIMP,
    });
    const broken = Buffer.concat([buildQuery(4, 'reviews', DNS_TYPE.A).subarray(0, 14)]);
    const result = answerLocally(broken, inDefault, lookup, { canForward: false });
    expect(result).toMatchObject({ kind: 'response', rcode: RCODE.FORMERR });
    expect(answerLocally(Buffer.from([1, 2, 3]), inDefault, lookup, { canForward: false })).toEqual({
      kind: 'drop',
    });
  });
});
