/**
 * The config store: atomic applies (a set with any error changes nothing), revisions, deletes, file origins,
 * and persistence across a restart (what is reloaded is validated again).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileSource } from '../../src/control/config/files.ts';
import { ConfigStore } from '../../src/control/config/store.ts';
import { CONTROL_KINDS } from '../../src/control/kinds.ts';
import { ConfigError, formatIssue } from '../../src/core/config/issues.ts';
import { configureLogging, createLogger } from '../../src/core/log.ts';

const dir = mkdtempSync(join(tmpdir(), 'ambit-store-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const dr = (name: string, host = 'reviews') =>
  `apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: ${name}, namespace: default}\nspec:\n  host: ${host}\n  subsets: [{name: v1, labels: {version: v1}}]\n`;
const vs =
  'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews}\nspec:\n  hosts: [reviews]\n  http: [{route: [{destination: {host: reviews, subset: v2}}]}]\n';
const file = (name: string, content: string) => ({ name, content });

describe('config store', () => {
  it('creates, reports unchanged and configured, and bumps the revision only on change', () => {
    const store = new ConfigStore(CONTROL_KINDS, 'cluster.local');
    const first = store.apply([file('a.yaml', dr('reviews'))]);
    expect(first).toMatchObject({
      revision: 1,
      created: ['DestinationRule default/reviews'],
      configured: [],
      unchanged: [],
    });
    expect(store.apply([file('a.yaml', dr('reviews'))])).toMatchObject({
      revision: 1,
      unchanged: ['DestinationRule default/reviews'],
    });
    expect(store.apply([file('a.yaml', dr('reviews', 'ratings'))])).toMatchObject({
      revision: 2,
      configured: ['DestinationRule default/reviews'],
    });
  });

  it('refuses a whole set when one document has an error, and keeps the previous config', () => {
    const store = new ConfigStore(CONTROL_KINDS, 'cluster.local');
    store.apply([file('a.yaml', dr('reviews'))]);
    const bad = `${dr('reviews', 'ratings')}---\n${dr('other').replace('name: v1', 'name: V1')}`;
    let error: unknown;
    try {
      store.apply([file('b.yaml', bad)]);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map(formatIssue)).toEqual([
      'b.yaml: document 2 (DestinationRule default/other): spec.subsets[0].name: invalid value "V1": subset names are lowercase alphanumerics and - (DNS-1123 label)',
    ]);
    expect(store.revision).toBe(1);
    expect(store.resources().map((r) => (r.spec as { host: string }).host)).toEqual(['reviews']);
  });

  it('returns warnings about what was applied (a subset no DestinationRule defines) without refusing it', () => {
    const store = new ConfigStore(CONTROL_KINDS, 'cluster.local');
    store.apply([file('dr.yaml', dr('reviews'))]);
    const result = store.apply([file('vs.yaml', vs)]);
    expect(result.created).toEqual(['VirtualService default/reviews']);
    expect(result.issues.map(formatIssue)).toEqual([
      'warning: vs.yaml: document 1 (VirtualService default/reviews): spec.http[0].route[0].destination.host: host reviews.default.svc.cluster.local is not a Service in the mesh',
      'warning: vs.yaml: document 1 (VirtualService default/reviews): spec.http[0].route[0].destination.subset: subset "v2" of reviews.default.svc.cluster.local is not defined by any DestinationRule',
    ]);
  });

  it('deletes by kind, namespace and name, and reports what does not exist', () => {
    const store = new ConfigStore(CONTROL_KINDS, 'cluster.local');
    store.apply([file('a.yaml', `${dr('reviews')}---\n${dr('ratings')}`)]);
    // The file's spec no longer validates (a stale copy): it still names what to delete.
    const stale = dr('reviews').replace('host: reviews', 'host: "a..b"');
    const result = store.delete([file('a.yaml', `${stale}---\n${dr('gone')}`)]);
    expect(result).toMatchObject({
      revision: 2,
      deleted: ['DestinationRule default/reviews'],
      notFound: ['DestinationRule default/gone'],
    });
    expect(store.resources().map((r) => r.metadata.name)).toEqual(['ratings']);
  });

  it('replaces what a file origin owns, and ignores a bad edit of that file', () => {
    const store = new ConfigStore(CONTROL_KINDS, 'cluster.local');
    store.replaceOrigin('file:/x/a.yaml', [file('a.yaml', `${dr('one')}---\n${dr('two')}`)]);
    store.apply([file('api.yaml', dr('three'))]);
    store.replaceOrigin('file:/x/a.yaml', [file('a.yaml', dr('two', 'ratings'))]);
    expect(
      store
        .list()
        .map((e) => `${e.resource.metadata.name}:${e.origin}`)
        .sort(),
    ).toEqual(['three:api', 'two:file:/x/a.yaml']);
    expect(() => store.replaceOrigin('file:/x/a.yaml', [file('a.yaml', 'kind: [')])).toThrow(ConfigError);
    expect(
      store
        .resources()
        .map((r) => r.metadata.name)
        .sort(),
    ).toEqual(['three', 'two']);
    expect(store.removeOrigin('file:/x/a.yaml')).toEqual(['DestinationRule default/two']);
  });

  it('persists config and revision across a restart, with the documents as written', () => {
    const path = join(dir, 'config.json');
    const store = new ConfigStore(CONTROL_KINDS, 'cluster.local', path);
    store.apply([file('a.yaml', `# comment\n${dr('reviews')}`)]);
    store.apply([file('b.yaml', vs)]);
    const restarted = new ConfigStore(CONTROL_KINDS, 'cluster.local', path);
    expect(restarted.revision).toBe(2);
    expect(restarted.list().map((e) => [e.resource.kind, e.resource.source, e.origin])).toEqual([
      ['DestinationRule', { file: 'a.yaml', document: 1 }, 'api'],
      ['VirtualService', { file: 'b.yaml', document: 1 }, 'api'],
    ]);
    expect(restarted.list()[0]!.document).toMatchObject({
      kind: 'DestinationRule',
      spec: { host: 'reviews' },
    });
  });

  it('refuses to start from stored config that no longer validates (rather than dropping policy)', () => {
    const path = join(dir, 'bad-config.json');
    const document = {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'p' },
      spec: { action: 'NOPE' },
    };
    writeFileSync(
      path,
      JSON.stringify({
        revision: 3,
        entries: [{ origin: 'api', source: { file: 'p.yaml', document: 1 }, document }],
      }),
    );
    expect(() => new ConfigStore(CONTROL_KINDS, 'cluster.local', path)).toThrow(
      /no longer validates:\n {2}p\.yaml: document 1 \(AuthorizationPolicy default\/p\): spec\.action/,
    );
  });

  it('a restart does not apply an unchanged watched file again over what the API changed since', () => {
    const path = join(dir, 'watched-config.json');
    const watched = join(dir, 'watched.yaml');
    writeFileSync(watched, `${dr('reviews')}---\n${dr('ratings')}`);
    const hosts = (store: ConfigStore) =>
      store
        .list()
        .map((e) => `${e.resource.metadata.name}:${(e.resource.spec as { host: string }).host}:${e.origin}`)
        .sort();
    configureLogging({ level: 'error' });
    const log = createLogger('test');
    const run = (store: ConfigStore) => {
      const source = new FileSource(store, [watched], log);
      source.start();
      source.stop();
      return store;
    };
    const first = run(new ConfigStore(CONTROL_KINDS, 'cluster.local', path));
    first.apply([file('override.yaml', dr('reviews', 'details'))]);
    const revision = first.revision;
    const restarted = run(new ConfigStore(CONTROL_KINDS, 'cluster.local', path));
    expect(restarted.revision).toBe(revision);
    expect(hosts(restarted)).toEqual([`ratings:reviews:file:${watched}`, 'reviews:details:api']);
    // An edit of the file while stopped is applied at the next start, as before.
    writeFileSync(watched, dr('reviews', 'edited'));
    const edited = run(new ConfigStore(CONTROL_KINDS, 'cluster.local', path));
    expect(hosts(edited)).toEqual([`reviews:edited:file:${watched}`]);
  });
});
