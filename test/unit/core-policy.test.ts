import { describe, expect, it } from 'vitest';
import type { PolicyScope } from '../../src/core/model/index.ts';
import { policyApplies, policyScope } from '../../src/core/policy/scope.ts';
import { labelsMatch } from '../../src/core/policy/selector.ts';
import { stringMatches } from '../../src/core/policy/string-match.ts';

const ROOT = 'istio-system';

describe('policyScope', () => {
  it.each([
    [ROOT, undefined, 'mesh'],
    [ROOT, { app: 'a' }, 'workload'],
    [ROOT, {}, 'workload'],
    ['shop', undefined, 'namespace'],
    ['shop', { app: 'a' }, 'workload'],
  ] as const)('a policy in %s with selector %j has scope %s', (namespace, selector, scope) => {
    expect(policyScope(namespace, selector)).toBe(scope);
  });
});

describe('policyApplies (Istio scoping)', () => {
  const web = { namespace: 'shop', labels: { app: 'web', version: 'v1' } };
  const other = { namespace: 'bank', labels: { app: 'web' } };
  const policy = (namespace: string, selector?: Record<string, string>) => ({
    namespace,
    selector,
    scope: policyScope(namespace, selector) as PolicyScope,
  });
  it.each([
    ['root, no selector: every workload', policy(ROOT), web, true],
    ['root, no selector: every namespace', policy(ROOT), other, true],
    ['root, selector: matching workloads of every namespace', policy(ROOT, { app: 'web' }), other, true],
    ['root, selector: not the others', policy(ROOT, { app: 'db' }), web, false],
    ['namespace, no selector: its own namespace', policy('shop'), web, true],
    ['namespace, no selector: not another one', policy('shop'), other, false],
    ['namespace, selector: matching workloads there', policy('shop', { version: 'v1' }), web, true],
    ['namespace, selector: not in another namespace', policy('shop', { app: 'web' }), other, false],
    ['namespace, selector: not when a label differs', policy('shop', { version: 'v2' }), web, false],
    ['namespace, empty selector: all of its namespace', policy('shop', {}), web, true],
    [
      'a mesh scope with a selector (never compiled so) is held to it',
      { namespace: ROOT, scope: 'mesh' as const, selector: { app: 'db' } },
      web,
      false,
    ],
  ])('%s', (_name, scoped, workload, expected) => {
    expect(policyApplies(scoped, workload)).toBe(expected);
  });
});

describe('labelsMatch', () => {
  it.each([
    [{}, { app: 'a' }, true],
    [{ app: 'a' }, { app: 'a', tier: 'x' }, true],
    [{ app: 'a' }, { app: 'b' }, false],
    [{ app: 'a' }, {}, false],
    [{ app: '' }, { app: '' }, true],
    [{ app: '' }, {}, false],
  ])('%j on %j: %s', (selector, labels, expected) => {
    expect(labelsMatch(selector, labels)).toBe(expected);
  });
});

describe('stringMatches (AuthorizationPolicy)', () => {
  it.each([
    ['ns-a', 'ns-a', true],
    ['ns-a', 'ns-b', false],
    ['*', 'anything', true],
    ['*', '', false],
    ['*', undefined, false],
    ['ns-*', 'ns-prod', true],
    ['ns-*', 'ns-', true],
    ['ns-*', 'prod-ns', false],
    ['*-prod', 'shop-prod', true],
    ['*-prod', 'shop-dev', false],
    ['exact', undefined, false],
    ['', '', true],
  ])('%j against %j: %s', (pattern, value, expected) => {
    expect(stringMatches(pattern, value)).toBe(expected);
  });
});
