/**
 * State shared by control-plane replicas: two stores on one file see each other's changes, a change made on
 * a stale copy is made on top of the latest file (no lost update, revisions count across replicas), and the
 * state lock is exclusive across processes yet freed when its holder is killed with -9; the leader lease
 * has one holder and passes on when it expires or is given up.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ConfigStore } from '../../src/control/config/store.ts';
import { CONTROL_KINDS } from '../../src/control/kinds.ts';
import { type PodRecord, ReportedPods } from '../../src/control/pods/pod-source.ts';
import { FileLease, holds, type LeaseRecord, nextLease } from '../../src/control/state/lease.ts';
import { StateLock } from '../../src/control/state/lock.ts';
import { watchSharedFiles } from '../../src/control/state/shared-file.ts';
import { AmbitError } from '../../src/core/errors.ts';
import { createLogger } from '../../src/core/log.ts';

const quiet = createLogger('test');
const dir = mkdtempSync(join(tmpdir(), 'ambit-shared-state-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children) child.kill('SIGKILL');
  children = [];
});

const namespace = (name: string) => ({
  name: `${name}.yaml`,
  content: `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${name}}\n`,
});
const names = (store: ConfigStore) =>
  store
    .resources()
    .map((resource) => resource.metadata.name)
    .sort();

/** A replica's view of one state directory: its own lock (its own open file) on the shared files. */
function replica(root: string) {
  const lock = new StateLock(join(root, 'state.lock'), { timeoutMs: 500 });
  return {
    lock,
    store: new ConfigStore(CONTROL_KINDS, 'cluster.local', join(root, 'config.json'), undefined, lock),
    pods: new ReportedPods(join(root, 'pods.json'), lock),
  };
}

const pod = (name: string, node: string): PodRecord => ({
  uid: `apps/${name}`,
  name,
  namespace: 'apps',
  node,
  ips: ['10.244.0.5'],
  serviceAccount: 'default',
  labels: {},
  ready: true,
  ports: [],
});

describe('config store shared by replicas', () => {
  it("takes in the other replica's changes and never loses an update made on a stale copy", () => {
    const root = mkdtempSync(join(dir, 'config-'));
    const a = replica(root);
    const b = replica(root);
    let bChanges = 0;
    b.store.onChange(() => bChanges++);
    expect(a.store.apply([namespace('one')]).revision).toBe(1);
    expect(b.store.refresh()).toBe(true);
    expect(bChanges).toBe(1);
    expect(names(b.store)).toEqual(['one']);
    expect(b.store.refresh()).toBe(false);
    // b writes; a has not looked yet and writes on top of it: nothing of b's is lost, revisions go on.
    expect(b.store.apply([namespace('two')]).revision).toBe(2);
    expect(a.store.apply([namespace('three')]).revision).toBe(3);
    expect(names(a.store)).toEqual(['one', 'three', 'two']);
    expect(b.store.refresh()).toBe(true);
    expect(names(b.store)).toEqual(['one', 'three', 'two']);
    expect(b.store.revision).toBe(3);
    // A delete through b, then a restart of a from the file: the same config.
    expect(b.store.delete([namespace('one')]).deleted).toEqual(['Namespace one']);
    expect(names(replica(root).store)).toEqual(['three', 'two']);
  });

  it('keeps the config in force when the file another replica wrote does not validate', () => {
    const root = mkdtempSync(join(dir, 'corrupt-'));
    const a = replica(root);
    a.store.apply([namespace('kept')]);
    const bad = join(root, 'config.json.new');
    writeFileSync(
      bad,
      JSON.stringify({
        revision: 9,
        entries: [
          {
            origin: 'api',
            source: { file: 'x.yaml', document: 1 },
            document: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'Not_A_Name' } },
          },
        ],
      }),
    );
    renameSync(bad, join(root, 'config.json'));
    expect(() => a.store.refresh()).toThrow(/no longer validates/);
    expect(names(a.store)).toEqual(['kept']);
    expect(a.store.revision).toBe(1);
  });
});

