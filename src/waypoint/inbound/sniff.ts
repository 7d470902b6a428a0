/**
 * Reads a tunnel's first bytes for protocol detection and puts them back (`unshift`), so the server that
 * then takes the stream sees it from its first byte. Gives up after `timeoutMs` (a server-first protocol,
 * where the client waits for the server to speak, is then proxied as TCP) or at the end of the stream.
 */
import type { Duplex } from 'node:stream';
import { DETECT_MAX_BYTES, detectProtocol, type WireProtocol } from './protocol.ts';

export function sniffProtocol(stream: Duplex, timeoutMs: number): Promise<WireProtocol> {
  return new Promise((resolve) => {
    let seen: Buffer = Buffer.alloc(0);
    const finish = (protocol: WireProtocol) => {
      clearTimeout(timer);
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('close', onEnd);
      if (seen.length > 0) stream.unshift(seen);
      resolve(protocol);
    };
    const onReadable = () => {
      for (;;) {
        const chunk = stream.read() as Buffer | null;
        if (chunk === null) return;
        seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
        const decision = detectProtocol(seen, seen.length >= DETECT_MAX_BYTES);
        if (decision !== 'more') return finish(decision);
      }
    };
    const onEnd = () => {
      const decision = detectProtocol(seen, true);
      finish(decision === 'more' ? 'tcp' : decision);
    };
    const timer = setTimeout(onEnd, timeoutMs);
    stream.on('readable', onReadable);
    stream.once('end', onEnd);
    stream.once('close', onEnd);
  });
}
