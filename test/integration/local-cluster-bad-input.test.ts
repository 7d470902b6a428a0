/**
 * Bad cluster files are refused by `ambit local up` with the file, document, resource and field named, and
 * nothing is created: no state, no namespace, no route.
 */

import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { ambit } from '../support/cli.ts';
import {
  leftovers,
  makeStateRoot,
  NOTHING_LEFT,
  uniqueName,
  writeClusterFile,
} from '../support/local-cluster.ts';
import { canRunNetnsTests } from '../support/privileges.ts';

const cluster = (name: string, extra = '') =>
  `apiVersion: ambit.dev/v1alpha1\nkind: Cluster\nmetadata: {name: ${name}}\nspec:\n  nodes: [{name: n1}, {name: n2}]\n${extra}`;
const pod = (name: string, spec = '  containers: [{name: c, command: [sleep, infinity]}]') =>
  `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}}\nspec:\n${spec}`;

const CASES: [string, (name: string) => string[], string][] = [
  [
    'an unknown kind',
    (name) => [cluster(name), pod('a'), 'apiVersion: v1\nkind: Widget\nmetadata: {name: s}'],
    'document 3: kind: unknown kind "Widget"',
  ],
  [
    'a pod on a node that does not exist',
    (name) => [cluster(name), pod('a', '  nodeName: n7\n  containers: [{name: c, command: [sleep, "1"]}]')],
    'document 2 (Pod default/a): spec.nodeName: node "n7" does not exist',
  ],
  [
    'a duplicate name',
    (name) => [cluster(name), pod('a'), pod('a')],
    'document 3 (Pod default/a): metadata.name: duplicate Pod default/a: first defined in',
  ],
  [
    'an invalid CIDR',
    (name) => [cluster(name, '  podCIDR: 10.244.0.0/33'), pod('a')],
    'document 1 (Cluster NAME): spec.podCIDR: invalid CIDR "10.244.0.0/33"',
  ],
  [
    'a missing command',
    (name) => [cluster(name), pod('a', '  containers: [{name: c}]')],
    'document 2 (Pod default/a): spec.containers[0].command: required in the local cluster',
  ],
  [
    'a YAML syntax error',
    (name) => [cluster(name), 'kind: Pod\nmetadata: {name: [unclosed'],
    'document 2: YAML syntax error',
  ],
];

describe.runIf(canRunNetnsTests())('ambit local up: bad cluster files', () => {
  const root = makeStateRoot();
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it.each(CASES)(
    'refuses %s, naming file, document and field, and creates nothing',
    async (_what, documents, message) => {
      const name = uniqueName('it-bad');
      const file = writeClusterFile(root, name, documents(name).join('\n---\n'));
      const result = await ambit(['local', 'up', '-f', file], { stateRoot: root });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('nothing was applied');
      expect(result.stderr).toContain(`${file}: ${message.replace('NAME', name)}`);
      expect(leftovers(name, root)).toEqual(NOTHING_LEFT);
    },
  );

  it('says what is wrong with the command line', async () => {
    expect((await ambit(['local', 'up'], { stateRoot: root })).stderr).toContain('up needs a cluster file');
    const missing = await ambit(['local', 'up', '-f', `${root}/missing.yaml`], { stateRoot: root });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no such file');
    expect((await ambit(['local', 'exec', 'a'], { stateRoot: root })).stderr).toContain(
      'exec needs a command after --',
    );
    expect((await ambit(['local', 'down', '--name', 'Bad_Name'], { stateRoot: root })).stderr).toContain(
      'invalid cluster name',
    );
  });
});
