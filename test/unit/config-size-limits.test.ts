/**
 * Issue 8, defect 3 (one oversized policy froze the mesh's config): validation refuses a resource over the
 * per-resource limit and a change that would grow the whole config over its limit, naming the file, the
 * document, the field and the limit, and nothing is applied; a YAML alias bomb is a config error naming its
 * file and document. The limits fit inside what gRPC carries on both ends.
 */
import { describe, expect, it } from 'vitest';
import { ConfigStore } from '../../src/control/config/store.ts';
import { CONTROL_KINDS } from '../../src/control/kinds.ts';
import { ConfigError, formatIssue } from '../../src/core/config/issues.ts';
import { largestField, MAX_CONFIG_BYTES, oversizedTexts } from '../../src/core/config/size-limits.ts';
import { MAX_GRPC_MESSAGE_BYTES, MAX_SNAPSHOT_BYTES } from '../../src/core/grpc/limits.ts';

const file = (name: string, content: string) => ({ name, content });

/** An ALLOW policy with `count` principals (200,000 made the 12.8 MB policy of the issue). */
function policy(name: string, count: number): string {
  const principals = Array.from({ length: count }, (_, i) => `cluster.local/ns/shop/sa/client-${i}`);
  return `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ${name}, namespace: shop}
spec:
  action: ALLOW
  rules: [{from: [{source: {principals: ${JSON.stringify(principals)}}}]}]
`;
}

function refusal(apply: () => unknown): string[] {
  try {
    apply();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues.map(formatIssue);
  }
  throw new Error('the apply was not refused');
}

/** Small limits, so that the cases stay quick to parse: 64 KiB per resource, 256 KiB in all. */
const small = { resourceBytes: 64 * 1024, configBytes: 256 * 1024 };

describe('config size limits', () => {
  it('refuses the 12.8 MB policy of the issue from its text, naming file, document and limit', () => {
    const store = new ConfigStore(CONTROL_KINDS, 'cluster.local');
    store.apply([file('small.yaml', policy('small', 3))]);
    const issues = refusal(() =>
      store.apply([file('huge.yaml', `${policy('fine', 3)}---\n${policy('huge', 200_000)}`)]),
    );
    expect(issues).toEqual([
      expect.stringMatching(
        /^huge\.yaml: document 2: the document's YAML is [\d.]+ MiB, over 2\.0 MiB \(the limit per resource is 1\.0 MiB\); not parsed$/,
      ),
    ]);
    expect(store.revision).toBe(1);
    expect(store.list().map((entry) => entry.resource.metadata.name)).toEqual(['small']);
  });

  it('refuses a parsed resource over the limit naming the field that holds its bytes', () => {
    const store = new ConfigStore(CONTROL_KINDS, 'cluster.local', undefined, small);
    const issues = refusal(() =>
      store.apply([file('big.yaml', `${policy('fine', 3)}---\n${policy('big', 2_000)}`)]),
    );
    expect(issues).toEqual([
      expect.stringMatching(
        /^big\.yaml: document 2 \(AuthorizationPolicy shop\/big\): spec\.rules\[0\]\.from\[0\]\.source\.principals: the resource is [\d.]+ KiB \(this field [\d.]+ KiB\); the limit per resource is 64\.0 KiB$/,
      ),
    ]);
    expect(store.revision).toBe(0);
  });

  it('refuses a change that would grow the whole config over its limit, and keeps the config in force', () => {
    const store = new ConfigStore(CONTROL_KINDS, 'cluster.local', undefined, small);
    // Each policy about 40 KiB: six fit in 256 KiB, the seventh would not.
    for (let i = 0; i < 6; i++) store.apply([file(`p${i}.yaml`, policy(`p${i}`, 1_000))]);
    const issues = refusal(() => store.apply([file('last.yaml', policy('last', 1_000))]));
    expect(issues).toEqual([
      expect.stringMatching(
        /^last\.yaml: document 1 \(AuthorizationPolicy shop\/last\): the config would be [\d.]+ KiB in all \(this resource [\d.]+ KiB\); the limit for the whole config is 256\.0 KiB$/,
      ),
    ]);
    expect(store.revision).toBe(6);
    // Replacing a resource counts its new size, not both.
    expect(store.apply([file('p0.yaml', policy('p0', 900))]).configured).toEqual([
      'AuthorizationPolicy shop/p0',
    ]);
  });

  it('reports a YAML alias bomb as a config error of its file and document', () => {
    const store = new ConfigStore(CONTROL_KINDS, 'cluster.local');
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array(10).fill(`*${prev}`).join(', ')}]`);
    }
    const bomb = `apiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n---\n${levels.join('\n')}\n`;
    const issues = refusal(() => store.apply([file('bomb.yaml', bomb)]));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatch(/^bomb\.yaml: document 2: YAML not expanded: /);
  });

  it.each([
    [{ spec: { rules: [{ from: ['x'.repeat(100)] }], other: 1 } }, 'spec.rules[0].from[0]'],
    [{ a: 'x'.repeat(10), b: 'y'.repeat(10) }, ''],
    ['plain', ''],
  ])('finds the field that holds most bytes: %j', (value, path) => {
    expect(largestField(value).path).toBe(path);
  });

  it.each([
    ['a: 1\n---\nb: 1\n---\n', [3]],
    ['---\nb: 1\n---\n', [2]],
    ['# comment\n---\nb: 1\n---\n', [2]],
    ['', [1]],
  ])('numbers an oversized document as the parser does: %j + a big one', (head, expected) => {
    const text = `${head}big: "${'x'.repeat(300)}"\n`;
    expect(oversizedTexts(text, 'f.yaml', 100).map((issue) => issue.source.document)).toEqual(expected);
  });

  it('fits a config at its limit into a snapshot, and a snapshot into a gRPC message on both ends', () => {
    expect(MAX_CONFIG_BYTES).toBeLessThan(MAX_SNAPSHOT_BYTES);
    expect(MAX_SNAPSHOT_BYTES).toBeLessThan(MAX_GRPC_MESSAGE_BYTES);
  });
});
