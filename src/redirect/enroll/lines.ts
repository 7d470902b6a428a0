/**
 * JSON-lines framing over a stream socket: calls `onLine` for each complete line, and `onOverflow` (once,
 * then stops) if a line grows past the limit, so a confused or hostile peer cannot make us buffer forever.
 */
import type { Socket } from 'node:net';

export function readLines(
  socket: Socket,
  maxBytes: number,
  onLine: (line: string) => void,
  onOverflow: () => void,
): void {
  let pending = '';
  let stopped = false;
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    if (stopped) return;
    pending += chunk;
    let newline = pending.indexOf('\n');
    while (newline !== -1) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      if (line.trim() !== '') onLine(line);
      if (stopped || socket.destroyed) return;
      newline = pending.indexOf('\n');
    }
    if (Buffer.byteLength(pending) > maxBytes) {
      stopped = true;
      onOverflow();
    }
  });
}
