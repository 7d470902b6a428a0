/**
 * The stand-in for Istio's `tcp-echo-server`: listens on each port of a comma-separated list and answers
 * every line it receives with `<prefix> <line>` (arguments: `9000,9001 hello`, the image's defaults).
 */
import net from 'node:net';
import { UsageError } from '../core/errors.ts';
import { parsePort } from '../core/net/host-port.ts';
import { stopSignal } from '../core/stop-signal.ts';

/** A peer sending an endless line cannot make us hold more than this. */
const MAX_LINE_BYTES = 64 * 1024;

export async function run(args: readonly string[]): Promise<number> {
  const [portList = '9000', prefix = 'hello'] = args;
  const ports = portList.split(',').map((text) => {
    const port = parsePort(text);
    if (port === undefined) throw new UsageError(`not a port: ${text}`);
    return port;
  });
  const sockets = new Set<net.Socket>();
  const servers = await Promise.all(
    ports.map(
      (port) =>
        new Promise<net.Server>((resolve, reject) => {
          const server = net.createServer((socket) => {
            sockets.add(socket);
            socket.on('close', () => sockets.delete(socket));
            socket.on('error', () => socket.destroy());
            let pending = '';
            socket.setEncoding('utf8');
            socket.on('data', (chunk: string) => {
              pending += chunk;
              const lines = pending.split('\n');
              pending = lines.pop()!;
              if (pending.length > MAX_LINE_BYTES) socket.destroy();
              for (const line of lines) socket.write(`${prefix} ${line}\n`);
            });
          });
          server.once('error', reject);
          server.listen(port, '0.0.0.0', () => resolve(server));
        }),
    ),
  );
  process.stdout.write(`listening on ${ports.join(', ')} with prefix ${JSON.stringify(prefix)}\n`);
  await stopSignal();
  for (const socket of sockets) socket.destroy();
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return 0;
}
