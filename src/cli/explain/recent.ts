/**
 * `ambit explain --recent <pod>`: the last connections to or from a pod that did not get through, from the
 * ztunnels' access logs (one JSON line per connection, `msg: "connection complete"`, `result` denied or
 * failed, with the reason the ztunnel gave: the deciding policy, no endpoint, PeerAuthentication...).
 */
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import type { ClusterState } from '../../local/types.ts';

export interface RecentFailure {
  time: string;
  node: string;
  direction: string;
  source: string;
  destination: string;
  result: string;
  reason: string;
}

/** How much of the end of each node's log is read: recent lines only, whatever the log's size. */
const TAIL_BYTES = 4 * 1024 * 1024;

interface AccessLine {
  time?: string;
  msg?: string;
  result?: string;
  error?: string;
  direction?: string;
  'src.addr'?: string;
  'src.workload'?: string;
  'dst.addr'?: string;
  'dst.workload'?: string;
  'dst.service'?: string;
}

/** The failed connections of `pod` (`ns/name`) among one node's log lines, oldest first. */
export function failuresOf(lines: readonly string[], pod: string, node: string): RecentFailure[] {
  const found: RecentFailure[] = [];
  for (const line of lines) {
    if (!line.includes('"connection complete"')) continue;
    let entry: AccessLine;
    try {
      entry = JSON.parse(line) as AccessLine;
    } catch {
      continue;
    }
    if (entry.msg !== 'connection complete' || entry.result === 'ok' || entry.result === undefined) continue;
    if (entry['src.workload'] !== pod && entry['dst.workload'] !== pod) continue;
    found.push({
      time: entry.time ?? '',
      node,
      direction: entry.direction ?? '',
      source: entry['src.workload'] ?? entry['src.addr'] ?? 'unknown',
      destination: entry['dst.workload'] ?? entry['dst.service'] ?? entry['dst.addr'] ?? 'unknown',
      result: entry.result,
      reason: entry.error ?? '',
    });
  }
  return found;
}

function tail(path: string): string[] {
  if (!existsSync(path)) return [];
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, TAIL_BYTES);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    const lines = buffer.toString('utf8').split('\n');
    // A cut first line is not a whole entry.
    return length < size ? lines.slice(1) : lines;
  } finally {
    closeSync(fd);
  }
}

/** The last `limit` failures of `pod` across every node's ztunnel log, newest last. */
export function recentFailures(
  cluster: ClusterState,
  logFile: (node: string) => string,
  pod: string,
  limit: number,
): RecentFailure[] {
  const all = cluster.nodes.flatMap((node) => failuresOf(tail(logFile(node.name)), pod, node.name));
  return all.sort((a, b) => a.time.localeCompare(b.time)).slice(-limit);
}

export function renderFailures(pod: string, failures: readonly RecentFailure[]): string {
  if (failures.length === 0) return `no denied or failed connection of ${pod} in the ztunnels' access logs\n`;
  return `${failures
    .map(
      (f) =>
        `${f.time}  ${f.node}  ${f.direction}  ${f.source} -> ${f.destination}  ${f.result}: ${f.reason}`,
    )
    .join('\n')}\n`;
}
