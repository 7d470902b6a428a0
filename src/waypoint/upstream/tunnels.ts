/**
 * Tunnels from the waypoint to endpoints: an HBONE CONNECT to the endpoint pod's ztunnel (`<pod IP>:15008`,
 * `:authority` `<pod IP>:<target port>`), presenting the waypoint's own identity and expecting the
 * endpoint workload's, over the shared pooled HTTP/2 connections of `core/hbone`. `forwarded` names the
 * original client, so the destination ztunnel (which trusts it only from the bound waypoint) reports and
 * authorizes the real caller. An endpoint outside the mesh (a ServiceEntry's address) has no ztunnel: it is
 * dialled directly, as Istio's waypoint does for egress, its hostname resolved first if it has one, with TLS
 * when its DestinationRule originates it (SIMPLE, MUTUAL with the Secret's client certificate, or
 * ISTIO_MUTUAL with the waypoint's own mesh certificate).
 */
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { checkServerIdentity, connect as connectTls, type PeerCertificate } from 'node:tls';
import { forwardedFor } from '../../core/hbone/headers.ts';
import type { HbonePool } from '../../core/hbone/pool.ts';
import type { HboneStream } from '../../core/hbone/stream.ts';
import type { ExternalEndpoint, OriginatedTls } from '../../core/l7/types.ts';
import { isResolvableName } from '../../core/l7/validate.ts';
import { joinHostPort } from '../../core/net/host-port.ts';
import type { SecureContextCache } from '../../core/tls/contexts.ts';
import { identityOfCertificate } from '../../core/tls/spiffe.ts';
import { DnsCache } from './dns-cache.ts';
import { type LookupRequester, lookupRequester } from './lookup-limits.ts';

export interface TunnelTarget {
  ip: string;
  /** The app port on the endpoint (the Service port's target port). */
  port: number;
  /** The endpoint workload's SPIFFE identity, which its ztunnel's certificate must carry. */
  identity: string;
  client: { ip: string; port: number };
  /** The CONNECT `:authority` when it is not `ip:port` (a waypoint is asked for the Service VIP:port). */
  authority?: string | undefined;
  /** Set for an endpoint outside the mesh: no HBONE, `ip:port` directly (and TLS if it says so). */
  external?: ExternalEndpoint | undefined;
  /** Whom a lookup of a name the request chose (a `DYNAMIC_DNS` host) is charged to. */
  requester?: LookupRequester | undefined;
}

/**
 * Whether a request's host (a DNS name, no port) falls under a DYNAMIC_DNS entry's wildcard host: any
 * depth of labels before the suffix, as Istio's wildcard hosts match; an address or an empty host never does.
 */
export function hostUnder(host: string, wildcard: string): boolean {
  const suffix = wildcard.slice(1).toLowerCase();
  const name = host.toLowerCase().replace(/\.$/, '');
  return name.length > suffix.length && name.endsWith(suffix) && isResolvableName(name);
}

/**
 * A DYNAMIC_DNS endpoint's target for one request or connection: the name it asked for (its Host, or its
 * ClientHello's SNI), whose lookup is charged to the caller.
 */
export function dynamicTarget(
  target: TunnelTarget,
  hostname: string,
  caller: {
    peerIdentity: string;
    source: { canonicalName: string; namespace: string } | undefined;
    client: { ip: string };
  },
): TunnelTarget {
  const resolve = target.external?.resolve;
  if (resolve === undefined) return target;
  return {
    ...target,
    external: { ...target.external, resolve: { ...resolve, hostname } },
    requester: lookupRequester(caller.peerIdentity, caller.source, caller.client.ip),
  };
}

/** What a target is dialled by: its hostname when it is resolved at dial time, else its address. */
export function targetHost(target: TunnelTarget): string {
  return target.external?.resolve?.hostname ?? target.ip;
}

/** The origin an HTTP client pool for the target is named by (never dialled as such: `open` dials). */
export function targetOrigin(target: TunnelTarget): string {
  const host = targetHost(target);
  return `http://${host.includes(':') ? `[${host}]` : host}:${target.port}`;
}

export interface UpstreamTunnelOptions {
  /** The waypoint's own identity: what HBONE (and ISTIO_MUTUAL origination) presents. */
  sourceIdentity: string;
  hbonePort: number;
  /**
   * The address tunnels leave from. In a pod the kernel picks the pod IP; on a shared loopback (tests) it
   * must be set to the waypoint's address, since destination ztunnels recognise their waypoint by address
   * and identity together.
   */
  localAddress?: string | undefined;
  /** The waypoint's certificates (ISTIO_MUTUAL origination presents them and trusts their bundle). */
  contexts: SecureContextCache;
  trustDomains: ReadonlySet<string>;
  /** Resolves hostname endpoints (default: a `DnsCache` over the process's resolver). */
  dns?: DnsCache | undefined;
}

