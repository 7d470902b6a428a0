/**
 * `ambit local status`'s report: the cluster record joined with the supervisor's status file. A pod whose
 * process outlives its record (it drains) is not listed as a system process.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildReport } from '../../src/local/report.ts';
import { statePaths } from '../../src/local/state.ts';
import type { ProcessStatus, SupervisorStatus } from '../../src/local/supervisor/status.ts';
import { clusterRecord, podRecord } from '../support/local-records.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function reportOf(pods: ReturnType<typeof podRecord>[], processes: ProcessStatus[]) {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-report-'));
  dirs.push(dir);
  const paths = statePaths(dir);
  const status: SupervisorStatus = { pid: 1, startedAt: '', updatedAt: '', stopping: false, processes };
  writeFileSync(paths.status, JSON.stringify(status));
  return buildReport(clusterRecord(pods), paths);
}

const process = (id: string, kind: ProcessStatus['kind'], podUid?: string): ProcessStatus => ({
  id,
  kind,
  podUid,
  state: 'running',
  ready: true,
  restarts: 0,
});

describe('the local cluster report', () => {
  it.each([
    { case: 'pods in the record, system processes', record: ['web'], system: ['ztunnel/n1'] },
    { case: 'a draining pod (process, no record)', record: [], system: ['ztunnel/n1'] },
    { case: 'no system process', record: ['web'], system: [] },
  ])('lists as system processes only the system ones: $case', ({ record, system }) => {
    const report = reportOf(
      record.map((name) => podRecord(name, 'n1', '10.244.0.2')),
      [process('pod/apps/web', 'pod', 'apps/web'), ...system.map((id) => process(id, 'system'))],
    );
    expect(report.pods.map((pod) => pod.uid)).toEqual(record.map((name) => `apps/${name}`));
    expect(report.system.map((entry) => entry.id)).toEqual(system);
  });
});
