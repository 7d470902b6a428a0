/**
 * Readiness without entering a namespace: /proc/<pid>/net/tcp{,6} lists the TCP sockets of the network
 * namespace that process <pid> lives in, so a process is ready once every port it declares is listening
 * there. This is the local cluster's default readiness probe for pods' declared TCP containerPorts.
 * /proc/<pid>/net/unix does the same for unix sockets bound to a path (a node agent's enrollment socket).
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

/** `__SO_ACCEPTCON` in the Flags column of /proc/net/unix: the socket is listening. */
const UNIX_LISTENING = 0x10000;

/** Paths of listening unix sockets in the namespace of process `pid` (empty if the process is gone). */
export function listeningUnixSockets(pid: number): Set<string> {
  try {
    return new Set(parseListeningUnixSockets(readFileSync(`/proc/${pid}/net/unix`, 'utf8')));
  } catch {
    return new Set();
  }
}

/** Parses /proc/net/unix: `Num RefCount Protocol Flags Type St Inode [Path]`, hex numbers. */
export function parseListeningUnixSockets(table: string): string[] {
  const paths: string[] = [];
  for (const line of table.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const path = fields.slice(7).join(' ');
    // Abstract sockets are shown with a leading @; only sockets bound to a file are meant here.
    if (!path.startsWith('/') || !(Number.parseInt(fields[3] ?? '0', 16) & UNIX_LISTENING)) continue;
    paths.push(path);
  }
  return paths;
}
