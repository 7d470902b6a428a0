/**
 * An earlier commit's tree for same-run comparisons: `git archive <ref>` of this checkout unpacked into a
 * directory of the benchmark's own, with this checkout's `node_modules` linked in, so that a benchmark can
 * start the old waypoint next to the new one and measure both in one run (this machine's load changes
 * between runs far more than most optimisations change the cost).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';

/** The checkout this benchmark runs from. */
const checkout = new URL('../..', import.meta.url).pathname;

/** Unpacks `ref`'s tree into `dir` (created) and returns its root. */
export function exportTree(ref: string, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const archive = execFileSync('git', ['-C', checkout, 'archive', '--format=tar', ref], {
    maxBuffer: 512 * 1024 * 1024,
  });
  execFileSync('tar', ['-x', '-C', dir], { input: archive });
  symlinkSync(join(checkout, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

/** The commit `ref` names, short, for the report. */
export function shortCommit(ref: string): string {
  return execFileSync('git', ['-C', checkout, 'rev-parse', '--short', ref], { encoding: 'utf8' }).trim();
}
