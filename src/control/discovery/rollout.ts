/**
 * Whether a pushed mesh version has reached the data plane: the pure decision behind `ambit apply`'s wait.
 * Versions are the control plane's generation numbers, so a client that holds a later version holds this one.
 * Clients are followed by who they are (kind, node, waypoint), not by stream: a ztunnel that reconnects
 * during the wait is the same client, and one that was there when the wait began and is not now is `gone`
 * (it has not taken the version), not silently dropped.
 */
import type { ClientStatus, RolloutClient } from '../../core/control-api/types.ts';

/** Who a client is, across reconnects. */
export function clientKey(client: Pick<ClientStatus, 'kind' | 'node' | 'waypoint'>): string {
  return `${client.kind}|${client.node}|${client.waypoint ?? ''}`;
}

const atLeast = (held: string | undefined, version: number) => held !== undefined && Number(held) >= version;

/** One stream's standing on `version`. */
export function clientRollout(client: ClientStatus, version: number): RolloutClient {
  const who = { kind: client.kind, node: client.node, waypoint: client.waypoint };
  if (atLeast(client.syncedVersion, version)) return { ...who, state: 'acked' };
  if (client.lastNack && atLeast(client.lastNack.version, version)) {
    return { ...who, state: 'nacked', message: client.lastNack.message };
  }
  return { ...who, state: 'pending' };
}

const RANK: Record<RolloutClient['state'], number> = { acked: 3, nacked: 2, pending: 1, gone: 0 };

/**
 * Each client's standing: those connected now, and those of `expected` (keys at the start of the wait) that
 * are not. Streams of one client count by the best of them. Settled when none is pending or gone.
 */
export function rolloutStanding(
  expected: readonly string[],
  clients: readonly ClientStatus[],
  version: number,
): { clients: RolloutClient[]; settled: boolean } {
  const byKey = new Map<string, RolloutClient>();
  for (const client of clients) {
    const standing = clientRollout(client, version);
    const key = clientKey(client);
    const known = byKey.get(key);
    if (!known || RANK[standing.state] > RANK[known.state]) byKey.set(key, standing);
  }
  for (const key of expected) {
    if (byKey.has(key)) continue;
    const [kind, node, waypoint] = key.split('|') as [RolloutClient['kind'], string, string];
    byKey.set(key, { kind, node, waypoint: waypoint || undefined, state: 'gone' });
  }
  const standings = [...byKey.values()];
  return {
    clients: standings,
    settled: standings.every((client) => client.state === 'acked' || client.state === 'nacked'),
  };
}
