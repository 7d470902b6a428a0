/**
 * The remaining connection pool knobs as tables: a cluster's connection settings from `connectionPool`
 * (connect timeout default 10 s, requests per connection, idle timeout), the retry budget's allowance
 * (a share of active and pending requests with a floor, replacing maxRetries), its merge into a cluster's
 * policy with Istio's defaults, and its validation in a DestinationRule.
 */
import { describe, expect, it } from 'vitest';
import { parseFiles } from '../../src/control/config/parse.ts';
import { CONTROL_KINDS } from '../../src/control/kinds.ts';
import { mergedPolicy } from '../../src/control/model/l7/clusters.ts';
import { formatIssue } from '../../src/core/config/issues.ts';
import type { ConnectionPoolSettings, TrafficPolicy } from '../../src/core/config/kinds/istio-networking.ts';
import { ClusterLimits, limitsOf, retryAllowance } from '../../src/waypoint/resilience/limits.ts';
import {
  type ConnectionSettings,
  connectionSettings,
  settingsKey,
} from '../../src/waypoint/upstream/connection-settings.ts';

describe('connection settings', () => {
  it.each<[string, ConnectionPoolSettings | undefined, ConnectionSettings]>([
    [
      'none: 10 s connect timeout, unlimited requests',
      undefined,
      { connectTimeoutMs: 10_000, maxRequestsPerConnection: 0 },
    ],
    [
      'tcp.connectTimeout',
      { tcp: { connectTimeout: 250 } },
      { connectTimeoutMs: 250, maxRequestsPerConnection: 0, idleTimeoutMs: undefined },
    ],
    [
      'maxRequestsPerConnection 1 (no keep-alive)',
      { http: { maxRequestsPerConnection: 1 } },
      { connectTimeoutMs: 10_000, maxRequestsPerConnection: 1, idleTimeoutMs: undefined },
    ],
    [
      'http.idleTimeout wins over tcp.idleTimeout',
      { tcp: { idleTimeout: 9000 }, http: { idleTimeout: 1500 } },
      { connectTimeoutMs: 10_000, maxRequestsPerConnection: 0, idleTimeoutMs: 1500 },
    ],
    [
      'tcp.idleTimeout alone',
      { tcp: { idleTimeout: 9000 } },
      { connectTimeoutMs: 10_000, maxRequestsPerConnection: 0, idleTimeoutMs: 9000 },
    ],
    [
      'an idle timeout of 0 is none',
      { http: { idleTimeout: 0 } },
      { connectTimeoutMs: 10_000, maxRequestsPerConnection: 0, idleTimeoutMs: undefined },
    ],
  ])('%s', (_name, pool, expected) => {
    expect(connectionSettings(pool)).toEqual(expected);
  });

  it('keys pools apart by every setting', () => {
    const keys = [
      {},
      { tcp: { connectTimeout: 1 } },
      { http: { maxRequestsPerConnection: 1 } },
      { http: { idleTimeout: 5 } },
    ].map((pool) => settingsKey(connectionSettings(pool)));
    expect(new Set(keys).size).toBe(4);
  });
});

