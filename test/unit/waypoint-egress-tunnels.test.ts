/**
 * The waypoint's connections to endpoints outside the mesh (a ServiceEntry's addresses), against real
 * servers on loopback: no HBONE, the address dialled directly (a hostname endpoint resolved first); with a
 * DestinationRule's SIMPLE TLS, TLS originated with the SNI, the certificate checked against the given roots
 * and names (refused when it carries neither the SNI nor a listed subjectAltName, or chains to another root),
 * or not checked when `insecureSkipVerify` says so; MUTUAL presents the Secret's client certificate, which a
 * server that requires one checks; ISTIO_MUTUAL presents the waypoint's mesh certificate and accepts only a
 * server whose certificate chains to the mesh roots and carries an accepted SPIFFE identity.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HbonePool } from '../../src/core/hbone/pool.ts';
import { DEFAULT_HBONE_TIMEOUTS, DEFAULT_POOL } from '../../src/core/hbone/settings.ts';
import type { OriginatedTls } from '../../src/core/l7/types.ts';
import { SecureContextCache } from '../../src/core/tls/contexts.ts';
import { DnsCache, DnsLookupError } from '../../src/waypoint/upstream/dns-cache.ts';
import { connectFailure } from '../../src/waypoint/upstream/exchange.ts';
import { LookupLimiter, lookupRequester } from '../../src/waypoint/upstream/lookup-limits.ts';
import { hostUnder, UpstreamTunnels } from '../../src/waypoint/upstream/tunnels.ts';
import { selfSignedCertificate } from '../support/self-signed.ts';
import { TestCa, TestCertificateProvider } from '../support/test-ca.ts';

const WAYPOINT_IDENTITY = 'spiffe://cluster.local/ns/istio-egress/sa/waypoint';
const SERVER_IDENTITY = 'spiffe://cluster.local/ns/outside/sa/api';

function selfSigned(dir: string, host: string): { cert: string; key: string } {
  const files = selfSignedCertificate(dir, host);
  return { cert: readFileSync(files.cert, 'utf8'), key: readFileSync(files.key, 'utf8') };
}

/** Reads one line the server wrote after the connection opened. */
function firstLine(stream: Duplex): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    stream.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('\n')) resolve(text.split('\n')[0]!);
    });
    stream.on('error', reject);
  });
}

