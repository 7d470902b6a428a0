import { describe, expect, it } from 'vitest';
import { parseYamlText } from '../../src/core/config/documents.ts';
import { parseDuration } from '../../src/core/config/duration.ts';
import type { Field } from '../../src/core/config/field.ts';
import { formatIssue } from '../../src/core/config/issues.ts';
import { kindRegistry, parseResources } from '../../src/core/config/resource.ts';

interface WidgetSpec {
  size: number;
  mode: 'a' | 'b' | undefined;
}

const widget = {
  kind: 'Widget',
  apiVersions: ['test.ambit.dev/v1'],
  namespaced: true,
  parse(doc: Field): WidgetSpec | undefined {
    const spec = doc.child('spec').object(['size', 'mode'], { required: true });
    if (!spec) return undefined;
    const size = spec.child('size').integer({ required: true, min: 1 });
    const mode = spec.child('mode').oneOf(['a', 'b'] as const);
    return size === undefined ? undefined : { size, mode };
  },
};
const registry = kindRegistry([widget]);

function parse(text: string) {
  const { documents, issues } = parseYamlText(text, 'w.yaml');
  const parsed = parseResources(documents, registry);
  return { resources: parsed.resources, messages: [...issues, ...parsed.issues].map(formatIssue) };
}

describe('resource parsing', () => {
  it('parses a valid document and defaults the namespace', () => {
    const { resources, messages } = parse(
      'apiVersion: test.ambit.dev/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 3}\n',
    );
    expect(messages).toEqual([]);
    expect(resources).toHaveLength(1);
    expect(resources[0]!.metadata).toEqual({ name: 'w1', namespace: 'default', labels: {}, annotations: {} });
    expect(resources[0]!.spec).toEqual({ size: 3, mode: undefined });
    expect(resources[0]!.source).toEqual({ file: 'w.yaml', document: 1 });
  });

  it('names file, document, resource and field in every error, and reports all of them', () => {
    const text = [
      'apiVersion: test.ambit.dev/v1\nkind: Widget\nmetadata: {name: ok}\nspec: {size: 1}',
      'apiVersion: test.ambit.dev/v1\nkind: Widget\nmetadata: {name: bad, namespace: ns1}\nspec: {size: 0, mode: c, colour: red}',
      'apiVersion: v9\nkind: Gadget\nmetadata: {name: g}',
    ].join('\n---\n');
    const { resources, messages } = parse(text);
    expect(resources.map((r) => r.metadata.name)).toEqual(['ok']);
    expect(messages).toEqual([
      'w.yaml: document 2 (Widget ns1/bad): spec.colour: unknown field (known fields: size, mode)',
      'w.yaml: document 2 (Widget ns1/bad): spec.size: must be at least 1, got 0',
      'w.yaml: document 2 (Widget ns1/bad): spec.mode: invalid value "c": must be one of a, b',
      'w.yaml: document 3: kind: unknown kind "Gadget": known kinds are Widget',
    ]);
  });

  it('reports YAML syntax errors with the line, and duplicates with the first definition', () => {
    expect(parse('a: [1, 2\n').messages[0]).toMatch(/^w\.yaml: document 1: YAML syntax error at line \d+/);
    const dup = 'apiVersion: test.ambit.dev/v1\nkind: Widget\nmetadata: {name: x}\nspec: {size: 1}\n';
    expect(parse(`${dup}---\n${dup}`).messages).toEqual([
      'w.yaml: document 2 (Widget default/x): metadata.name: duplicate Widget default/x: first defined in w.yaml document 1',
    ]);
  });
});

describe('durations', () => {
  it.each([
    ['100ms', 100],
    ['1.5s', 1500],
    ['1m30s', 90_000],
    ['2h', 7_200_000],
    ['250us', 0.25],
  ])('%s is %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', '10', 's', '1.s', '-1s', '1d', '1s '])('rejects %j', (text) =>
    expect(parseDuration(text)).toBeUndefined(),
  );
});
