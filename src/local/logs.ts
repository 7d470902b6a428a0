/**
 * `ambit local logs <target>`: a pod's output, a system component's, every system component of a node, or
 * the supervisor's own log; optionally the last N lines, optionally followed as it grows.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { AmbitError } from '../core/errors.ts';
import { readJsonFile } from '../core/files.ts';
import { findPod } from './pods.ts';
import { logFileFor, podProcessId } from './processes.ts';
import type { StatePaths } from './state.ts';
import type { ClusterState, ProcessSpec } from './types.ts';

export interface LogSource {
  /** Prefix for lines when several sources are shown together. */
  label: string;
  file: string;
}

export function resolveLogTarget(
  cluster: ClusterState,
  paths: StatePaths,
  target: string,
  namespace: string | undefined,
): LogSource[] {
  if (target === 'supervisor') return [{ label: 'supervisor', file: paths.supervisorLog }];
  const processes = readJsonFile<ProcessSpec[]>(paths.processes) ?? [];
  const exact = processes.find((spec) => spec.id === target);
  if (exact) return [{ label: exact.id, file: exact.logFile }];
  const node = cluster.nodes.find((candidate) => candidate.name === target);
  if (node) {
    const system = processes.filter((spec) => spec.kind === 'system' && spec.node === node.name);
    if (system.length === 0) {
      throw new AmbitError(
        'NOT_FOUND',
        `node ${node.name} runs no system component yet; its pods' logs are under their names (see \`ambit local status\`)`,
      );
    }
    return system.map((spec) => ({ label: spec.id, file: spec.logFile }));
  }
  const component = processes.filter((spec) => spec.kind === 'system' && spec.id.split('/')[0] === target);
  if (component.length > 0) return component.map((spec) => ({ label: spec.id, file: spec.logFile }));
  const pod = findPod(cluster, target, namespace);
  return [{ label: pod.uid, file: logFileFor(paths, podProcessId(pod)) }];
}

export function lastLines(text: string, count: number | undefined): string {
  if (count === undefined) return text;
  const lines = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
  if (count === 0 || text === '') return '';
  return `${lines.slice(-count).join('\n')}\n`;
}

export function printLogs(
  sources: readonly LogSource[],
  out: Writable,
  tail: number | undefined,
): Map<string, number> {
  const offsets = new Map<string, number>();
  for (const source of sources) {
    const text = existsSync(source.file) ? readFileSync(source.file, 'utf8') : '';
    offsets.set(source.file, Buffer.byteLength(text));
    out.write(prefixed(lastLines(text, tail), sources.length > 1 ? source.label : undefined));
  }
  return offsets;
}

/** Prints what is appended to the files from `offsets` on, until `signal` aborts. */
export async function followLogs(
  sources: readonly LogSource[],
  out: Writable,
  offsets: Map<string, number>,
  signal: AbortSignal,
): Promise<void> {
  while (!signal.aborted) {
    for (const source of sources) {
      if (!existsSync(source.file)) continue;
      const from = offsets.get(source.file) ?? 0;
      const size = statSync(source.file).size;
      if (size <= from) continue;
      const buffer = Buffer.alloc(size - from);
      const fd = openSync(source.file, 'r');
      try {
        readSync(fd, buffer, 0, buffer.length, from);
      } finally {
        closeSync(fd);
      }
      offsets.set(source.file, size);
      out.write(prefixed(buffer.toString(), sources.length > 1 ? source.label : undefined));
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function prefixed(text: string, label: string | undefined): string {
  if (label === undefined || text === '') return text;
  return text.replace(/^(?=.)/gm, `[${label}] `);
}
