/**
 * `ambit ztunnel` refuses incomplete or malformed command lines before it opens anything, naming the flag;
 * `ManagedCertificates` tells listeners about a new trust bundle, and only when it changed.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/commands/ztunnel.ts';
import { CertificateManager } from '../../src/core/certs/manager.ts';
import { ManagedCertificates } from '../../src/core/tls/managed-certificates.ts';

const dir = mkdtempSync(join(tmpdir(), 'ambit-ztcmd-'));
const token = join(dir, 'n1.token');
writeFileSync(token, 'secret\n');
const empty = join(dir, 'empty.token');
writeFileSync(empty, '\n');
const complete = [
  '--node',
  'n1',
  '--control',
  '127.0.0.1:15012',
  '--token-file',
  token,
  '--ca-root',
  join(dir, 'root.pem'),
  '--enroll-socket',
  join(dir, 'enroll.sock'),
];
const without = (flag: string) => {
  const at = complete.indexOf(flag);
  return [...complete.slice(0, at), ...complete.slice(at + 2)];
};
const replaced = (flag: string, value: string) =>
  complete.map((v, i) => (complete[i - 1] === flag ? value : v));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ambit ztunnel command line', () => {
  for (const flag of ['--node', '--control', '--token-file', '--ca-root', '--enroll-socket']) {
    it(`requires ${flag}`, async () => {
      await expect(run(without(flag))).rejects.toThrow(`missing ${flag}`);
    });
  }

  it('checks addresses, ports, the backend and the token before starting', async () => {
    await expect(run(replaced('--control', 'nowhere'))).rejects.toThrow(/--control: expected HOST:PORT/);
    await expect(run([...complete, '--metrics-port', '70000'])).rejects.toThrow(/--metrics-port: not a port/);
    await expect(run([...complete, '--backend', 'ebpf'])).rejects.toThrow(/--backend/);
    await expect(run(replaced('--token-file', empty))).rejects.toThrow(/is empty/);
    await expect(run(complete)).rejects.toThrow(/cannot read --ca-root/);
  });
});

describe('ManagedCertificates', () => {
  it('installs a new trust bundle and tells listeners once', () => {
    const signer = { createCertificate: () => Promise.reject(new Error('unused')) };
    const managed = new ManagedCertificates(new CertificateManager({ signer }));
    let told = 0;
    managed.subscribe(() => told++);
    managed.setTrustBundle(['root-a']);
    managed.setTrustBundle(['root-a']);
    managed.setTrustBundle([]);
    expect(managed.trustBundle()).toEqual(['root-a']);
    managed.setTrustBundle(['root-a', 'root-b']);
    expect(told).toBe(2);
    managed.close();
  });
});
