/**
 * The bidirectional copy between the two halves of a proxied connection (an app socket and an HBONE stream,
 * or two sockets): back-pressure both ways, byte counting into a counters object the caller can read live,
 * half-close propagation (one side's FIN becomes the other side's `end()`), and an abortive close of the
 * other side when one side fails, so that an app sees a reset rather than a clean end. Nothing here
 * allocates or logs per chunk.
 */
import type { Duplex } from 'node:stream';
import { errorMessage } from '../errors.ts';
// The wire codes, not node:http2's copy of them: a ztunnel on the framer then never loads node:http2.
import { ErrorCode } from '../hbone/h2/constants.ts';
import { pumpDirect } from '../hbone/h2/pumps.ts';
import { disarm, resetIfAbandoned } from './reset-if-abandoned.ts';

export interface ByteCounters {
  /** Bytes read from the downstream side and written upstream. */
  upstream: number;
  /** Bytes read from the upstream side and written downstream. */
  downstream: number;
}

export interface SpliceResult {
  /** Why the copy ended abnormally (the first error or abort seen), undefined after a clean close both ways. */
  error?: string | undefined;
}

/**
 * Copies `downstream` <-> `upstream` until both directions are closed; resolves (never rejects) with how it
 * ended. The counters object is updated in place as bytes flow (the tracker reads it for metrics and idle
 * detection, so no timer is touched per chunk).
 */
export function splice(downstream: Duplex, upstream: Duplex, counters: ByteCounters): Promise<SpliceResult> {
  return new Promise((resolve) => {
    let error: string | undefined;
    let open = 2;
    const fail = (reason: string) => {
      if (error === undefined) error = reason;
      abort(downstream);
      abort(upstream);
    };
    const onClose = (side: Duplex) => () => {
      // A clean close has both directions finished: the side sent its FIN and we ended what we sent it.
      // Anything else (an error, a reset stream, a close before either FIN) is an abort: pass it on.
      if (side.errored || !side.readableEnded || !side.writableEnded || wasReset(side)) {
        fail(side.errored ? errorMessage(side.errored) : 'connection aborted');
      }
      if (--open === 0) resolve({ error });
    };
    // Node ends an HTTP/2 stream's readable side when the stream is reset, too: that is no FIN to pass on.
    const onEnd = (from: Duplex, to: Duplex) => {
      if (wasReset(from)) fail('stream reset');
      else if (!to.destroyed) {
        disarm(to);
        to.end();
      }
    };
    pipeOneWay(downstream, upstream, counters, 'upstream', onEnd);
    pipeOneWay(upstream, downstream, counters, 'downstream', onEnd);
    downstream.on('error', (e) => fail(errorMessage(e)));
    upstream.on('error', (e) => fail(errorMessage(e)));
    // A side may have died while the other was being opened: treat it as closed now.
    for (const side of [downstream, upstream]) {
      if (side.destroyed) onClose(side)();
      else side.once('close', onClose(side));
    }
  });
}

function pipeOneWay(
  from: Duplex,
  to: Duplex,
  counters: ByteCounters,
  direction: keyof ByteCounters,
  onEnd: (from: Duplex, to: Duplex) => void,
): void {
  // A framer stream and a TCP socket copy without either's stream machinery (the ztunnel's data path).
  if (!pumpDirect(from, to, counters, direction)) {
    const resume = () => from.resume();
    to.on('drain', resume);
    from.on('data', (chunk: Buffer) => {
      counters[direction] += chunk.length;
      if (!to.write(chunk)) from.pause();
    });
  }
  const forwardEnd = () => onEnd(from, to);
  // A FIN that came before any data can have emitted 'end' before we listened: forward it now.
  if (from.readableEnded) forwardEnd();
  else from.once('end', forwardEnd);
}

/** Closes a side abortively: a TCP reset for sockets, RST_STREAM(CANCEL) for HTTP/2 streams. */
export function abort(stream: Duplex): void {
  if (stream.destroyed) return;
  const socket = stream as Duplex & { resetAndDestroy?: () => void; connecting?: boolean };
  const h2 = stream as Duplex & { rstCode?: number; close?: (code: number) => void };
  try {
    if (typeof socket.resetAndDestroy === 'function' && !socket.connecting) {
      // libuv refuses a reset once a FIN was sent (and Node then never emits 'close'); a zero linger makes
      // the close a reset all the same, so the peer never reads what it was sent as complete.
      if (stream.writableEnded) {
        resetIfAbandoned(stream);
        stream.destroy();
      } else socket.resetAndDestroy();
    } else if (typeof h2.close === 'function' && 'rstCode' in h2) {
      resetNodeHttp2Stream(stream);
      h2.close(ErrorCode.CANCEL);
    } else stream.destroy();
  } catch {
    stream.destroy();
  }
}

/**
 * node:http2's `close(code)` ends the writable side first: END_STREAM goes out before RST_STREAM, and a peer
 * that had already half-closed then has the stream closed cleanly and never hears the reset (its app reads a
 * FIN). The stream's native handle submits the RST_STREAM alone, first; the framer's streams have no handle
 * and reset without an END_STREAM of their own.
 */
function resetNodeHttp2Stream(stream: Duplex): void {
  const key = Object.getOwnPropertySymbols(stream).find((symbol) => symbol.description === 'kHandle');
  const handle = key && (stream as unknown as Record<symbol, { rstStream?: (code: number) => void }>)[key];
  handle?.rstStream?.(ErrorCode.CANCEL);
}

/** An HTTP/2 stream that ended with RST_STREAM other than NO_ERROR. */
function wasReset(side: Duplex): boolean {
  const code = (side as Duplex & { rstCode?: number }).rstCode;
  return code !== undefined && code !== ErrorCode.NO_ERROR;
}
