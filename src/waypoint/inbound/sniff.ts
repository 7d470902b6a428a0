/**
 * Reads a stream's first bytes to decide something about it (the protocol, a TLS server name) and puts them
 * back (`unshift`), so whoever then takes the stream sees it from its first byte. Gives up after `timeoutMs`
 * or at the end of the stream, where `decide` is asked once more with `final` set.
 */
import type { Duplex } from 'node:stream';
import { CLIENT_HELLO_MAX_BYTES, readClientHello } from '../gateway/client-hello.ts';
import { DETECT_MAX_BYTES, detectProtocol, type WireProtocol } from './protocol.ts';

/**
 * `decide` answers `'more'` to wait for more bytes; `timedOut` is what a stream that stays silent until the
 * deadline gets. Reads in paused mode, so no byte is lost between here and the next reader.
 */
export function peekStream<T>(
  stream: Duplex,
  timeoutMs: number,
  decide: (seen: Buffer, final: boolean) => T | 'more',
  timedOut: (seen: Buffer) => T,
): Promise<T> {
  return new Promise((resolve) => {
    let seen: Buffer = Buffer.alloc(0);
    const finish = (result: T) => {
      clearTimeout(timer);
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('close', onEnd);
      if (seen.length > 0) stream.unshift(seen);
      resolve(result);
    };
    const onReadable = () => {
      for (;;) {
        const chunk = stream.read() as Buffer | null;
        if (chunk === null) return;
        seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
        const decision = decide(seen, false);
        if (decision !== 'more') return finish(decision);
      }
    };
    const onEnd = () => {
      const decision = decide(seen, true);
      finish(decision === 'more' ? timedOut(seen) : decision);
    };
    const timer = setTimeout(() => finish(timedOut(seen)), timeoutMs);
    stream.on('readable', onReadable);
    stream.once('end', onEnd);
    stream.once('close', onEnd);
  });
}

/** The wire a client speaks; a server-first protocol (the client waits for the server) is proxied as TCP. */
export function sniffProtocol(stream: Duplex, timeoutMs: number): Promise<WireProtocol> {
  const decide = (seen: Buffer, final: boolean) => {
    const decision = detectProtocol(seen, final || seen.length >= DETECT_MAX_BYTES);
    return decision === 'more' && final ? 'tcp' : decision;
  };
  return peekStream(stream, timeoutMs, decide, (seen) => {
    const decision = detectProtocol(seen, true);
    return decision === 'more' ? 'tcp' : decision;
  });
}

export type HelloRead =
  | { kind: 'clientHello'; serverName: string | undefined }
  | { kind: 'notTls' | 'timeout' };

/**
 * A TLS ClientHello's server name, read without answering it: until the hello is whole (the bytes stay for
 * whoever takes the stream next), within a deadline and `CLIENT_HELLO_MAX_BYTES`.
 */
export function sniffClientHello(stream: Duplex, timeoutMs: number): Promise<HelloRead> {
  return peekStream<HelloRead>(
    stream,
    timeoutMs,
    (seen, final) => {
      const result = readClientHello(seen);
      if (result.kind !== 'more') return result;
      return final || seen.length >= CLIENT_HELLO_MAX_BYTES ? { kind: 'notTls' } : 'more';
    },
    () => ({ kind: 'timeout' }),
  );
}
