/**
 * The ztunnel's DNS proxy: service names in every form over UDP and TCP (length-prefixed, several queries
 * on one connection), other names forwarded to an upstream resolver on loopback, and its metrics.
 */
import { createSocket } from 'node:dgram';
import { connect as tcpConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildQuery, DNS_TYPE, parseResponse, RCODE } from '../../src/core/dns/codec.ts';
import type { Ztunnel } from '../../src/ztunnel/ztunnel.ts';
import { sumOf } from '../support/metric-values.ts';
import { startTwoNodeMesh, type TwoNodeMesh, UPSTREAM_NAME } from '../support/two-node-mesh.ts';

describe('ztunnel DNS proxy', () => {
  let mesh: TwoNodeMesh;
  let ip: (host: number) => string;
  let za: Ztunnel;

  beforeAll(async () => {
    mesh = await startTwoNodeMesh({ dnsUpstream: true });
    ({ ip, za } = mesh);
  });

  afterAll(() => mesh?.close());

  const udpQuery = (name: string, type: number = DNS_TYPE.A) =>
    new Promise<ReturnType<typeof parseResponse>>((resolve, reject) => {
      const socket = createSocket('udp4');
      socket.once('message', (message) => {
        socket.close();
        resolve(parseResponse(message));
      });
      socket.once('error', reject);
      socket.bind(0, ip(11), () => socket.send(buildQuery(0x4242, name, type), 15053, ip(11)));
    });

  it('answers service names in every form over UDP', async () => {
    for (const name of [
      'server',
      'server.default',
      'server.default.svc',
      'server.default.svc.cluster.local',
    ]) {
      const response = await udpQuery(name);
      expect(response).toMatchObject({ id: 0x4242, rcode: RCODE.NOERROR, authoritative: true });
      expect(response.answers.map((a) => a.address)).toEqual([ip(200)]);
    }
    expect((await udpQuery('server', DNS_TYPE.AAAA)).answers.map((a) => a.address)).toEqual(['fd00:96::200']);
  });

  it('answers over TCP with length-prefixed messages, several on one connection', async () => {
    const socket = tcpConnect({ host: ip(11), port: 15053 });
    const responses: ReturnType<typeof parseResponse>[] = [];
    let pending = Buffer.alloc(0);
    const done = new Promise<void>((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
          responses.push(parseResponse(pending.subarray(2, 2 + pending.readUInt16BE(0))));
          pending = pending.subarray(2 + pending.readUInt16BE(0));
        }
        if (responses.length === 2) resolve();
      });
    });
    const frame = (message: Buffer) =>
      Buffer.concat([Buffer.from([message.length >> 8, message.length & 0xff]), message]);
    socket.write(
      Buffer.concat([
        frame(buildQuery(1, 'server.default', DNS_TYPE.A)),
        frame(buildQuery(2, 'nope.default.svc.cluster.local', DNS_TYPE.A)),
      ]),
    );
    await done;
    socket.destroy();
    expect(responses.find((r) => r.id === 1)?.answers.map((a) => a.address)).toEqual([ip(200)]);
    // A cluster name the mesh does not know is the upstream's (the cluster DNS) to answer.
    expect(responses.find((r) => r.id === 2)?.answers.map((a) => a.address)).toEqual(['192.0.2.1']);
  });

  it('forwards names outside the mesh upstream and counts queries', async () => {
    const response = await udpQuery(UPSTREAM_NAME.name);
    expect(response.answers.map((a) => a.address)).toEqual([UPSTREAM_NAME.address]);
    expect(await sumOf(za.metrics.dnsUpstreamRequests)).toBeGreaterThanOrEqual(1);
    expect(
      await sumOf(za.metrics.dnsRequests, {
        source_workload: 'client',
        answered_by: 'ztunnel',
        rcode: 'NOERROR',
      }),
    ).toBeGreaterThanOrEqual(5);
    expect(await sumOf(za.metrics.dnsRequests, { answered_by: 'upstream' })).toBeGreaterThanOrEqual(1);
  });
});
