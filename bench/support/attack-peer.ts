/**
 * The hostile peer of `bench/attack.ts`, in a process of its own (so its CPU is not the ztunnel's): keeps up
 * to `concurrency` connections of one kind against `host:port` until it is killed.
 *
 *   node bench/support/attack-peer.ts <garbage|silent|no-cert|truncated-tls> <host> <port> [concurrency]
 */
import { randomBytes } from 'node:crypto';
import { type Socket, connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

const [kind, host, portText, concurrencyText] = process.argv.slice(2);
const port = Number(portText);
const concurrency = Number(concurrencyText ?? 200);
const junk = randomBytes(16 * 1024);

function open(): Socket {
  switch (kind) {
    case 'garbage': {
      const socket = tcpConnect({ host, port });
      socket.once('connect', () => socket.end(junk));
      return socket;
    }
    case 'silent':
      return tcpConnect({ host, port });
    case 'truncated-tls': {
      const socket = tcpConnect({ host, port });
      socket.once('connect', () => socket.end(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])));
      return socket;
    }
    case 'no-cert':
      return tlsConnect({
        host,
        port,
        servername: 'hbone.ambit.internal',
        ALPNProtocols: ['h2'],
        rejectUnauthorized: false,
      });
    default:
      throw new Error(`unknown attack ${JSON.stringify(kind)}`);
  }
}

let opened = 0;
function refill(): void {
  while (opened < concurrency) {
    opened++;
    const socket = open();
    socket.on('error', () => {});
    socket.on('data', () => {});
    socket.once('close', () => {
      opened--;
      setImmediate(refill);
    });
  }
}
refill();
