/** The rollouts of several control-plane replicas as one report: what each client counts as, by table. */
import { describe, expect, it } from 'vitest';
import { mergeRollouts } from '../../src/cli/rollout-report.ts';
import type { RolloutClient, RolloutReport } from '../../src/core/control-api/types.ts';

const ztunnel = (node: string, state: RolloutClient['state']): RolloutClient => ({
  kind: 'ztunnel',
  node,
  state,
});
const report = (version: string, clients: RolloutClient[], timedOut = false): RolloutReport => ({
  revision: 7,
  version,
  timedOut,
  clients,
});

describe('rollouts of replicas merged', () => {
  it.each<[string, RolloutReport[], RolloutClient[], boolean]>([
    [
      'clients split over replicas, all took it',
      [report('3', [ztunnel('n1', 'acked')]), report('5', [ztunnel('n2', 'acked')])],
      [ztunnel('n1', 'acked'), ztunnel('n2', 'acked')],
      false,
    ],
    [
      'a client that moved: gone from one, took it on the other',
      [report('3', [ztunnel('n1', 'gone')], true), report('5', [ztunnel('n1', 'acked')])],
      [ztunnel('n1', 'acked')],
      false,
    ],
    [
      'a client that moved and refused it on the other',
      [report('5', [ztunnel('n1', 'nacked')]), report('3', [ztunnel('n1', 'pending')], true)],
      [ztunnel('n1', 'nacked')],
      false,
    ],
    [
      'a client pending everywhere',
      [report('3', [ztunnel('n1', 'pending')], true), report('5', [ztunnel('n2', 'acked')])],
      [ztunnel('n1', 'pending'), ztunnel('n2', 'acked')],
      true,
    ],
    [
      'a waypoint and the ztunnel of its node are two clients',
      [
        report('3', [
          { kind: 'waypoint', node: 'n1', waypoint: 'apps/wp', state: 'acked' },
          ztunnel('n1', 'acked'),
        ]),
      ],
      [{ kind: 'waypoint', node: 'n1', waypoint: 'apps/wp', state: 'acked' }, ztunnel('n1', 'acked')],
      false,
    ],
  ])('%s', (_what, reports, clients, timedOut) => {
    const merged = mergeRollouts(7, reports);
    expect(merged.clients).toEqual(clients);
    expect(merged.timedOut).toBe(timedOut);
    expect(merged.revision).toBe(7);
  });

  it('names each replica’s version once', () => {
    expect(mergeRollouts(7, [report('3', []), report('5', []), report('3', [])]).version).toBe('3 / 5');
  });
});
