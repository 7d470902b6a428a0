/** Selecting pods by namespace and labels through the index agrees with checking every pod. */
import { describe, expect, it } from 'vitest';
import { PodIndex } from '../../src/control/model/pod-index.ts';
import type { PodRecord } from '../../src/control/pods/pod-source.ts';
import { labelsMatch } from '../../src/core/policy/selector.ts';

const pod = (name: string, namespace: string, labels: Record<string, string>): PodRecord => ({
  uid: `${namespace}/${name}`,
  name,
  namespace,
  node: 'n',
  ips: ['10.0.0.1'],
  serviceAccount: 'default',
  labels,
  ready: true,
  ports: [],
});

const pods = [
  pod('a', 'shop', { app: 'cart', version: 'v1' }),
  pod('b', 'shop', { app: 'cart', version: 'v2' }),
  pod('c', 'shop', { app: 'web' }),
  pod('d', 'other', { app: 'cart', version: 'v1' }),
  pod('e', 'shop', { app: 'cart', version: 'v1', tier: 'x=y' }),
];

describe('PodIndex.select', () => {
  it.each<[string, string, Record<string, string>, string[]]>([
    ['one label', 'shop', { app: 'cart' }, ['a', 'b', 'e']],
    ['two labels', 'shop', { app: 'cart', version: 'v1' }, ['a', 'e']],
    ['another namespace', 'other', { app: 'cart' }, ['d']],
    ['no pod has the label', 'shop', { app: 'db' }, []],
    ['one label matches, the other does not', 'shop', { app: 'web', version: 'v1' }, []],
    ['an empty selector selects nothing (as a Service without selector)', 'shop', {}, []],
    ['an unknown namespace', 'nowhere', { app: 'cart' }, []],
    ['a value with = in it is not confused with another key', 'shop', { tier: 'x=y' }, ['e']],
    ['nor split across key and value', 'shop', { 'tier=x': 'y' }, []],
  ])('%s', (_what, namespace, selector, expected) => {
    const index = new PodIndex(pods);
    expect(index.select(namespace, selector).map((p) => p.name)).toEqual(expected);
    // The same as checking every pod, where a selector selects anything at all.
    if (Object.keys(selector).length > 0) {
      expect(
        pods.filter((p) => p.namespace === namespace && labelsMatch(selector, p.labels)).map((p) => p.name),
      ).toEqual(expected);
    }
  });
});
