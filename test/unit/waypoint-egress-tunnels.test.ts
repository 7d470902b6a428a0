/**
 * The waypoint's connections to endpoints outside the mesh (a ServiceEntry's addresses), against real
 * servers on loopback: no HBONE, the address dialled directly; with a DestinationRule's SIMPLE TLS, TLS
 * originated with the SNI, the certificate checked against the given roots and names (refused when it
 * carries neither the SNI nor a listed subjectAltName, or chains to another root), or not checked when
 * `insecureSkipVerify` says so.
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
import type { CertificateProvider } from '../../src/core/tls/certificates.ts';
import { SecureContextCache } from '../../src/core/tls/contexts.ts';
import { UpstreamTunnels } from '../../src/waypoint/upstream/tunnels.ts';
import { selfSignedCertificate } from '../support/self-signed.ts';

/** The waypoint's own certificates are for HBONE, which an outside endpoint never sees. */
const NO_MESH_CERTIFICATES: CertificateProvider = {
  get: () => Promise.reject(new Error('an outside endpoint must not ask for a mesh certificate')),
  trustBundle: () => [],
  subscribe: () => () => {},
};

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
  const tunnels = new UpstreamTunnels(
    new HbonePool({
      contexts: new SecureContextCache(NO_MESH_CERTIFICATES),
      trustDomains: new Set(['cluster.local']),
      settings: DEFAULT_POOL,
      timeouts: DEFAULT_HBONE_TIMEOUTS,
    }),
    'spiffe://cluster.local/ns/istio-egress/sa/waypoint',
    15008,
  );
  const tlsServer = tls.createServer({ cert: server.cert, key: server.key }, (socket) =>
    socket.end(`tls ${socket.servername}\n`),
  );
  const plainServer = net.createServer((socket) => socket.end('plain\n'));
  const ports = { tls: 0, plain: 0 };

  beforeAll(async () => {
    for (const [name, listener] of [
      ['tls', tlsServer],
      ['plain', plainServer],
    ] as const) {
      await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
      ports[name] = (listener.address() as net.AddressInfo).port;
    }
  });

  afterAll(() => {
    tlsServer.close();
    plainServer.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const open = (port: number, tlsSettings?: Partial<OriginatedTls>) =>
    tunnels.open(
      {
        ip: '127.0.0.1',
        port,
        identity: '',
        client: { ip: '10.244.0.2', port: 40000 },
        // An outside endpoint without TLS is `{}`: still dialled directly.
        external:
          tlsSettings === undefined
            ? {}
            : { tls: { sni: 'api.outside.test', verify: true, subjectAltNames: [], ...tlsSettings } },
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
});
