/**
 * Tunnels from the waypoint to endpoints: an HBONE CONNECT to the endpoint pod's ztunnel (`<pod IP>:15008`,
 * `:authority` `<pod IP>:<target port>`), presenting the waypoint's own identity and expecting the
 * endpoint workload's, over the shared pooled HTTP/2 connections of `core/hbone`. `forwarded` names the
 * original client, so the destination ztunnel (which trusts it only from the bound waypoint) reports and
 * authorizes the real caller. An endpoint outside the mesh (a ServiceEntry's address) has no ztunnel: it is
 * dialled directly, as Istio's waypoint does for egress, with TLS when its DestinationRule originates it.
 */
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { checkServerIdentity, connect as connectTls } from 'node:tls';
import { forwardedFor } from '../../core/hbone/headers.ts';
import type { HbonePool } from '../../core/hbone/pool.ts';
import type { HboneStream } from '../../core/hbone/stream.ts';
import type { ExternalEndpoint } from '../../core/l7/types.ts';
import { joinHostPort } from '../../core/net/host-port.ts';

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
}

export class UpstreamTunnels {
  readonly #pool: HbonePool;
  readonly #sourceIdentity: string;
  readonly #hbonePort: number;
  readonly #localAddress: string | undefined;

  /**
   * `localAddress`: the address tunnels leave from. In a pod the kernel picks the pod IP; on a shared
   * loopback (tests) it must be set to the waypoint's address, since destination ztunnels recognise their
   * waypoint by address and identity together.
   */
  constructor(pool: HbonePool, sourceIdentity: string, hbonePort: number, localAddress?: string) {
    this.#pool = pool;
    this.#sourceIdentity = sourceIdentity;
    this.#hbonePort = hbonePort;
    this.#localAddress = localAddress;
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
  #direct(target: TunnelTarget, external: ExternalEndpoint): Promise<Duplex> {
    const { tls } = external;
    return new Promise((resolve, reject) => {
      const options = { host: target.ip, port: target.port, noDelay: true, localAddress: this.#localAddress };
      const socket =
        tls === undefined
          ? connect(options)
          : connectTls({
              ...options,
              servername: tls.sni,
              ca: tls.caPem,
              rejectUnauthorized: tls.verify,
              ALPNProtocols: ['http/1.1'],
              // The certificate must name the SNI, or one of the DestinationRule's subjectAltNames.
              checkServerIdentity: (_host, certificate) => {
                const names = tls.subjectAltNames.length > 0 ? tls.subjectAltNames : [tls.sni];
                const failures = names.map((name) => checkServerIdentity(name, certificate));
                return failures.some((failure) => failure === undefined) ? undefined : failures[0];
              },
            });
      socket.once(tls === undefined ? 'connect' : 'secureConnect', () => {
        socket.off('error', reject);
        resolve(socket);
      });
      socket.once('error', reject);
    });
  }

  #open(target: TunnelTarget): Promise<HboneStream> {
    const peerPort = this.#hbonePort;
    return this.#pool.connect({
      sourceIdentity: this.#sourceIdentity,
      peerIdentity: target.identity,
      peerIp: target.ip,
      peerPort,
      sourceKey: 'waypoint',
      authority: target.authority ?? joinHostPort(target.ip, target.port),
      headers: { forwarded: forwardedFor(target.client.ip, target.client.port) },
      dial: () =>
        connect({ host: target.ip, port: peerPort, noDelay: true, localAddress: this.#localAddress }),
    });
  }
}