describe('reported pods shared by replicas', () => {
  it("merges both replicas' reports, tells listeners of the other's, and keeps its own unwritten ones", async () => {
    const root = mkdtempSync(join(dir, 'pods-'));
    const a = replica(root);
    const b = replica(root);
    let aChanges = 0;
    a.pods.onChange(() => aChanges++);
    a.pods.upsert(pod('web', 'n1'));
    a.pods.flush();
    // b writes on top of the latest file: a's pod is taken in, not overwritten.
    b.pods.upsert(pod('db', 'n2'));
    b.pods.flush();
    expect(b.pods.list().map((p) => p.name)).toEqual(['web', 'db']);
    expect(a.pods.refresh()).toBe(true);
    expect(aChanges).toBe(2);
    expect(a.pods.list().map((p) => p.name)).toEqual(['web', 'db']);
    // A change b has not written yet stays on top of what it takes in from a.
    b.pods.upsert(pod('cache', 'n2'));
    a.pods.replaceNode('n2', []);
    a.pods.flush();
    expect(b.pods.refresh()).toBe(true);
    expect(b.pods.list().map((p) => p.name)).toEqual(['web', 'cache']);
    b.pods.flush();
    expect(a.pods.refresh()).toBe(true);
    expect(a.pods.list().map((p) => p.name)).toEqual(['web', 'cache']);
    expect(() => b.pods.replaceNode('n1', [pod('x', 'n3')])).toThrow('is on node n3, not n1');
    expect(b.pods.list().map((p) => p.name)).toEqual(['web', 'cache']);
  });

  it('keeps an unchanged pod the same object across a refresh (the model reuses what it built from it)', async () => {
    const root = mkdtempSync(join(dir, 'pods-'));
    const a = replica(root);
    const b = replica(root);
    a.pods.upsert(pod('web', 'n1'));
    a.pods.flush();
    b.pods.refresh();
    const web = b.pods.list()[0];
    a.pods.upsert(pod('db', 'n2'));
    a.pods.flush();
    expect(b.pods.refresh()).toBe(true);
    expect(b.pods.list()[0]).toBe(web);
  });
});

describe('reported pods on disk: a log of changes folded into the file', () => {
  const stampOf = (path: string) => {
    const stat = statSync(path, { bigint: true });
    return `${stat.ino}:${stat.mtimeNs}`;
  };
  const lines = (root: string) => readFileSync(join(root, 'pods.log'), 'utf8').split('\n').filter(Boolean);

  it('appends a change instead of rewriting the file, and a restart reads the file and the log', () => {
    const root = mkdtempSync(join(dir, 'pods-log-'));
    const a = replica(root);
    a.pods.replaceNode('n1', [pod('web', 'n1'), pod('db', 'n1')]);
    a.pods.flush();
    const file = join(root, 'pods.json');
    // Few pods: the first batch is below the fold size and goes to the log too.
    expect(lines(root)).toHaveLength(2);
    a.pods.upsert({ ...pod('web', 'n1'), labels: { version: 'v2' } });
    a.pods.remove('apps', 'db');
    a.pods.flush();
    expect(lines(root).map((line) => Object.keys(JSON.parse(line))[0])).toEqual([
      'set',
      'set',
      'set',
      'remove',
    ]);
    expect(existsSync(file)).toBe(false);
    const restarted = replica(root);
    expect(restarted.pods.list()).toEqual([{ ...pod('web', 'n1'), labels: { version: 'v2' } }]);
  });

  it('folds the log into the file once it is as long as the pods are many; another replica reads both again', () => {
    const root = mkdtempSync(join(dir, 'pods-log-'));
    const a = replica(root);
    const b = replica(root);
    const many = Array.from({ length: 1200 }, (_, i) => pod(`p${i}`, 'n1'));
    a.pods.replaceNode('n1', many);
    a.pods.flush();
    // A batch as large as the fold size is written as the file, with an empty log.
    const file = join(root, 'pods.json');
    const folded = stampOf(file);
    expect(lines(root)).toEqual([]);
    for (let i = 0; i < 1199; i++) {
      a.pods.upsert({ ...many[i]!, ready: false });
      a.pods.flush();
    }
    expect(stampOf(file)).toBe(folded);
    expect(lines(root)).toHaveLength(1199);
    expect(b.pods.refresh()).toBe(true);
    expect(b.pods.list().filter((p) => !p.ready)).toHaveLength(1199);
    // The 1200th entry reaches the fold size: the file is written again and the log emptied.
    a.pods.upsert({ ...many[1199]!, ready: false });
    a.pods.flush();
    expect(stampOf(file)).not.toBe(folded);
    expect(lines(root)).toEqual([]);
    expect(b.pods.refresh()).toBe(true);
    expect(b.pods.list().filter((p) => !p.ready)).toHaveLength(1200);
    expect(replica(root).pods.list()).toEqual(a.pods.list());
  });

  it('takes in a half-written line only once it is complete', () => {
    const root = mkdtempSync(join(dir, 'pods-log-'));
    const a = replica(root);
    const b = replica(root);
    a.pods.upsert(pod('web', 'n1'));
    a.pods.flush();
    expect(b.pods.refresh()).toBe(true);
    const line = `${JSON.stringify({ set: pod('db', 'n2') })}\n`;
    appendFileSync(join(root, 'pods.log'), line.slice(0, 20));
    expect(b.pods.refresh()).toBe(false);
    appendFileSync(join(root, 'pods.log'), line.slice(20));
    expect(b.pods.refresh()).toBe(true);
    expect(b.pods.list().map((p) => p.name)).toEqual(['web', 'db']);
  });
});

