/**
 * What `ambit apply` and `ambit delete` say after waiting for the data plane: which client took the new
 * version, which refused it and why, which has not answered. A pure function, so every case is a table row.
 */
import { formatDuration } from '../core/config/duration.ts';
import type { RolloutClient, RolloutReport } from '../core/control-api/types.ts';
import { AmbitError } from '../core/errors.ts';

function who(client: RolloutClient): string {
  return client.kind === 'waypoint'
    ? `waypoint ${client.waypoint} (node ${client.node})`
    : `ztunnel of node ${client.node}`;
}

function line(client: RolloutClient, version: string, waitedMs: number): string {
  switch (client.state) {
    case 'acked':
      return `${who(client)}: took version ${version}`;
    case 'nacked':
      return `${who(client)}: refused version ${version} (NACK): ${client.message ?? 'no reason given'}`;
    case 'pending':
      return `${who(client)}: has not taken version ${version} within ${formatDuration(waitedMs)}`;
    case 'gone':
      return `${who(client)}: disconnected before taking version ${version}`;
  }
}

/**
 * The report's lines (stdout: the outcome; stderr: each client that has not taken the version) and, when
 * the config is stored but not in force everywhere, the error the command fails with.
 */
export function renderRollout(
  report: RolloutReport,
  waitedMs: number,
): { out: string[]; err: string[]; failure?: AmbitError | undefined } {
  const { clients, version } = report;
  if (clients.length === 0) {
    return {
      out: [`data plane: no clients connected (version ${version} is pushed as they connect)`],
      err: [],
    };
  }
  const missing = clients.filter((client) => client.state !== 'acked');
  const taken = clients.length - missing.length;
  const out = [`data plane: ${taken} of ${clients.length} client(s) took version ${version}`];
  const err = missing.map((client) => line(client, version, waitedMs));
  if (missing.length === 0) return { out, err };
  const refused = missing.filter((client) => client.state === 'nacked').length;
  const parts = [
    ...(refused > 0 ? [`${refused} refused it`] : []),
    ...(missing.length > refused ? [`${missing.length - refused} did not take it`] : []),
  ];
  const failure = new AmbitError(
    refused > 0 ? 'UNAVAILABLE' : 'TIMEOUT',
    `config revision ${report.revision} is stored but not in force on every data-plane client: ${parts.join(', ')}`,
  );
  return { out, err, failure };
}

/**
 * The rollouts of several replicas (each waited for the clients connected to it) as one: a client that moved
 * from one replica to another counts by what it did where it took or refused the change, if it did.
 */
export function mergeRollouts(revision: number, reports: readonly RolloutReport[]): RolloutReport {
  const settled = (state: RolloutClient['state']) => state === 'acked' || state === 'nacked';
  const clients = new Map<string, RolloutClient>();
  for (const entry of reports.flatMap((report) => report.clients)) {
    const key = `${entry.kind}/${entry.node}/${entry.waypoint ?? ''}`;
    const known = clients.get(key);
    if (!known || (settled(entry.state) && !settled(known.state))) clients.set(key, entry);
  }
  const merged = [...clients.values()];
  return {
    revision,
    version: [...new Set(reports.map((report) => report.version))].join(' / '),
    timedOut: merged.some((entry) => !settled(entry.state)),
    clients: merged,
  };
}
