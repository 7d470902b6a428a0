/**
 * How the data-path benchmarks report: one table row per path (direct, Ambit, stunnel) and the ratios of
 * Ambit to each baseline, so that the loopback and the cluster benchmarks read the same way.
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

/** The Markdown table of the paths, then Ambit's ratios to direct and to stunnel and the added latency. */
export function pathReport(direct: PathResult, ambit: PathResult, stunnel: PathResult): string[] {
  const withGiB = ambit.cpuPerGiB !== undefined;
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
  const versus = (base: PathResult) =>
    `bulk1 ${ratio(ambit.bulk1, base.bulk1)}, bulk8 ${ratio(ambit.bulk8, base.bulk8)}, ` +
    `rr1 req/s ${ratio(ambit.rr1.perSecond, base.rr1.perSecond)}, rr32 req/s ${ratio(ambit.rr32.perSecond, base.rr32.perSecond)}`;
  const cpu =
    `, CPU/req ${ratio(ambit.cpuPer1000 ?? 0, stunnel.cpuPer1000 ?? 0)}` +
    (withGiB ? `, CPU/GiB ${ratio(ambit.cpuPerGiB ?? 0, stunnel.cpuPerGiB ?? 0)}` : '');
  return [
    line(header),
    line(header.map(() => '---')),
    ...[direct, ambit, stunnel].map(row),
    '',
    `Ambit / direct:  ${versus(direct)}`,
    `Ambit / stunnel: ${versus(stunnel)}${cpu}`,
    `Added p50 latency at 1 connection: Ambit ${fmt(ambit.rr1.p50Us - direct.rr1.p50Us)} us, stunnel ${fmt(stunnel.rr1.p50Us - direct.rr1.p50Us)} us`,
  ];
}