describe('state lock', () => {
  /** A process that takes the lock and holds it until it is killed. */
  async function holder(path: string): Promise<ChildProcess> {
    const lockModule = new URL('../../src/control/state/lock.ts', import.meta.url).href;
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { StateLock } = await import(${JSON.stringify(lockModule)});
         new StateLock(${JSON.stringify(path)}).run(() => {
           process.stdout.write('held\\n');
           Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000);
         });`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('held')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`lock holder exited (${code}) before holding`)));
    });
    return child;
  }

  it('excludes another process, and is free again once that process is killed with -9', async () => {
    const path = join(dir, 'held.lock');
    const child = await holder(path);
    const lock = new StateLock(path, { timeoutMs: 200 });
    let ran = false;
    let refused: unknown;
    try {
      lock.run(() => {
        ran = true;
      });
    } catch (error) {
      refused = error;
    }
    expect(ran).toBe(false);
    expect(refused).toBeInstanceOf(AmbitError);
    expect((refused as AmbitError).code).toBe('UNAVAILABLE');
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    expect(lock.run(() => 'ran')).toBe('ran');
    // Nested runs of one holder do not lock themselves out.
    expect(lock.run(() => lock.run(() => 'nested'))).toBe('nested');
    lock.close();
  });
});

describe('shared file watch', () => {
  it('calls back when another writer renames a new version into place', async () => {
    const root = mkdtempSync(join(dir, 'watch-'));
    const file = join(root, 'config.json');
    writeFileSync(file, '{}');
    let resolveSeen: () => void = () => {};
    const seen = new Promise<void>((resolve) => {
      resolveSeen = resolve;
    });
    const watcher = watchSharedFiles([file], () => resolveSeen(), 60_000);
    writeFileSync(`${file}.tmp`, '{"revision":1}');
    renameSync(`${file}.tmp`, file);
    await seen;
    watcher.close();
  });
});

describe('leader lease', () => {
  const now = new Date('2026-01-01T00:00:30Z');
  const record = (holder: string, renewedSecondsAgo: number, transitions = 0): LeaseRecord => ({
    holderIdentity: holder,
    leaseDurationSeconds: 15,
    acquireTime: '2026-01-01T00:00:00.000Z',
    renewTime: new Date(now.getTime() - renewedSecondsAgo * 1000).toISOString(),
    leaseTransitions: transitions,
  });
  it.each<[string, LeaseRecord | undefined, 'renew' | 'take' | 'leave']>([
    ['no lease yet', undefined, 'take'],
    ['ours, fresh', record('a', 1), 'renew'],
    ['ours, expired (we were paused)', record('a', 20), 'renew'],
    ['theirs, fresh', record('b', 14), 'leave'],
    ['theirs, expired (holder killed)', record('b', 15, 3), 'take'],
    ['given up', record('', 1, 2), 'take'],
  ])('%s: %s', (_what, current, action) => {
    const next = nextLease(current, 'a', 15, now);
    if (action === 'leave') return expect(next).toBeUndefined();
    expect(next).toMatchObject({ holderIdentity: 'a', renewTime: now.toISOString() });
    expect(holds(next, 'a', now)).toBe(true);
    if (action === 'renew') expect(next!.acquireTime).toBe(current!.acquireTime);
    else expect(next!.leaseTransitions).toBe(current ? current.leaseTransitions + 1 : 0);
  });

  it('has one holder among replicas, and passes on when the holder gives it up', () => {
    const root = mkdtempSync(join(dir, 'lease-'));
    const lease = (identity: string) =>
      new FileLease({ stateDir: root, lock: new StateLock(join(root, 'state.lock')), identity, log: quiet });
    const a = lease('a');
    const b = lease('b');
    a.start();
    b.start();
    expect([a.leading(), b.leading()]).toEqual([true, false]);
    expect(b.record()?.holderIdentity).toBe('a');
    a.stop();
    expect(a.leading()).toBe(false);
    const c = lease('c');
    c.start();
    expect(c.leading()).toBe(true);
    expect(c.record()?.leaseTransitions).toBe(1);
    b.stop();
    c.stop();
  });
});
