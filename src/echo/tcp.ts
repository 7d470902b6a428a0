/**
 * The echo app's raw TCP side: every byte received is sent back; when the client half-closes, the echo
 * finishes sending and half-closes too. A failing connection only ever ends itself.
 */
import { createServer, type Server } from 'node:net';

export function createEchoTcpServer(): Server {
  return createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
}