describe('waypoint tunnels to endpoints outside the mesh', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-egress-'));
  const server = selfSigned(dir, 'api.outside.test');
  const otherRoot = selfSigned(dir, 'other.test');
  const client = selfSigned(dir, 'client.egress.test');
  const mesh = new TestCertificateProvider();
  const meshServer = mesh.ca.issue(SERVER_IDENTITY);
  const foreignServer = new TestCa('another mesh').issue(SERVER_IDENTITY);
  const contexts = new SecureContextCache(mesh);
  const trustDomains = new Set(['cluster.local']);
  /** Names the fake DNS knows: the plain server's name answers with loopback. */
  const dnsQueries: string[] = [];
  const refusals: string[] = [];
  const dns = new DnsCache({
    resolve: async (hostname) => {
      dnsQueries.push(hostname);
      if (hostname === 'plain.outside.test') return [{ address: '127.0.0.1', ttl: 30 }];
      throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    },
    onRefusal: (reason) => refusals.push(reason),
  });
  const tunnels = new UpstreamTunnels(
    new HbonePool({ contexts, trustDomains, settings: DEFAULT_POOL, timeouts: DEFAULT_HBONE_TIMEOUTS }),
    { sourceIdentity: WAYPOINT_IDENTITY, hbonePort: 15008, contexts, trustDomains, dns },
  );
  const tlsServer = tls.createServer({ cert: server.cert, key: server.key }, (socket) =>
    socket.end(`tls ${socket.servername}\n`),
  );
  /** Requires a client certificate from `client`'s root; says whom it saw. */
  const mutualServer = tls.createServer(
    { cert: server.cert, key: server.key, ca: client.cert, requestCert: true, rejectUnauthorized: true },
    (socket) => socket.end(`mutual ${socket.getPeerCertificate().subject.CN}\n`),
  );
  /** A mesh workload outside the cluster: its certificate from the mesh CA, requiring one from it too. */
  const meshTlsServer = (issued: { certPem: string; keyPem: string }) =>
    tls.createServer(
      {
        cert: issued.certPem,
        key: issued.keyPem,
        ca: mesh.ca.certPem,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (socket) => socket.end(`mesh ${(socket.getPeerCertificate() as tls.PeerCertificate).subjectaltname}\n`),
    );
  const istioServer = meshTlsServer(meshServer);
  const foreignIstioServer = meshTlsServer(foreignServer);
  const plainServer = net.createServer((socket) => socket.end('plain\n'));
  const ports = { tls: 0, plain: 0, mutual: 0, istio: 0, foreign: 0 };

  beforeAll(async () => {
    for (const [name, listener] of [
      ['tls', tlsServer],
      ['plain', plainServer],
      ['mutual', mutualServer],
      ['istio', istioServer],
      ['foreign', foreignIstioServer],
    ] as const) {
      await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
      ports[name] = (listener.address() as net.AddressInfo).port;
    }
  });

  afterAll(() => {
    for (const listener of [tlsServer, plainServer, mutualServer, istioServer, foreignIstioServer])
      listener.close();
    contexts.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const open = (port: number, tlsSettings?: Partial<OriginatedTls>, hostname?: string) =>
    tunnels.open(
      {
        ip: hostname === undefined ? '127.0.0.1' : '',
        port,
        identity: '',
        client: { ip: '10.244.0.2', port: 40000 },
        // An outside endpoint without TLS is `{}`: still dialled directly.
        external: {
          ...(tlsSettings !== undefined && {
            tls: {
              mode: 'SIMPLE',
              sni: 'api.outside.test',
              verify: true,
              subjectAltNames: [],
              ...tlsSettings,
            },
          }),
          ...(hostname !== undefined && { resolve: { hostname, use: 'all' as const } }),
        },
      },
      5000,
    );

  it('dials a plain outside address directly', async () => {
    expect(await firstLine(await open(ports.plain))).toBe('plain');
  });

  it('originates TLS with the SNI, verified against the given root', async () => {
    expect(await firstLine(await open(ports.tls, { caPem: server.cert }))).toBe('tls api.outside.test');
  });

  it.each([
    ['a root the certificate does not chain to', { caPem: otherRoot.cert }],
    ['the system roots (a self-signed server)', {}],
    ['subjectAltNames the certificate does not carry', { caPem: server.cert, subjectAltNames: ['x.test'] }],
    ['an SNI the certificate does not carry', { caPem: server.cert, sni: 'evil.test' }],
  ])('refuses %s', async (_what, settings) => {
    await expect(open(ports.tls, settings)).rejects.toThrow();
  });

  it('accepts a listed subjectAltName, and anything with insecureSkipVerify', async () => {
    const named = { caPem: server.cert, sni: 'alias.test', subjectAltNames: ['api.outside.test'] };
    expect(await firstLine(await open(ports.tls, named))).toBe('tls alias.test');
    expect(await firstLine(await open(ports.tls, { verify: false, sni: 'evil.test' }))).toBe('tls evil.test');
  });

  it('resolves a hostname endpoint before dialling it, once per TTL; a name that does not resolve is refused', async () => {
    expect(await firstLine(await open(ports.plain, undefined, 'plain.outside.test'))).toBe('plain');
    expect(await firstLine(await open(ports.plain, undefined, 'plain.outside.test'))).toBe('plain');
    expect(dnsQueries.filter((name) => name === 'plain.outside.test')).toHaveLength(1);
    await expect(open(ports.plain, undefined, 'missing.outside.test')).rejects.toThrow(
      'missing.outside.test did not resolve (nxdomain',
    );
    expect(refusals).toEqual(['nxdomain']);
  });

  it('DYNAMIC_DNS: resolves the request host under the wildcard, and refuses one outside it without a query', async () => {
    const dynamic = (hostname: string) =>
      tunnels.open(
        {
          ip: '',
          port: ports.plain,
          identity: '',
          client: { ip: '10.244.0.2', port: 40000 },
          external: { resolve: { hostname, use: 'all', under: '*.outside.test' } },
        },
        5000,
      );
    expect(await firstLine(await dynamic('plain.outside.test'))).toBe('plain');
    const before = dnsQueries.length;
    for (const host of ['evil.example', 'outside.test', '10.0.0.1', ''])
      await expect(dynamic(host)).rejects.toThrow('outside-entry');
    expect(dnsQueries.length).toBe(before);
    expect(refusals.slice(-4)).toEqual(['outside-entry', 'outside-entry', 'outside-entry', 'outside-entry']);
  });

  it('DYNAMIC_DNS: a lookup beyond the requester’s share is refused before it is sent, as UO', async () => {
    const limited = new UpstreamTunnels(
      new HbonePool({ contexts, trustDomains, settings: DEFAULT_POOL, timeouts: DEFAULT_HBONE_TIMEOUTS }),
      {
        sourceIdentity: WAYPOINT_IDENTITY,
        hbonePort: 15008,
        contexts,
        trustDomains,
        dns: new DnsCache({
          resolve: async (hostname) => {
            dnsQueries.push(hostname);
            return [{ address: '127.0.0.1', ttl: 30 }];
          },
          limiter: new LookupLimiter({ newNamesPerClient: 1 }),
        }),
      },
    );
    const requester = lookupRequester('spiffe://cluster.local/ns/mesh/sa/flooder', undefined, '10.244.0.3');
    const dynamic = (hostname: string) =>
      limited.open({
        ip: '',
        port: ports.plain,
        identity: '',
        client: { ip: '10.244.0.3', port: 40000 },
        external: { resolve: { hostname, use: 'all', under: '*.outside.test' } },
        requester,
      });
    expect(await firstLine(await dynamic('first.outside.test'))).toBe('plain');
    const before = dnsQueries.length;
    const refused = await dynamic('second.outside.test').catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(DnsLookupError);
    expect((refused as DnsLookupError).reason).toBe('client-names');
    expect(connectFailure(refused as Error).flag).toBe('UO');
    expect(dnsQueries.length).toBe(before);
    // A lookup that DNS answered badly is a connect failure as before.
    expect(connectFailure(new DnsLookupError('x.outside.test', 'nxdomain', 'ENOTFOUND')).flag).toBe('UF');
  });

  it.each([
    ['a name one label under', 'a.wild.test', true],
    ['a name labels under', 'a.b.wild.test', true],
    ['any case, a trailing dot', 'A.Wild.Test.', true],
    ['the suffix itself', 'wild.test', false],
    ['a name that only ends alike', 'notwild.test', false],
    ['another domain', 'a.wild.test.evil', false],
    ['an address', '10.0.0.1', false],
    ['empty', '', false],
  ])('hostUnder: %s', (_what, host, expected) => {
    expect(hostUnder(host, '*.wild.test')).toBe(expected);
  });

  it('MUTUAL presents the Secret’s client certificate to a server that requires one', async () => {
    const clientCertificate = { certificatePem: client.cert, keyPem: client.key };
    const answer = await open(ports.mutual, { mode: 'MUTUAL', caPem: server.cert, clientCertificate });
    expect(await firstLine(answer)).toBe('mutual client.egress.test');
    // Without the certificate the server ends the handshake: nothing is read.
    await expect(
      firstLine(await open(ports.mutual, { mode: 'MUTUAL', caPem: server.cert })),
    ).rejects.toThrow();
  });

  it('ISTIO_MUTUAL presents the waypoint’s mesh certificate and checks the server’s mesh identity', async () => {
    const answer = await open(ports.istio, {
      mode: 'ISTIO_MUTUAL',
      sni: 'outbound_.443_._.api.outside.test',
    });
    expect(await firstLine(answer)).toBe(`mesh URI:${WAYPOINT_IDENTITY}`);
    const listed = { mode: 'ISTIO_MUTUAL' as const, subjectAltNames: [SERVER_IDENTITY] };
    expect(await firstLine(await open(ports.istio, listed))).toBe(`mesh URI:${WAYPOINT_IDENTITY}`);
  });

  it.each([
    [
      'an identity other than the listed ones',
      ports,
      'istio',
      ['spiffe://cluster.local/ns/outside/sa/other'],
    ],
    ['a certificate from another CA', ports, 'foreign', []],
  ] as const)('ISTIO_MUTUAL refuses %s', async (_what, all, port, subjectAltNames) => {
    await expect(
      open(all[port], { mode: 'ISTIO_MUTUAL', subjectAltNames: [...subjectAltNames] }),
    ).rejects.toThrow();
  });
});