describe('retry budget', () => {
  const budget = (percent: number, minRetryConcurrency: number) =>
    limitsOf({ http: { maxRetries: 1 } }, 'http1', { percent, minRetryConcurrency });
  it.each<[string, ReturnType<typeof limitsOf>, number, number, number]>([
    ['no budget: maxRetries', limitsOf({ http: { maxRetries: 7 } }, 'http1'), 100, 0, 7],
    ['no budget, nothing set: unlimited', limitsOf(undefined, 'http1'), 100, 0, 2 ** 32 - 1],
    ['20% of 100 active', budget(20, 3), 100, 0, 20],
    ['pending requests count too', budget(20, 3), 50, 50, 20],
    ['rounded down', budget(20, 0), 9, 0, 1],
    ['never below the floor (and maxRetries is not used)', budget(20, 3), 4, 0, 3],
    ['a budget of 0% with no floor allows none', budget(0, 0), 100, 0, 0],
    ['100% of the active requests', budget(100, 1), 12, 0, 12],
  ])('%s', (_name, limits, active, pending, allowed) => {
    expect(retryAllowance({ active, pending }, limits)).toBe(allowed);
  });

  it('refuses a retry over the budget and frees the budget when retries end', async () => {
    const limits = budget(50, 1);
    const clusters = new ClusterLimits();
    const slots = await Promise.all(Array.from({ length: 4 }, () => clusters.acquire('c', limits)));
    // 4 active at 50%: two concurrent retries.
    const first = clusters.beginRetry('c', limits);
    const second = clusters.beginRetry('c', limits);
    expect(first).toBeDefined();
    expect(second).toBeDefined();
    expect(clusters.beginRetry('c', limits)).toBeUndefined();
    first!();
    expect(clusters.beginRetry('c', limits)).toBeDefined();
    for (const slot of slots) slot!();
  });

  it.each<[string, TrafficPolicy | undefined, TrafficPolicy | undefined, unknown]>([
    ['none', undefined, undefined, undefined],
    ["Istio's defaults fill what is unset", policy({}), undefined, { percent: 20, minRetryConcurrency: 3 }],
    [
      'top-level values',
      policy({ percent: 5, minRetryConcurrency: 0 }),
      undefined,
      { percent: 5, minRetryConcurrency: 0 },
    ],
    [
      "a subset's budget replaces the top-level one",
      policy({ percent: 5 }),
      policy({ minRetryConcurrency: 9 }),
      { percent: 20, minRetryConcurrency: 9 },
    ],
    [
      'a subset without one keeps the top-level one',
      policy({ percent: 5 }),
      { portLevelSettings: [] },
      { percent: 5, minRetryConcurrency: 3 },
    ],
  ])('merge: %s', (_name, top, subset, expected) => {
    expect(mergedPolicy(top, subset, 80).retryBudget).toEqual(expected);
  });

  function policy(retryBudget: TrafficPolicy['retryBudget']): TrafficPolicy {
    return { portLevelSettings: [], retryBudget };
  }
});

describe('retryBudget in a DestinationRule', () => {
  const check = (budget: string) =>
    parseFiles(
      [
        {
          name: 'dr.yaml',
          content: `apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d, namespace: shop}\nspec:\n  host: cart\n  trafficPolicy:\n    retryBudget: ${budget}\n`,
        },
      ],
      CONTROL_KINDS,
    ).issues.map(formatIssue);
  const at = (field: string, message: string) =>
    `dr.yaml: document 1 (DestinationRule shop/d): spec.trafficPolicy.retryBudget.${field}: ${message}`;
  it.each<[string, string, string[]]>([
    ['valid', '{percent: {value: 25}, minRetryConcurrency: 5}', []],
    ['empty (defaults)', '{}', []],
    ['budgetInterval 0s is what Ambit does', '{budgetInterval: 0s}', []],
    [
      'a budgetInterval is not applied (warning)',
      '{budgetInterval: 10s}',
      [
        `warning: ${at('budgetInterval', 'not applied: Ambit budgets retries against the requests active now (as with budgetInterval 0s)')}`,
      ],
    ],
    ['percent over 100', '{percent: {value: 120}}', [at('percent.value', 'must be at most 100, got 120')]],
    [
      'a negative floor',
      '{minRetryConcurrency: -1}',
      [at('minRetryConcurrency', 'must be at least 0, got -1')],
    ],
    [
      'an unknown field',
      '{percentage: 5}',
      [at('percentage', 'unknown field (known fields: percent, minRetryConcurrency, budgetInterval)')],
    ],
  ])('%s', (_name, budget, messages) => {
    expect(check(budget)).toEqual(messages);
  });
});
