/**
 * Issue 8 (minor: logs world-readable and unbounded): the cluster's log files are created 0640 (and an
 * existing 0644 one is made 0640), and a file over its bound is rotated by copy-then-truncate, keeping one
 * older copy, while a writer that appends keeps writing into the emptied file.
 */
import { closeSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LOG_FILE_MODE, openLogFile, rotateIfLarger } from '../../src/local/supervisor/log-files.ts';

const dir = mkdtempSync(join(tmpdir(), 'ambit-log-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const mode = (file: string) => statSync(file).mode & 0o777;

describe('log files', () => {
  it('opens new and existing log files as 0640', () => {
    const fresh = join(dir, 'fresh.log');
    closeSync(openLogFile(fresh));
    expect(mode(fresh)).toBe(LOG_FILE_MODE);
    const old = join(dir, 'old.log');
    writeFileSync(old, 'x', { mode: 0o644 });
    closeSync(openLogFile(old));
    expect(mode(old)).toBe(0o640);
  });

  it('rotates past the bound, keeps one older copy, and the appending writer goes on in the emptied file', () => {
    const file = join(dir, 'busy.log');
    const fd = openLogFile(file);
    try {
      writeSync(fd, 'a'.repeat(100));
      expect(rotateIfLarger(file, 200)).toBe(false);
      writeSync(fd, 'b'.repeat(150));
      expect(rotateIfLarger(file, 200)).toBe(true);
      expect(statSync(file).size).toBe(0);
      expect(readFileSync(`${file}.1`, 'utf8')).toBe(`${'a'.repeat(100)}${'b'.repeat(150)}`);
      expect(mode(`${file}.1`)).toBe(0o640);
      writeSync(fd, 'after\n');
      expect(readFileSync(file, 'utf8')).toBe('after\n');
    } finally {
      closeSync(fd);
    }
    expect(rotateIfLarger(join(dir, 'missing.log'), 1)).toBe(false);
  });
});
