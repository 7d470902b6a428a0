/**
 * The native mTLS baseline of the benchmarks: config files for an stunnel4 client/server pair, TLS 1.3 only,
 * both sides presenting certificates from the same test CA that Ambit's identities come from, TCP_NODELAY on
 * both legs (as the ztunnel sets it), so that the comparison is like for like.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestCa } from '../../test/support/test-ca.ts';

export interface StunnelService {
  name: string;
  /** Where the client side accepts plaintext (the app's client connects here). */
  clientAccept: string;
  /** Where the server side accepts TLS (the client side connects here). */
  serverAccept: string;
  /** Where the server side delivers plaintext (the app). */
  appConnect: string;
}

export interface StunnelConfigs {
  client: string;
  server: string;
}

/** Writes the certificates and the two config files into `dir` (0600) and returns the configs' paths. */
export function writeStunnelConfigs(
  dir: string,
  ca: TestCa,
  services: readonly StunnelService[],
  namespace = 'default',
): StunnelConfigs {
  const write = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text, { mode: 0o600 });
    return path;
  };
  const caFile = write('ca.pem', ca.certPem);
  const identity = (side: 'client' | 'server') => {
    const issued = ca.issue(`spiffe://cluster.local/ns/${namespace}/sa/stunnel-${side}`);
    return `cert = ${write(`stunnel-${side}.crt`, issued.certPem)}\nkey = ${write(`stunnel-${side}.key`, issued.keyPem)}\n`;
  };
  const common =
    'foreground = yes\npid =\ndebug = 3\nsocket = l:TCP_NODELAY=1\nsocket = r:TCP_NODELAY=1\n' +
    `sslVersionMin = TLSv1.3\nCAfile = ${caFile}\nverifyChain = yes\n`;
  const client = services
    .map((s) => `[${s.name}]\nclient = yes\naccept = ${s.clientAccept}\nconnect = ${s.serverAccept}\n`)
    .join('');
  const server = services
    .map((s) => `[${s.name}]\naccept = ${s.serverAccept}\nconnect = ${s.appConnect}\nrequireCert = yes\n`)
    .join('');
  return {
    client: write('client.conf', `${common}${identity('client')}${client}`),
    server: write('server.conf', `${common}${identity('server')}${server}`),
  };
}
