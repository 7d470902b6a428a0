/**
 * The cluster DNS server of one node: UDP and TCP on the DNS VIP, port 53, in the node's namespace, answering
 * from the current zone. UDP keeps no state (a reply per readable query); TCP is bounded in connections,
 * idle time and answers in flight (core/dns/transport.ts). Queries and refusals are counted, with CoreDNS's
 * metric names where they exist, so that dashboards carry over.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { Counter, Registry } from 'prom-client';
import { buildErrorResponse, RCODE, rcodeName } from '../../core/dns/codec.ts';
import { DEFAULT_TCP_LIMITS, serveDnsTcp, type TcpLimits, truncateForUdp } from '../../core/dns/transport.ts';
import type { Logger } from '../../core/log.ts';
import { listen } from '../../core/server/listen.ts';
import type { DnsForwarder } from '../../ztunnel/index.ts';
import { answerClusterQuery } from './answer.ts';
import type { ClusterZone } from './zone.ts';

/** CoreDNS's metrics port. */
export const CLUSTER_DNS_METRICS_PORT = 9153;

export interface ClusterDnsMetrics {
  registry: Registry;
  requests: Counter<'proto' | 'rcode'>;
  /** Messages without even a readable header: no answer possible. */
  dropped: Counter<'proto'>;
  /** TCP connections refused because `maxConnections` were open. */
  refusedConnections: Counter<never>;
}

export function clusterDnsMetrics(): ClusterDnsMetrics {
  const registry = new Registry();
  const registers = [registry];
  return {
    registry,
    requests: new Counter({
      name: 'coredns_dns_responses_total',
      help: 'DNS responses sent, by transport and response code',
      labelNames: ['proto', 'rcode'],
      registers,
    }),
    dropped: new Counter({
      name: 'ambit_cluster_dns_dropped_total',
      help: 'DNS messages dropped unanswered (unreadable header)',
      labelNames: ['proto'],
      registers,
    }),
    refusedConnections: new Counter({
      name: 'ambit_cluster_dns_tcp_refused_total',
      help: 'TCP connections refused because the connection limit was reached',
      registers,
    }),
  };
}

export interface ClusterDnsServerOptions {
  host: string;
  port: number;
  zone(): ClusterZone;
  metrics: ClusterDnsMetrics;
  log: Logger;
  /** Where names outside the cluster go (none: NXDOMAIN); a failed forward is answered SERVFAIL. */
  forwarder?: DnsForwarder | undefined;
  /** Open TCP connections at most (more are refused and counted). */
  maxTcpConnections?: number;
  tcp?: TcpLimits;
}

export class ClusterDnsServer {
  readonly #options: ClusterDnsServerOptions;
  #udp: UdpSocket | undefined;
  #tcp: Server | undefined;
  readonly #tcpClients = new Set<Socket>();

  constructor(options: ClusterDnsServerOptions) {
    this.#options = options;
  }

  /** The bound ports (what `port: 0` picked), once started. */
  get ports(): { udp: number; tcp: number } | undefined {
    if (!this.#udp || !this.#tcp) return undefined;
    return { udp: this.#udp.address().port, tcp: (this.#tcp.address() as AddressInfo).port };
  }

  async answer(message: Uint8Array, proto: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    const { forwarder, metrics } = this.#options;
    const answer = answerClusterQuery(message, this.#options.zone(), forwarder !== undefined);
    if (!answer) {
      metrics.dropped.inc({ proto });
      return undefined;
    }
    if (answer === 'forward') {
      const response = await forwarder!
        .forward(message)
        .catch(() => buildErrorResponse((message[0]! << 8) | message[1]!, RCODE.SERVFAIL));
      // The upstream's rcode is the low nibble of the header's fourth byte.
      metrics.requests.inc({ proto, rcode: rcodeName(response[3]! & 0x0f) });
      return response;
    }
    metrics.requests.inc({ proto, rcode: rcodeName(answer.rcode) });
    return answer.response;
  }

  async start(): Promise<void> {
    const { host, port, log } = this.#options;
    const udp = createSocket({ type: 'udp4', reuseAddr: false });
    udp.on('message', (message, remote) => {
      void this.answer(message, 'udp').then((response) => {
        if (response && this.#udp === udp) udp.send(truncateForUdp(response), remote.port, remote.address);
      });
    });
    udp.on('error', (error) => log.warn('DNS UDP socket error', { error: error.message }));
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(port, host, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    this.#udp = udp;
    const limits = this.#options.tcp ?? DEFAULT_TCP_LIMITS;
    const tcp = createServer({ allowHalfOpen: false }, (socket) => {
      this.#tcpClients.add(socket);
      socket.once('close', () => this.#tcpClients.delete(socket));
      serveDnsTcp(socket, (message) => this.answer(message, 'tcp'), limits);
    });
    tcp.maxConnections = this.#options.maxTcpConnections ?? 256;
    tcp.on('drop', () => this.#options.metrics.refusedConnections.inc());
    tcp.on('error', (error) => log.error('DNS TCP listener error', { error: error.message }));
    await listen(tcp, { host, port });
    this.#tcp = tcp;
  }

  async stop(): Promise<void> {
    this.#udp?.close();
    this.#udp = undefined;
    const tcp = this.#tcp;
    this.#tcp = undefined;
    for (const client of this.#tcpClients) client.destroy();
    if (tcp) await new Promise<void>((resolve) => tcp.close(() => resolve()));
  }
}
