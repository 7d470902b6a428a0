/**
 * The DNS proxy of one pod (15053, UDP and TCP, inside the pod): the transports around `answerLocally`,
 * forwarding what the mesh does not know (to the cluster's DNS), and counting every query. The transports
 * (UDP truncation, TCP framing and limits) are core/dns/transport.ts, shared with the local cluster's DNS.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { buildErrorResponse, RCODE, type Rcode, rcodeName } from '../../core/dns/codec.ts';
import { DEFAULT_TCP_LIMITS, serveDnsTcp, truncateForUdp } from '../../core/dns/transport.ts';
import { errorMessage } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import type { ZtunnelMetrics } from '../metrics.ts';
import type { DatagramEndpoint, PodSockets } from '../proxy/sockets.ts';
import type { DnsForwarder } from './forwarder.ts';
import { answerLocally, type DnsClientContext, type HostLookup } from './resolver.ts';

export interface DnsAsker {
  workload: string;
  namespace: string;
}

export interface DnsServerOptions {
  lookup: HostLookup;
  /** The asking pod's context (its namespace), looked up per query so that config changes apply. */
  context(): DnsClientContext & { asker?: DnsAsker | undefined };
  forwarder?: DnsForwarder | undefined;
  metrics: ZtunnelMetrics;
  log: Logger;
  /** Close TCP clients idle this long. */
  tcpIdleMs?: number;
}

export class DnsServer {
  readonly #options: DnsServerOptions;
  #udp: DatagramEndpoint | undefined;
  #tcp: Server | undefined;
  readonly #tcpClients = new Set<Socket>();

  constructor(options: DnsServerOptions) {
    this.#options = options;
  }

  /** Answers one query (both transports use this); undefined when the message deserves no answer. */
  async answer(message: Uint8Array, transport: 'udp' | 'tcp' = 'udp'): Promise<Buffer | undefined> {
    const context = this.#options.context();
    const forwarder = this.#options.forwarder;
    const local = answerLocally(message, context, this.#options.lookup, {
      canForward: forwarder !== undefined,
    });
    const asker = context.asker;
    if (local.kind === 'drop') {
      // Not even an ID to answer FORMERR to (a truncated header): counted, never logged per message.
      this.#options.metrics.dnsRefused.inc({ transport, reason: 'malformed' });
      return undefined;
    }
    if (local.kind === 'response') {
      this.#count(asker, local.rcode, 'ztunnel');
      return local.response;
    }
    const id = (message[0]! << 8) | message[1]!;
    if (!forwarder) return undefined;
    this.#options.metrics.dnsUpstreamRequests.inc();
    try {
      const response = await forwarder.forward(message);
      this.#count(asker, (response[3]! & 0xf) as Rcode, 'upstream');
      return response;
    } catch (error) {
      this.#options.metrics.dnsUpstreamFailures.inc();
      if (this.#options.log.enabled('debug'))
        this.#options.log.debug('DNS upstream failed', { name: local.name, error: errorMessage(error) });
      this.#count(asker, RCODE.SERVFAIL, 'upstream');
      return buildErrorResponse(id, RCODE.SERVFAIL);
    }
  }

  /** Binds 15053 (or `port`) UDP and TCP inside the pod. */
  async start(sockets: PodSockets, port: number): Promise<void> {
    this.#udp = await sockets.bindUdp(port, ({ message, address, port: clientPort }) => {
      this.answer(message).then(
        (response) => {
          if (response) this.#udp?.send(truncateForUdp(response), clientPort, address);
        },
        () => {
          // answer() never rejects; nothing to send.
        },
      );
    });
    const tcp = createServer({ allowHalfOpen: false }, (socket) => this.#serveTcp(socket));
    tcp.on('error', (error) =>
      this.#options.log.error('DNS TCP listener error', { error: errorMessage(error) }),
    );
    await sockets.listen(tcp, port);
    this.#tcp = tcp;
  }

  async stop(): Promise<void> {
    this.#udp?.close();
    this.#udp = undefined;
    for (const client of this.#tcpClients) client.destroy();
    const tcp = this.#tcp;
    this.#tcp = undefined;
    if (tcp) await new Promise<void>((resolve) => tcp.close(() => resolve()));
  }

  #serveTcp(socket: Socket): void {
    this.#tcpClients.add(socket);
    socket.once('close', () => this.#tcpClients.delete(socket));
    // The transport closes a client idle past its deadline (a slow loris, a length prefix never filled).
    socket.once('timeout', () => this.#options.metrics.dnsRefused.inc({ transport: 'tcp', reason: 'idle' }));
    serveDnsTcp(socket, (message) => this.answer(message, 'tcp'), {
      ...DEFAULT_TCP_LIMITS,
      idleMs: this.#options.tcpIdleMs ?? DEFAULT_TCP_LIMITS.idleMs,
    });
  }

  #count(asker: DnsAsker | undefined, rcode: Rcode, answeredBy: 'ztunnel' | 'upstream'): void {
    this.#options.metrics.dnsRequests.inc({
      source_workload: asker?.workload ?? 'unknown',
      source_workload_namespace: asker?.namespace ?? 'unknown',
      rcode: rcodeName(rcode),
      answered_by: answeredBy,
    });
  }
}
