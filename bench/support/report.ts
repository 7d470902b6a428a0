/**
 * How the data-path benchmarks report: one table row per path (direct, each Ambit variant, stunnel), the
 * ratios of each Ambit variant to direct and to stunnel, the medians of repeated runs, and the figures
 * against issue 9's targets, so that the loopback and the cluster benchmarks read the same way.
 */
import type { LatencyResult } from './load.ts';

export interface PathResult {
  name: string;
  /** MiB/s with 1 and with 8 streams. */
  bulk1: number;
  bulk8: number;
  /** Request/response with 1 KiB answers over 1 and over 32 connections. */
  rr1: LatencyResult;
  rr32: LatencyResult;
  /** CPU milliseconds the proxies spent per 1000 requests (32 connections); none for direct. */
  cpuPer1000: number | undefined;
  /** CPU seconds the proxies spent per GiB moved (bulk, 8 streams); none where not measured. */
  cpuPerGiB?: number | undefined;
}

export const fmt = (n: number, digits = 0) => n.toFixed(digits);
export const ratio = (a: number, b: number) => (b === 0 ? 'n/a' : `${(a / b).toFixed(2)}x`);

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length === 0 ? 0 : sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Each figure of repeated runs of one path, as its median. */
export function medianResult(runs: readonly PathResult[]): PathResult {
  const of = (pick: (r: PathResult) => number | undefined) => {
    const values = runs.map(pick).filter((v): v is number => v !== undefined);
    return values.length === 0 ? undefined : median(values);
  };
  const latency = (pick: (r: PathResult) => LatencyResult): LatencyResult => ({
    requests: of((r) => pick(r).requests)!,
    perSecond: of((r) => pick(r).perSecond)!,
    p50Us: of((r) => pick(r).p50Us)!,
    p99Us: of((r) => pick(r).p99Us)!,
  });
  return {
    name: runs[0]!.name,
    bulk1: of((r) => r.bulk1)!,
    bulk8: of((r) => r.bulk8)!,
    rr1: latency((r) => r.rr1),
    rr32: latency((r) => r.rr32),
    cpuPer1000: of((r) => r.cpuPer1000),
    cpuPerGiB: of((r) => r.cpuPerGiB),
  };
}

/** The Markdown table of the paths, then each Ambit variant's ratios to direct and to stunnel. */
export function pathReport(direct: PathResult, ambits: readonly PathResult[], stunnel: PathResult): string[] {
  const withGiB = ambits.some((a) => a.cpuPerGiB !== undefined);
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  const header = [
    'path',
    'bulk 1 stream MiB/s',
    'bulk 8 streams MiB/s',
    'rr 1 conn p50/p99 us',
    'rr 1 conn req/s',
    'rr 32 conn p50/p99 us',
    'rr 32 conn req/s',
    'proxy CPU ms / 1000 req',
    ...(withGiB ? ['proxy CPU s / GiB'] : []),
  ];
  const row = (r: PathResult) =>
    line([
      r.name,
      fmt(r.bulk1),
      fmt(r.bulk8),
      `${fmt(r.rr1.p50Us)}/${fmt(r.rr1.p99Us)}`,
      fmt(r.rr1.perSecond),
      `${fmt(r.rr32.p50Us)}/${fmt(r.rr32.p99Us)}`,
      fmt(r.rr32.perSecond),
      r.cpuPer1000 === undefined ? '-' : fmt(r.cpuPer1000),
      ...(withGiB ? [r.cpuPerGiB === undefined ? '-' : fmt(r.cpuPerGiB, 2)] : []),
    ]);
  const versus = (ambit: PathResult, base: PathResult) =>
    `bulk1 ${ratio(ambit.bulk1, base.bulk1)}, bulk8 ${ratio(ambit.bulk8, base.bulk8)}, ` +
    `rr1 req/s ${ratio(ambit.rr1.perSecond, base.rr1.perSecond)}, rr32 req/s ${ratio(ambit.rr32.perSecond, base.rr32.perSecond)}`;
  const cpu = (ambit: PathResult) =>
    `, CPU/req ${ratio(ambit.cpuPer1000 ?? 0, stunnel.cpuPer1000 ?? 0)}` +
    (withGiB ? `, CPU/GiB ${ratio(ambit.cpuPerGiB ?? 0, stunnel.cpuPerGiB ?? 0)}` : '');
  return [
    line(header),
    line(header.map(() => '---')),
    ...[direct, ...ambits, stunnel].map(row),
    '',
    ...ambits.flatMap((ambit) => [
      `${ambit.name} / direct:  ${versus(ambit, direct)}`,
      `${ambit.name} / stunnel: ${versus(ambit, stunnel)}${cpu(ambit)}`,
      `Added p50 latency at 1 connection: ${ambit.name} ${fmt(ambit.rr1.p50Us - direct.rr1.p50Us)} us, stunnel ${fmt(stunnel.rr1.p50Us - direct.rr1.p50Us)} us`,
    ]),
  ];
}

export interface TargetInputs {
  ambit: PathResult;
  direct: PathResult;
  stunnel: PathResult;
  /** Added p50 at 1 connection (us) of Ambit and of stunnel, from the interleaved rounds. */
  addedP50Us: { ambit: number; stunnel: number };
  /** ztunnel RSS with 1000 idle tunnels (MiB, the larger of the two ztunnels). */
  idleTunnelsRssMiB: number | undefined;
}

/** Issue 9's targets, each as measured, with met / not met. */
export function targetReport({ ambit, stunnel, addedP50Us, idleTunnelsRssMiB }: TargetInputs): string[] {
  const check = (what: string, value: number, op: '<=' | '>=' | '<', target: number, unit = 'x') => {
    const met = op === '<=' ? value <= target : op === '>=' ? value >= target : value < target;
    return `  ${what}: ${value.toFixed(2)}${unit} (target ${op} ${target}${unit}): ${met ? 'met' : 'NOT met'}`;
  };
  const lines = [`Targets for ${ambit.name} (ratios to stunnel in this run):`];
  if (ambit.cpuPerGiB !== undefined && stunnel.cpuPerGiB) {
    lines.push(check('CPU per GiB', ambit.cpuPerGiB / stunnel.cpuPerGiB, '<=', 0.8));
  }
  lines.push(check('bulk throughput, 1 stream', ambit.bulk1 / stunnel.bulk1, '>=', 1.5));
  lines.push(check('bulk throughput, 8 streams', ambit.bulk8 / stunnel.bulk8, '>=', 1.2));
  lines.push(check('added p50 at 1 connection', addedP50Us.ambit / addedP50Us.stunnel, '<=', 1.2));
  if (idleTunnelsRssMiB !== undefined) {
    lines.push(check('ztunnel RSS with 1000 idle tunnels', idleTunnelsRssMiB * 1.048576, '<', 60, ' MB'));
  }
  return lines;
}
