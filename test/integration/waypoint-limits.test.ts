/**
 * What a client cannot make the waypoint hold, over real loopback connections fed to the waypoint's own
 * inbound HTTP servers: requests beyond the in-flight limit are refused at once (503 `UO`), oversized
 * headers get 431, and both are counted by reason.
 */
import { createServer, type Server, connect as tcpConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessLog } from '../../src/waypoint/access-log.ts';
import { EndpointLoad } from '../../src/waypoint/balance/balancer.ts';
import { RequestEngine, type TunnelContext } from '../../src/waypoint/engine.ts';
import { InboundHttpServers } from '../../src/waypoint/inbound/http-servers.ts';
import { WaypointMetrics } from '../../src/waypoint/metrics.ts';
import { WaypointState } from '../../src/waypoint/state.ts';
import { service } from '../support/mesh-fixtures.ts';
import { sumOf } from '../support/metric-values.ts';
import { answeringOkSnapshot } from '../support/route-table.ts';
import { listen, loopbackSubnet } from '../support/ztunnel-harness.ts';

describe('waypoint limits', () => {
  const ip = loopbackSubnet()(1);
  const metrics = new WaypointMetrics();
  let server: Server;

  beforeAll(async () => {
    const shop = service({ name: 'shop', vips: ['10.96.0.1'] });
    const snapshot = answeringOkSnapshot(shop, { name: 'w', namespace: 'default' });
    const state = new WaypointState(snapshot, new EndpointLoad());
    const unused = {
      send: () => Promise.reject(new Error('no upstream in this test')),
      close: async () => {},
    };
    const engine = new RequestEngine({
      tunnels: undefined as never,
      http1: unused,
      http2: unused,
      load: new EndpointLoad(),
      metrics,
      accessLog: new AccessLog(undefined),
      // One request at a time: a second one while the first is in flight is refused.
      maxActiveRequests: 1,
    });
    const servers = new InboundHttpServers(
      {
        request: (req, res, tunnel) => engine.handle(req, res, tunnel),
        upgrade: (_req, socket) => socket.destroy(),
      },
      metrics,
    );
    const tunnel: TunnelContext = {
      state,
      target: state.target('10.96.0.1', 80)!,
      destinationIp: '10.96.0.1',
      destinationPort: 80,
      peerIdentity: 'spiffe://cluster.local/ns/default/sa/client',
      client: { ip: '10.0.0.1', port: 1234 },
      source: undefined,
      wire: 'http1',
    };
    server = createServer((socket) => servers.serveHttp1(socket, tunnel));
    await listen(server, ip, 8080);
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  function exchange(payload: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = tcpConnect({ host: ip, port: 8080 });
      let text = '';
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
      socket.end(payload);
    });
  }

  it('refuses requests beyond the in-flight limit at once with 503 UO, and counts them', async () => {
    // Concurrent connections: some get in, the rest are refused at once while the limit is reached.
    const replies = await Promise.all(
      Array.from({ length: 20 }, () => exchange('GET / HTTP/1.1\r\nhost: shop\r\nconnection: close\r\n\r\n')),
    );
    const refused = replies.filter((reply) => reply.startsWith('HTTP/1.1 503'));
    const served = replies.filter((reply) => reply.startsWith('HTTP/1.1 200'));
    expect(refused.length + served.length).toBe(20);
    expect(served.length).toBeGreaterThan(0);
    expect(await sumOf(metrics.refused, { reason: 'too-many-requests' })).toBe(refused.length);
    expect(await sumOf(metrics.requests, { response_flags: 'UO', response_code: '503' })).toBe(
      refused.length,
    );
  });

  it('answers 431 to headers over 60 KiB and counts it', async () => {
    const reply = await exchange(`GET / HTTP/1.1\r\nhost: shop\r\nx-big: ${'a'.repeat(70 * 1024)}\r\n\r\n`);
    expect(reply).toMatch(/^HTTP\/1\.1 431 /);
    expect(await sumOf(metrics.refused, { reason: 'header-overflow' })).toBe(1);
  });
});
