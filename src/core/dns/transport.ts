/**
 * DNS over UDP and TCP around an `answer` function, shared by the ztunnel's DNS proxy and the local
 * cluster's DNS. UDP keeps no state: one datagram in, at most one out (truncated past 512 bytes, so that the
 * client asks again over TCP). TCP carries each message behind a 2-byte length (RFC 1035 4.2.2, RFC 7766);
 * a connection holds at most one partial message (< 64 KiB) and a few answers in flight, and is closed when
 * idle: a peer cannot make the server hold more than that per connection.
 */
import type { Socket } from 'node:net';

/** Classic UDP DNS without EDNS: larger answers are truncated (TC) so that the client retries over TCP. */
export const UDP_MAX = 512;

/** Answers one query; undefined when the message deserves no answer. Never rejects. */
export type DnsAnswerer = (message: Uint8Array) => Promise<Buffer | undefined>;

/** Over 512 bytes: header only, TC set, so that the client asks again over TCP. */
export function truncateForUdp(response: Buffer): Buffer {
  if (response.length <= UDP_MAX) return response;
  const header = Buffer.from(response.subarray(0, 12));
  header.writeUInt16BE(header.readUInt16BE(2) | 0x0200, 2);
  header.writeUInt32BE(0, 4);
  header.writeUInt32BE(0, 8);
  return header;
}

export interface TcpLimits {
  /** Close a connection idle this long. */
  idleMs: number;
  /** Stop reading from a connection with this many answers still pending (resume when they are written). */
  maxInFlight: number;
}

export const DEFAULT_TCP_LIMITS: TcpLimits = { idleMs: 10_000, maxInFlight: 16 };

/** Serves length-prefixed DNS messages on one TCP connection until it closes. */
export function serveDnsTcp(
  socket: Socket,
  answer: DnsAnswerer,
  limits: TcpLimits = DEFAULT_TCP_LIMITS,
): void {
  socket.on('error', () => socket.destroy());
  socket.setTimeout(limits.idleMs, () => socket.destroy());
  let pending: Buffer = Buffer.alloc(0);
  let inFlight = 0;
  const settle = () => {
    inFlight--;
    if (inFlight < limits.maxInFlight && socket.isPaused() && !socket.destroyed) socket.resume();
  };
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 2) {
      const length = pending.readUInt16BE(0);
      if (pending.length < 2 + length) break;
      const message = pending.subarray(2, 2 + length);
      pending = pending.subarray(2 + length);
      inFlight++;
      if (inFlight >= limits.maxInFlight) socket.pause();
      void answer(message).then((response) => {
        settle();
        if (!response || socket.destroyed) return;
        const frame = Buffer.allocUnsafe(2 + response.length);
        frame.writeUInt16BE(response.length, 0);
        response.copy(frame, 2);
        socket.write(frame);
      });
    }
  });
}