export class UpstreamTunnels {
  readonly #pool: HbonePool;
  readonly #options: UpstreamTunnelOptions;
  readonly #dns: DnsCache;

  constructor(pool: HbonePool, options: UpstreamTunnelOptions) {
    this.#pool = pool;
    this.#options = options;
    this.#dns = options.dns ?? new DnsCache();
  }

  /**
   * A tunnel to `target`; with `timeoutMs`, one that has not opened by then fails (and is closed should it
   * open later), as a cluster's `connectTimeout` asks.
   */
  open(target: TunnelTarget, timeoutMs?: number): Promise<Duplex> {
    const opening = target.external ? this.#direct(target, target.external) : this.#open(target);
    if (timeoutMs === undefined) return opening;
    return new Promise((resolve, reject) => {
      let late = false;
      const timer = setTimeout(() => {
        late = true;
        reject(new Error(`no tunnel within the connect timeout (${timeoutMs} ms)`));
      }, timeoutMs);
      opening.then(
        (stream) => {
          clearTimeout(timer);
          if (late) stream.destroy();
          else resolve(stream);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  /** A connection to an address outside the mesh, once it (and its TLS, if any) is up. */
  async #direct(target: TunnelTarget, external: ExternalEndpoint): Promise<Duplex> {
    const { resolve } = external;
    const { requester } = target;
    if (resolve?.under !== undefined && !hostUnder(resolve.hostname, resolve.under))
      this.#dns.refuse(
        resolve.hostname,
        'outside-entry',
        `the requested host is not under ${resolve.under}`,
        requester,
      );
    const host =
      resolve === undefined ? target.ip : await this.#dns.address(resolve.hostname, resolve.use, requester);
    const options = {
      host,
      port: target.port,
      noDelay: true,
      localAddress: this.#options.localAddress,
    };
    const { tls } = external;
    const tlsOptions = tls === undefined ? undefined : await this.#tlsOptions(tls);
    return new Promise((resolve, reject) => {
      const socket = tlsOptions === undefined ? connect(options) : connectTls({ ...options, ...tlsOptions });
      socket.once(tlsOptions === undefined ? 'connect' : 'secureConnect', () => {
        socket.off('error', reject);
        resolve(socket);
      });
      socket.once('error', reject);
    });
  }

  /** The TLS options of an originated connection: what it presents, trusts and requires of the server. */
  async #tlsOptions(tls: OriginatedTls) {
    const common = {
      servername: tls.sni,
      rejectUnauthorized: tls.verify,
      ALPNProtocols: ['http/1.1'],
    };
    if (tls.mode === 'ISTIO_MUTUAL') {
      const trustDomains = this.#options.trustDomains;
      return {
        ...common,
        secureContext: await this.#options.contexts.get(this.#options.sourceIdentity),
        // A mesh server is named by its SPIFFE identity: one of those listed, or any of the mesh's.
        checkServerIdentity: (_host: string, certificate: PeerCertificate) => {
          const result = identityOfCertificate(certificate, trustDomains);
          if (!result.ok) return new Error(result.reason);
          if (tls.subjectAltNames.length > 0 && !tls.subjectAltNames.includes(result.identity))
            return new Error(
              `server identity ${result.identity} is none of ${tls.subjectAltNames.join(', ')}`,
            );
          return undefined;
        },
      };
    }
    return {
      ...common,
      ca: tls.caPem,
      cert: tls.clientCertificate?.certificatePem,
      key: tls.clientCertificate?.keyPem,
      // The certificate must name the SNI, or one of the DestinationRule's subjectAltNames.
      checkServerIdentity: (_host: string, certificate: PeerCertificate) => {
        const names = tls.subjectAltNames.length > 0 ? tls.subjectAltNames : [tls.sni];
        const failures = names.map((name) => checkServerIdentity(name, certificate));
        return failures.some((failure) => failure === undefined) ? undefined : failures[0];
      },
    };
  }

  #open(target: TunnelTarget): Promise<HboneStream> {
    const peerPort = this.#options.hbonePort;
    const localAddress = this.#options.localAddress;
    return this.#pool.connect({
      sourceIdentity: this.#options.sourceIdentity,
      peerIdentity: target.identity,
      peerIp: target.ip,
      peerPort,
      sourceKey: 'waypoint',
      authority: target.authority ?? joinHostPort(target.ip, target.port),
      headers: { forwarded: forwardedFor(target.client.ip, target.client.port) },
      dial: () => connect({ host: target.ip, port: peerPort, noDelay: true, localAddress }),
    });
  }
}
