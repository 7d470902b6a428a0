/**
 * A CaptureHandler that proves capture and nothing more: it opens the pod's listeners like the ztunnel
 * will (same ports, addresses and mark), and answers every captured connection or DNS query with a report
 * of what it saw: which listener, the peer, and the original destination recovered with SO_ORIGINAL_DST.
 * TCP gets one JSON line, then the connection ends; DNS (UDP, and TCP with its length prefix) gets a TXT
 * answer holding the same JSON. Used by the tests and by `ambit redirect agent` until the ztunnel exists.
 */
import type dgram from 'node:dgram';
import type net from 'node:net';
import type { CaptureHandler, EnrolledPod } from '../core/capture-handler.ts';
import { errorMessage } from '../core/errors.ts';
import { createLogger, type Logger } from '../core/log.ts';
import { bindUdp, listenTcp, type Netns, originalDestination } from '../core/sys/netns-socket.ts';
import { AGENT_MARK, CAPTURE_PORTS } from './model.ts';
import { txtAnswer } from './plain-dns.ts';

export type ListenerName = 'outbound' | 'inbound' | 'hbone' | 'dns';

export interface CaptureReport {
  listener: ListenerName;
  pod: string;
  protocol: 'tcp' | 'udp';
  /** `ip:port` of the peer as the listener sees it. */
  peer: string;
  /** `ip:port` the connection arrived at (after REDIRECT: the listener's own). */
  local: string;
  /** `ip:port` before REDIRECT (SO_ORIGINAL_DST); null for UDP, where REDIRECT does not keep it for us. */
  original: string | null;
}

const TCP_LISTENERS: ReadonlyArray<[ListenerName, number]> = [
  ['outbound', CAPTURE_PORTS.outbound],
  ['inbound', CAPTURE_PORTS.inboundPlaintext],
  ['hbone', CAPTURE_PORTS.inboundHbone],
];

const endpoint = (address: string | undefined, port: number | undefined) =>
  address?.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;

export class PlainCaptureHandler implements CaptureHandler {
  readonly #pods = new Map<string, Array<net.Server | dgram.Socket>>();
  readonly #log: Logger;

  constructor(log: Logger = createLogger('plain-capture')) {
    this.#log = log;
  }

  async addPod(pod: EnrolledPod, netns: Netns): Promise<void> {
    const families: Array<4 | 6> = pod.ips.some((ip) => ip.includes(':')) ? [4, 6] : [4];
    const opened: Array<net.Server | dgram.Socket> = [];
    try {
      for (const family of families) {
        const any = family === 4 ? '0.0.0.0' : '::';
        const loopback = family === 4 ? '127.0.0.1' : '::1';
        for (const [name, port] of TCP_LISTENERS) {
          opened.push(this.#tcp(await listenTcp(netns, { address: any, port, mark: AGENT_MARK }), name, pod));
        }
        opened.push(
          this.#tcp(
            await listenTcp(netns, { address: loopback, port: CAPTURE_PORTS.dns, mark: AGENT_MARK }),
            'dns',
            pod,
          ),
        );
        opened.push(
          this.#udp(
            await bindUdp(netns, { address: loopback, port: CAPTURE_PORTS.dns, mark: AGENT_MARK }),
            pod,
          ),
        );
      }
    } catch (error) {
      for (const listener of opened) listener.close();
      throw error;
    }
    this.#pods.set(pod.uid, opened);
  }

  async removePod(uid: string): Promise<void> {
    const listeners = this.#pods.get(uid) ?? [];
    this.#pods.delete(uid);
    for (const listener of listeners) listener.close();
  }

  #tcp(server: net.Server, listener: ListenerName, pod: EnrolledPod): net.Server {
    server.on('connection', (socket) => {
      socket.on('error', () => {}); // a peer resetting must not matter
      let report: CaptureReport;
      try {
        report = {
          listener,
          pod: pod.uid,
          protocol: 'tcp',
          peer: endpoint(socket.remoteAddress, socket.remotePort),
          local: endpoint(socket.localAddress, socket.localPort),
          original: originalOrNull(socket),
        };
      } catch (error) {
        this.#log.warn('cannot describe a captured connection', { pod: pod.uid, error: errorMessage(error) });
        socket.destroy();
        return;
      }
      if (this.#log.enabled('debug')) this.#log.debug('captured', { ...report });
      if (listener === 'dns') answerDnsOverTcp(socket, report);
      else socket.end(`${JSON.stringify(report)}\n`);
    });
    server.on('error', (error) => this.#log.warn('listener error', { pod: pod.uid, listener, error }));
    return server;
  }

  #udp(socket: dgram.Socket, pod: EnrolledPod): dgram.Socket {
    socket.on('message', (query, from) => {
      const report: CaptureReport = {
        listener: 'dns',
        pod: pod.uid,
        protocol: 'udp',
        peer: endpoint(from.address, from.port),
        local: endpoint(socket.address().address, socket.address().port),
        original: null,
      };
      const answer = txtAnswer(query, JSON.stringify(report));
      if (answer) socket.send(answer, from.port, from.address);
    });
    socket.on('error', (error) => this.#log.warn('DNS listener error', { pod: pod.uid, error }));
    return socket;
  }
}

function originalOrNull(socket: net.Socket): string | null {
  try {
    const original = originalDestination(socket);
    return endpoint(original.address, original.port);
  } catch {
    return null;
  }
}

/** DNS over TCP: each message has a 2-byte length prefix. Answers the first query, then closes. */
function answerDnsOverTcp(socket: net.Socket, report: CaptureReport): void {
  let buffered = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    if (buffered.length < 2) return;
    const length = buffered.readUInt16BE(0);
    if (buffered.length < 2 + length) return;
    const answer = txtAnswer(buffered.subarray(2, 2 + length), JSON.stringify(report));
    if (!answer) return void socket.destroy();
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16BE(answer.length);
    socket.end(Buffer.concat([prefix, answer]));
  });
}
