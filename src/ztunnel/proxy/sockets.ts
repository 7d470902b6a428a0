/**
 * How the ztunnel gets its sockets inside a pod. In production each enrolled pod gets an implementation
 * backed by the syscall module (sockets created inside the pod's network namespace, marked 0x539 so the
 * pod's interception rules leave them alone, optionally transparent to keep the client's source IP); the
 * loopback implementation here serves tests and benchmarks, where a "pod" is an address on `lo`.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { isIPv6, type Server, type Socket } from 'node:net';
import { startTcpConnect } from '../../core/sys/netns-socket.ts';

export interface TcpConnectOptions {
  ip: string;
  port: number;
  /**
   * Source address for the connection (the original client's IP on the inbound side). Best effort: an
   * implementation that cannot use it connects from the pod's own address.
   */
  sourceIp?: string | undefined;
}

export interface Datagram {
  message: Buffer;
  address: string;
  port: number;
}

export interface DatagramEndpoint {
  send(message: Buffer, port: number, address: string): void;
  close(): void;
}

export interface PodSockets {
  /** Makes `server` (a `net.Server`, `tls.Server` or `http2` server) accept on `port` in the pod. */
  listen(server: Server, port: number): Promise<void>;
  /**
   * Opens a TCP connection from inside the pod, marked so that it is not captured again, with
   * `allowHalfOpen: true`. Returns at once with a socket that emits 'connect' or 'error'.
   */
  connect(options: TcpConnectOptions): Socket;
  /** Binds a UDP endpoint on `port` in the pod; every datagram received goes to `onMessage`. */
  bindUdp(port: number, onMessage: (datagram: Datagram) => void): Promise<DatagramEndpoint>;
}

/** The pre-redirect destination of an accepted, captured connection (`SO_ORIGINAL_DST`). */
export type OriginalDestination = (socket: Socket) => { ip: string; port: number } | undefined;

/**
 * A "pod" that is an address on the loopback interface of the ztunnel's own network namespace: listeners
 * bind that address, connections leave from it (or from the requested source address). For tests and
 * benchmarks; it never sends traffic off the machine because every address it uses is a loopback one.
 */
export class LoopbackPodSockets implements PodSockets {
  readonly ip: string;
  /**
   * Listeners share their port with other processes' (`SO_REUSEPORT`): several ztunnel workers for one pod,
   * the kernel spreading connections over them (the benchmark's multi-worker measurement).
   */
  readonly #reusePort: boolean;

  constructor(ip: string, options: { reusePort?: boolean } = {}) {
    this.ip = ip;
    this.#reusePort = options.reusePort ?? false;
  }

  listen(server: Server, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.ip, port, reusePort: this.#reusePort }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  connect(options: TcpConnectOptions): Socket {
    // Through the syscall module, as in a pod: the source's port is left to connect() (see startTcpConnect).
    const socket = startTcpConnect(undefined, {
      address: options.ip,
      port: options.port,
      localAddress: options.sourceIp ?? this.ip,
      allowHalfOpen: true,
    });
    return socket.setNoDelay(true);
  }

  bindUdp(port: number, onMessage: (datagram: Datagram) => void): Promise<DatagramEndpoint> {
    const socket: UdpSocket = createSocket(isIPv6(this.ip) ? 'udp6' : 'udp4');
    socket.on('message', (message, remote) =>
      onMessage({ message, address: remote.address, port: remote.port }),
    );
    socket.on('error', () => {
      // A failed send to one client must not end the endpoint.
    });
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, this.ip, () => {
        socket.off('error', reject);
        resolve({
          send: (message, toPort, address) => socket.send(message, toPort, address),
          close: () => socket.close(),
        });
      });
    });
  }
}
