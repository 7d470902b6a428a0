/**
 * Readiness without entering a namespace: /proc/<pid>/net/tcp{,6} lists the TCP sockets of the network
 * namespace that process <pid> lives in, so a process is ready once every port it declares is listening
 * there. This is the local cluster's default readiness probe for pods' declared TCP containerPorts.
 */
import { readFileSync } from 'node:fs';

/** TCP state 0x0A in /proc/net/tcp. */
const LISTEN = '0A';

/** Ports with a listening TCP socket in the namespace of process `pid` (empty if the process is gone). */
export function listeningPorts(pid: number): Set<number> {
  const ports = new Set<number>();
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const port of parseListeningPorts(text)) ports.add(port);
  }
  return ports;
}

/** Parses one /proc/net/tcp table: `sl local_address rem_address st ...`, addresses as `HEXIP:HEXPORT`. */
export function parseListeningPorts(table: string): number[] {
  const ports: number[] = [];
  for (const line of table.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[3] !== LISTEN) continue;
    const port = fields[1]?.split(':')[1];
    if (port) ports.push(Number.parseInt(port, 16));
  }
  return ports;
}
