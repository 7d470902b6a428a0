/**
 * Repeated measurements of the HTTP proxy benchmarks' paths: the paths take turns for a number of rounds
 * (so that a change in the machine's load falls on all of them alike) and each figure is reported as its
 * median over the rounds.
 */
import type { HttpLatencyResult } from './http-load.ts';
import { cpuMs } from './load.ts';
import { median, ratio } from './report.ts';

export interface ProxyRun {
  name: string;
  rr1: HttpLatencyResult;
  rr32: HttpLatencyResult;
  /** The proxy's CPU ms per 1000 requests at 32 connections; undefined where no proxy is measured. */
  cpuPer1000?: number | undefined;
  rssIdle?: number | undefined;
  rssAfter?: number | undefined;
}

/**
 * Runs each of `paths` once per round, in turn, each round starting one path later (so that no path always
 * follows the same one), and returns each path's medians, in the order given.
 */
export async function takeTurns(rounds: number, paths: (() => Promise<ProxyRun>)[]): Promise<ProxyRun[]> {
  const runs: ProxyRun[][] = paths.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (let turn = 0; turn < paths.length; turn++) {
      const i = (round + turn) % paths.length;
      runs[i]!.push(await paths[i]!());
    }
  }
  return runs.map(medianRun);
}

/** Each figure of one path's repeated runs as its median (failures summed, the first one kept). */
export function medianRun(runs: readonly ProxyRun[]): ProxyRun {
  const of = (pick: (run: ProxyRun) => number | undefined) => {
    const values = runs.map(pick).filter((value): value is number => value !== undefined);
    return values.length === 0 ? undefined : median(values);
  };
  const latency = (pick: (run: ProxyRun) => HttpLatencyResult): HttpLatencyResult => ({
    requests: of((run) => pick(run).requests)!,
    perSecond: of((run) => pick(run).perSecond)!,
    p50Us: of((run) => pick(run).p50Us)!,
    p99Us: of((run) => pick(run).p99Us)!,
    failed: runs.reduce((sum, run) => sum + pick(run).failed, 0),
    firstFailure: runs.map((run) => pick(run).firstFailure).find((failure) => failure !== undefined),
  });
  return {
    name: runs[0]!.name,
    rr1: latency((run) => run.rr1),
    rr32: latency((run) => run.rr32),
    cpuPer1000: of((run) => run.cpuPer1000),
    rssIdle: of((run) => run.rssIdle),
    rssAfter: of((run) => run.rssAfter),
  };
}

/** One line: `now` against `before` (the same proxy at an earlier commit), and both against `reference`. */
export function newAgainstOld(what: string, now: ProxyRun, before: ProxyRun, reference: ProxyRun): string {
  const cpu = (run: ProxyRun) => run.cpuPer1000 ?? 0;
  return [
    `${what} now / ${before.name}: CPU per request ${ratio(cpu(now), cpu(before))}`,
    `rr1 req/s ${ratio(now.rr1.perSecond, before.rr1.perSecond)}`,
    `rr32 req/s ${ratio(now.rr32.perSecond, before.rr32.perSecond)}`,
    `rr1 p99 ${ratio(now.rr1.p99Us, before.rr1.p99Us)}`,
    `rr32 p99 ${ratio(now.rr32.p99Us, before.rr32.p99Us)}`,
    `CPU per request / ${reference.name}: now ${ratio(cpu(now), cpu(reference))}, before ${ratio(cpu(before), cpu(reference))}`,
  ].join(', ');
}

/** Node flags given as one space-separated string on a bench's command line. */
export function splitNodeArgs(text: string): string[] {
  return text.split(' ').filter((arg) => arg !== '');
}

/**
 * Connections each side of the paired measurement gets: one, since with many a side that happens to be
 * served faster batches more requests per wakeup and so costs less per request, which fed on itself (the
 * same code against itself came out anywhere from 0.61x to 0.93x at 16 connections each).
 */
export const PAIRED_CONNECTIONS = 1;

/** One side of a paired measurement: the load to drive through it and the proxy process whose CPU counts. */
export interface PairedSide {
  load: () => Promise<HttpLatencyResult>;
  pid: number;
}

/**
 * Old and new proxy loaded at the same time, the paired figure for an A/B comparison: whatever else this
 * machine runs weighs on both alike, where runs one after the other can differ by more than the change
 * measured. Returns `now`'s CPU per request over `before`'s, the median over `rounds`.
 */
export async function pairedCpuRatio(rounds: number, now: PairedSide, before: PairedSide): Promise<number> {
  const ratios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const cpuBefore = [cpuMs(now.pid), cpuMs(before.pid)];
    // Which side's connections open first alternates, so that neither always has the head start.
    let a: HttpLatencyResult;
    let b: HttpLatencyResult;
    if (round % 2 === 0) [a, b] = await Promise.all([now.load(), before.load()]);
    else [b, a] = await Promise.all([before.load(), now.load()]);
    const perRequest = (pid: number, start: number, result: HttpLatencyResult) =>
      (cpuMs(pid) - start) / Math.max(1, result.requests);
    ratios.push(perRequest(now.pid, cpuBefore[0]!, a) / perRequest(before.pid, cpuBefore[1]!, b));
  }
  return median(ratios);
}
