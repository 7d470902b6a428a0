/**
 * The DNS proxy of one pod (15053, UDP and TCP, inside the pod): the transports around `answerLocally`,
 * forwarding what the mesh does not know, and counting every query. TCP carries each message behind a
 * 2-byte length (RFC 1035 4.2.2); idle TCP clients are closed.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { errorMessage } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import type { ZtunnelMetrics } from '../metrics.ts';
import type { DatagramEndpoint, PodSockets } from '../proxy/sockets.ts';
import { buildErrorResponse, RCODE, type Rcode } from './codec.ts';
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

/** Classic UDP DNS without EDNS: larger answers are truncated (TC) so that the client retries over TCP. */
const UDP_MAX = 512;

export class DnsServer {
  readonly #options: DnsServerOptions;
  #udp: DatagramEndpoint | undefined;
  #tcp: Server | undefined;
  readonly #tcpClients = new Set<Socket>();

  constructor(options: DnsServerOptions) {
    this.#options = options;
  }

  /** Answers one query (both transports use this); undefined when the message deserves no answer. */
  async answer(message: Uint8Array): Promise<Buffer | undefined> {
    const context = this.#options.context();
    const forwarder = this.#options.forwarder;
    const local = answerLocally(message, context, this.#options.lookup, {
      canForward: forwarder !== undefined,
    });
    const asker = context.asker;
    if (local.kind === 'drop') return undefined;
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
    socket.on('error', () => socket.destroy());
    socket.setTimeout(this.#options.tcpIdleMs ?? 10_000, () => socket.destroy());
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 2) {
        const length = pending.readUInt16BE(0);
        if (pending.length < 2 + length) break;
        const message = pending.subarray(2, 2 + length);
        pending = pending.subarray(2 + length);
        void this.answer(message).then((response) => {
          if (!response || socket.destroyed) return;
          const frame = Buffer.allocUnsafe(2 + response.length);
          frame.writeUInt16BE(response.length, 0);
          response.copy(frame, 2);
          socket.write(frame);
        });
      }
    });
  }

  #count(asker: DnsAsker | undefined, rcode: Rcode, answeredBy: 'ztunnel' | 'upstream'): void {
    this.#options.metrics.dnsRequests.inc({
      source_workload: asker?.workload ?? 'unknown',
      source_workload_namespace: asker?.namespace ?? 'unknown',
      rcode: RCODE_NAMES[rcode] ?? String(rcode),
      answered_by: answeredBy,
    });
  }
}

const RCODE_NAMES: Record<number, string> = {
  0: 'NOERROR',
  1: 'FORMERR',
  2: 'SERVFAIL',
  3: 'NXDOMAIN',
  4: 'NOTIMP',
  5: 'REFUSED',
};

/** Over 512 bytes: header only, TC set, so that the client asks again over TCP. */
function truncateForUdp(response: Buffer): Buffer {
  if (response.length <= UDP_MAX) return response;
  const header = Buffer.from(response.subarray(0, 12));
  header.writeUInt16BE(header.readUInt16BE(2) | 0x0200, 2);
  header.writeUInt32BE(0, 4);
  header.writeUInt32BE(0, 8);
  return header;
}
