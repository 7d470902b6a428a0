/**
 * The per-chunk half of a relay between a framer stream and a TCP socket (an app's connection and its
 * tunnel), without the stream machinery of either: the socket is read through its handle into one buffer
 * the process shares, each read framed (copied) onto the stream at once; DATA from the peer goes to the
 * socket as views of the connection's read buffer, written straight to its handle (`handle-writer.ts`), the
 * window credited back as the socket takes them. What
 * stays with `splice` (once per connection, not per chunk) is unchanged: FIN and reset propagation, errors,
 * close. Back-pressure holds both ways: a closed send window or a socket behind on its writes stops the
 * socket's reads; a socket that does not take what arrives withholds the stream's window.
 */
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ByteCounters } from '../../net/splice.ts';
import { readableHandle, readThroughHandle } from './handle-reader.ts';
import { writableHandle, writeError, writeThroughHandle } from './handle-writer.ts';
import { H2Stream } from './stream.ts';

/** What one read of an app socket takes at most (Node's own read size). */
const SOCKET_READ_BYTES = 64 << 10;
let sharedReadBuffer: Buffer | undefined;
// Every read is copied into frames before the next can happen, so one buffer serves every socket.
const socketReadBuffer = () => (sharedReadBuffer ??= Buffer.allocUnsafeSlow(SOCKET_READ_BYTES));

/**
 * Starts copying `from` to `to` if they are a framer stream and a TCP socket (either way round) that can be
 * read through its handle; false (nothing done) otherwise, for the generic copy.
 */
export function pumpDirect(
  from: Duplex,
  to: Duplex,
  counters: ByteCounters,
  direction: keyof ByteCounters,
): boolean {
  if (from instanceof H2Stream && takeable(to)) return pumpStreamToSocket(from, to, counters, direction);
  if (to instanceof H2Stream && takeable(from)) return pumpSocketToStream(from, to, counters, direction);
  return false;
}

/** A connected socket with a readable handle and no idle timeout (reads through the handle would not refresh it). */
function takeable(side: Duplex): side is Socket {
  return (
    side instanceof Socket &&
    !side.connecting &&
    !side.destroyed &&
    !side.timeout &&
    readableHandle(side) !== undefined
  );
}

function pumpSocketToStream(
  socket: Socket,
  stream: H2Stream,
  counters: ByteCounters,
  direction: keyof ByteCounters,
): boolean {
  const handle = readableHandle(socket)!;
  const pause = () => {
    if (!handle.reading) return;
    handle.reading = false;
    handle.readStop();
  };
  const resume = () => {
    if (handle.reading || socket.destroyed) return;
    handle.reading = true;
    handle.readStart();
  };
  const take = (chunk: Buffer): boolean => {
    counters[direction] += chunk.length;
    if (!stream.writeCopy(chunk, resume)) pause();
    // Copied: the buffer is free for the next read.
    return false;
  };
  // What the socket read before the relay began waits in its Readable: it goes first.
  for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) {
    take(chunk);
  }
  readThroughHandle(socket, socketReadBuffer, take);
  // Flowing, so that its end is emitted (splice forwards it as END_STREAM).
  socket.resume();
  return true;
}

function pumpStreamToSocket(
  stream: H2Stream,
  socket: Socket,
  counters: ByteCounters,
  direction: keyof ByteCounters,
): boolean {
  let blocked = false;
  /** Direct writes the socket's handle has not finished (each holds a view of the connection's read buffer). */
  let inFlight = 0;
  const onDrain = () => {
    blocked = false;
    stream.consumed();
  };
  // No window credit until the socket drains: the peer's sender stops at the stream window.
  const block = () => {
    blocked = true;
    stream.readPaused = true;
  };
  const completed = (status: number) => {
    if (status < 0) socket.destroy(writeError(status));
    else if (--inFlight === 0 && blocked) onDrain();
  };
  const give = (part: Buffer): boolean => {
    counters[direction] += part.length;
    // Straight to the handle (what `write` does, less its queue and ticks) while the socket's Writable holds
    // nothing; through it otherwise, so that the order of the bytes holds.
    const handle = writableHandle(socket);
    if (handle === undefined) {
      if (!socket.write(part) && !blocked) {
        block();
        socket.once('drain', onDrain);
      }
      // Queued or partly written: the socket holds a view of the connection's read buffer.
      return socket.writableLength > 0;
    }
    const result = writeThroughHandle(handle, part, completed);
    if (result === 'written') return false;
    if (result !== 'pending') {
      socket.destroy(writeError(result));
      return false;
    }
    inFlight++;
    block();
    return true;
  };
  // What arrived before the relay began waits in the stream's Readable: it goes first.
  for (let chunk = stream.read() as Buffer | null; chunk !== null; chunk = stream.read() as Buffer | null) {
    give(chunk);
  }
  stream.tap = give;
  // Flowing, so that its end is emitted (splice forwards it as a FIN).
  stream.resume();
  if (!blocked) stream.consumed();
  return true;
}
