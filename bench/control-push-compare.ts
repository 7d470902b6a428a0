/**
 * `control-push.ts --baseline=<ref>`: an earlier commit's bench and this tree's, run alternately in one run
 * (the machine's load moves more between runs than most changes move the cost), each as its own process with
 * the same arguments; each writes its results file in its own tree, read back here. Reported per figure: the
 * median of each side over the rounds, and this tree's as a ratio of the baseline's (below 1: cheaper).
 * Server CPU is the figure to trust; wall times are reported but move with the load.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportTree, shortCommit } from './support/baseline-tree.ts';

/** A figure a run may lack (an older tree's bench did not report it). */
type Figure = number | undefined;

interface Results {
  initialFanOut: { serverCpuMs: number; ms: number; perClientBytes: number; clientCpuPerClientMs: number };
  changes: {
    label: string;
    serverCpuMs: number;
    computeMs: number;
    transferMs?: Figure;
    applySlowestMs?: Figure;
    allAcceptedMs: number;
    bytesPerClient: number;
  }[];
}

const median = (values: Figure[]): Figure => {
  const sorted = values.filter((value) => value !== undefined).sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
};

function run(tree: string, args: readonly string[]): Results {
  execFileSync(process.execPath, [join(tree, 'bench/control-push.ts'), ...args], { stdio: 'inherit' });
  const [pods = '1000', nodes = '50'] = args;
  return JSON.parse(readFileSync(join(tree, `bench/results/control-push-${pods}x${nodes}.json`), 'utf8'));
}

export async function compareWithBaseline(
  ref: string,
  rounds: number,
  args: readonly string[],
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-bench-push-baseline-'));
  try {
    const old = exportTree(ref, join(dir, 'tree'));
    const current = new URL('..', import.meta.url).pathname;
    const runs: { old: Results[]; current: Results[] } = { old: [], current: [] };
    for (let round = 0; round < rounds; round++) {
      // Alternating which goes first, so neither always runs on the warmer (or busier) machine.
      const order = round % 2 === 0 ? (['old', 'current'] as const) : (['current', 'old'] as const);
      for (const side of order) runs[side].push(run(side === 'old' ? old : current, args));
    }
    const figures: [string, (results: Results) => Figure][] = [
      ['initial fan-out, server CPU ms', (results) => results.initialFanOut.serverCpuMs],
      ['initial fan-out, client CPU ms per client', (results) => results.initialFanOut.clientCpuPerClientMs],
      ['initial fan-out, wall ms', (results) => results.initialFanOut.ms],
      ['initial fan-out, bytes per client', (results) => results.initialFanOut.perClientBytes],
      ...runs.current[0]!.changes.flatMap((change, i): [string, (results: Results) => Figure][] => [
        [`${change.label}, server CPU ms`, (results) => results.changes[i]!.serverCpuMs],
        [`${change.label}, compute ms`, (results) => results.changes[i]!.computeMs],
        [`${change.label}, transfer ms`, (results) => results.changes[i]!.transferMs],
        [`${change.label}, slowest apply ms`, (results) => results.changes[i]!.applySlowestMs],
        [`${change.label}, all ACKed ms`, (results) => results.changes[i]!.allAcceptedMs],
        [`${change.label}, bytes per client`, (results) => results.changes[i]!.bytesPerClient],
      ]),
    ];
    console.log(
      `\nthis tree against ${ref} (${shortCommit(ref)}), ${args.join(' x ')}, median of ${rounds}:`,
    );
    for (const [label, figure] of figures) {
      const before = median(runs.old.map(figure));
      const after = median(runs.current.map(figure));
      const ratio =
        before !== undefined && after !== undefined && before > 0 ? (after / before).toFixed(2) : '-';
      console.log(`  ${label}: ${before ?? '-'} -> ${after ?? '-'} (${ratio}x)`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
