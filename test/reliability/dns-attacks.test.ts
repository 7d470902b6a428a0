/**
 * Issue 8's reliability suite, the DNS proxy (15053, UDP and TCP): malformed messages (truncated headers,
 * counts that promise questions which are not there, a compression pointer that points at itself, an
 * oversized TCP length prefix) and TCP clients that never finish a message. For each, a healthy loop of UDP
 * queries from the same pod sees no failure, descriptors come back, and what the proxy refused is counted:
 * a FORMERR when the message has an ID to answer to, `ambit_ztunnel_dns_refused_total` when it has not or when
 * a TCP client was closed idle (the transport's 10 s). Every attack is bounded in count.
 */
import { createSocket } from 'node:dgram';
import { connect as tcpConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildQuery, DNS_TYPE, parseResponse, RCODE, rcodeName } from '../../src/core/dns/codec.ts';
import { ZTUNNEL_PORTS } from '../../src/core/ports.ts';
import { ended, healthyLoop, openFds } from '../support/attack-kit.ts';
import { eventually } from '../support/eventually.ts';
import { sumOf } from '../support/metric-values.ts';
import { startTwoNodeMesh, type TwoNodeMesh } from '../support/two-node-mesh.ts';

const FD_SLACK = 16;
let mesh: TwoNodeMesh;
let pod: string;

beforeAll(async () => {
  mesh = await startTwoNodeMesh();
  pod = mesh.ip(11);
});

afterAll(async () => {
  await mesh?.close();
});

/** One UDP datagram to the pod's DNS proxy; the response, or undefined when none came within 1 s. */
function udp(message: Buffer): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      resolve(undefined);
    }, 1_000);
    socket.once('message', (response) => {
      clearTimeout(timer);
      socket.close();
      resolve(response);
    });
    socket.bind(0, pod, () => socket.send(message, ZTUNNEL_PORTS.dns, pod));
  });
}

/** A DNS header: ID 0x5151, a standard query, then the four counts. */
const header = (qd: number, an = 0, ns = 0, ar = 0) =>
  Buffer.from([0x51, 0x51, 0x01, 0x00, 0, qd, 0, an, 0, ns, 0, ar]);

/** TCP connections that each send `bytes` and then nothing, until the proxy closes them. */
const tcpHolding = (count: number, bytes: Buffer) => async () => {
  await Promise.all(
    Array.from({ length: count }, () => {
      const socket = tcpConnect({ host: pod, port: ZTUNNEL_PORTS.dns });
      socket.once('connect', () => socket.write(bytes));
      return ended(socket);
    }),
  );
};

const datagrams = (count: number, message: Buffer) => async () => {
  const responses = await Promise.all(Array.from({ length: count }, () => udp(message)));
  for (const response of responses) if (response) expect(response.readUInt16BE(0)).toBe(0x5151);
};

const formerr = { metric: 'requests', labels: { rcode: rcodeName(RCODE.FORMERR) } } as const;

/** Name, attack, and where its refusal is counted. */
const ATTACKS: Array<
  [
    string,
    () => Promise<void>,
    { metric: 'requests'; labels: { rcode: string } } | { metric: 'refused'; labels: Record<string, string> },
  ]
> = [
  [
    'UDP: truncated headers (no ID to answer)',
    datagrams(50, Buffer.from([0x51])),
    { metric: 'refused', labels: { transport: 'udp', reason: 'malformed' } },
  ],
  ['UDP: 50 questions promised, none there', datagrams(50, header(50)), formerr],
  [
    'UDP: a question name that is a compression pointer to itself',
    datagrams(50, Buffer.concat([header(1), Buffer.from([0xc0, 12, 0, 1, 0, 1])])),
    formerr,
  ],
  [
    'UDP: answers promised in a query, and a name that runs past the end',
    datagrams(50, Buffer.concat([header(1, 200, 200, 200), Buffer.from([63, 0x61, 0x62])])),
    formerr,
  ],
  [
    'TCP: wrong counts in a framed message',
    async () => {
      const message = header(9);
      const framed = Buffer.concat([Buffer.from([0, message.length]), message]);
      await Promise.all(
        Array.from({ length: 20 }, async () => {
          const socket = tcpConnect({ host: pod, port: ZTUNNEL_PORTS.dns });
          socket.once('connect', () => socket.end(framed));
          await ended(socket);
        }),
      );
    },
    formerr,
  ],
  [
    'TCP: a 65535-byte length prefix never filled, and silent connections (slow loris)',
    async () => {
      await Promise.all([
        tcpHolding(20, Buffer.from([0xff, 0xff, 1, 2, 3]))(),
        tcpHolding(20, Buffer.alloc(0))(),
      ]);
    },
    { metric: 'refused', labels: { transport: 'tcp', reason: 'idle' } },
  ],
];

describe('the DNS proxy (15053) under malformed messages and slow clients', () => {
  const request = async () => {
    const response = await udp(buildQuery(0x2323, 'server', DNS_TYPE.A));
    if (!response) throw new Error('no answer');
    const parsed = parseResponse(response);
    if (parsed.answers[0]?.address !== mesh.ip(200)) throw new Error(`answered ${JSON.stringify(parsed)}`);
  };
  const counted = (where: (typeof ATTACKS)[number][2]) =>
    where.metric === 'requests'
      ? sumOf(mesh.za.metrics.dnsRequests, where.labels)
      : sumOf(mesh.za.metrics.dnsRefused, where.labels);

  it.each(ATTACKS)('%s', async (_name, attack, where) => {
    await request();
    const fdsBefore = openFds();
    const before = await counted(where);
    const loop = healthyLoop(request, 2_000);
    await attack();
    const { ok, failed, firstError } = await loop.stop();
    expect({ failed, firstError }).toEqual({ failed: 0, firstError: undefined });
    expect(ok).toBeGreaterThan(0);
    await eventually(async () => (await counted(where)) > before, { what: 'the refusal counted' });
    await eventually(() => openFds() <= fdsBefore + FD_SLACK, { what: `descriptors back near ${fdsBefore}` });
    // TCP still answers after the attack.
    const query = buildQuery(0x2424, 'server', DNS_TYPE.A);
    const socket = tcpConnect({ host: pod, port: ZTUNNEL_PORTS.dns });
    socket.once('connect', () => socket.write(Buffer.concat([Buffer.from([0, query.length]), query])));
    const [chunk] = (await new Promise((resolve) => socket.once('data', (data) => resolve([data])))) as [
      Buffer,
    ];
    socket.destroy();
    expect(parseResponse(chunk.subarray(2)).answers[0]?.address).toBe(mesh.ip(200));
  });
});
