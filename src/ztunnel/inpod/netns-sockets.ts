/**
 * `PodSockets` inside a pod's network namespace, through the syscall module (never by wrapping Node's own
 * socket calls in setns): every socket carries mark 0x539 so that the pod's capture rules let it through.
 * Proxy listeners bind the wildcard address (dual-stack when the pod has IPv6); the DNS port binds the
 * loopback addresses, where REDIRECT from the pod's OUTPUT delivers. Connections to the app may leave from
 * the original client's IP (transparent socket; the pod's policy route brings the replies back to it); when
 * the kernel refuses that, they leave from the pod's own address instead.
 */
import type dgram from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import { errorMessage } from '../../core/errors.ts';
import { createLogger, type Logger } from '../../core/log.ts';
import { ZTUNNEL_PORTS } from '../../core/ports.ts';
import { bindUdp, listenTcp, type Netns, startTcpConnect } from '../../core/sys/netns-socket.ts';
import type { Datagram, DatagramEndpoint, PodSockets, TcpConnectOptions } from '../proxy/sockets.ts';
import { ZTUNNEL_SOCKET_MARK } from '../settings.ts';

export interface NetnsPodSocketsOptions {
  /** Whether the pod has IPv6 addresses (then listeners are dual-stack and DNS also binds `::1`). */
  ipv6: boolean;
  log?: Logger | undefined;
}

export class NetnsPodSockets implements PodSockets {
  readonly #netns: Netns;
  readonly #ipv6: boolean;
  readonly #log: Logger;
  /** Warn once per pod when transparent sources are refused, not per connection. */
  #transparentRefused = false;

  constructor(netns: Netns, options: NetnsPodSocketsOptions) {
    this.#netns = netns;
    this.#ipv6 = options.ipv6;
    this.#log = options.log ?? createLogger('ztunnel.inpod');
  }

  async listen(server: Server, port: number): Promise<void> {
    if (port !== ZTUNNEL_PORTS.dns) {
      const address = this.#ipv6 ? '::' : '0.0.0.0';
      await listenTcp(this.#netns, { address, port, mark: ZTUNNEL_SOCKET_MARK, v6Only: false }, server);
      return;
    }
    await listenTcp(this.#netns, { address: '127.0.0.1', port, mark: ZTUNNEL_SOCKET_MARK }, server);
    if (!this.#ipv6) return;
    // One Node server cannot adopt two fds: a second one on ::1 hands its connections to the first, and
    // closes with it.
    const relay = createServer((socket) => server.emit('connection', socket));
    try {
      await listenTcp(this.#netns, { address: '::1', port, mark: ZTUNNEL_SOCKET_MARK }, relay);
    } catch (error) {
      server.close();
      throw error;
    }
    server.once('close', () => relay.close());
  }

  connect(options: TcpConnectOptions): Socket {
    const base = { address: options.ip, port: options.port, mark: ZTUNNEL_SOCKET_MARK, allowHalfOpen: true };
    if (options.sourceIp !== undefined && isIPv6(options.sourceIp) === isIPv6(options.ip)) {
      try {
        return startTcpConnect(this.#netns, { ...base, transparent: true, localAddress: options.sourceIp });
      } catch (error) {
        if (!this.#transparentRefused) {
          this.#transparentRefused = true;
          this.#log.warn('cannot connect from the client address; using the pod address', {
            netns: this.#netns.path,
            error: errorMessage(error),
          });
        }
      }
    }
    return startTcpConnect(this.#netns, base);
  }

  async bindUdp(port: number, onMessage: (datagram: Datagram) => void): Promise<DatagramEndpoint> {
    const addresses = this.#ipv6 ? ['127.0.0.1', '::1'] : ['127.0.0.1'];
    const sockets: dgram.Socket[] = [];
    try {
      for (const address of addresses) {
        const socket = await bindUdp(this.#netns, { address, port, mark: ZTUNNEL_SOCKET_MARK });
        socket.on('message', (message, remote) =>
          onMessage({ message, address: remote.address, port: remote.port }),
        );
        socket.on('error', () => {
          // A failed send to one client must not end the endpoint.
        });
        sockets.push(socket);
      }
    } catch (error) {
      for (const socket of sockets) socket.close();
      throw error;
    }
    const [v4, v6] = sockets;
    return {
      // A reply leaves from the socket of the asker's family (the one its query came in on).
      send: (message, toPort, address) => (isIPv6(address) && v6 ? v6 : v4)?.send(message, toPort, address),
      close: () => {
        for (const socket of sockets) socket.close();
      },
    };
  }
}
