/**
 * Forwarding of names the mesh does not know to an upstream resolver over UDP, from the ztunnel's own
 * network namespace. One socket per query: a random source port per query, no id bookkeeping, and a late
 * or forged answer cannot be confused with another query's.
 */
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';

export interface DnsForwarder {
  /** The upstream's response to the query (same id), or a rejection on timeout or error. */
  forward(query: Uint8Array): Promise<Buffer>;
}

export class UdpDnsForwarder implements DnsForwarder {
  readonly #address: string;
  readonly #port: number;
  readonly #timeoutMs: number;

  constructor(address: string, port = 53, timeoutMs = 2_000) {
    this.#address = address;
    this.#port = port;
    this.#timeoutMs = timeoutMs;
  }

  forward(query: Uint8Array): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const socket = createSocket(isIPv6(this.#address) ? 'udp6' : 'udp4');
      const finish = (error: Error | undefined, response?: Buffer) => {
        clearTimeout(timer);
        socket.close();
        if (error) reject(error);
        else resolve(response!);
      };
      const timer = setTimeout(
        () => finish(new Error(`upstream ${this.#address} did not answer in ${this.#timeoutMs} ms`)),
        this.#timeoutMs,
      );
      socket.on('error', (error) => finish(error));
      socket.on('message', (message, remote) => {
        // Only the upstream's answer to this very query counts.
        if (
          remote.port !== this.#port ||
          message.length < 2 ||
          message.readUInt16BE(0) !== ((query[0]! << 8) | query[1]!)
        )
          return;
        finish(undefined, message);
      });
      socket.send(query, this.#port, this.#address);
    });
  }
}
