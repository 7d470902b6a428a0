import { describe, expect, it } from 'vitest';
import { durationFlag } from '../../src/cli/flags.ts';
import { renderRollout } from '../../src/cli/rollout-report.ts';
import { clientKey, clientRollout, rolloutStanding } from '../../src/control/discovery/rollout.ts';
import type { ClientStatus, RolloutReport } from '../../src/core/control-api/types.ts';
import { UsageError } from '../../src/core/errors.ts';

const client = (node: string, extra: Partial<ClientStatus> = {}): ClientStatus => ({
  id: `ztunnel~${node}~00`,
  kind: 'ztunnel',
  node,
  instance: 'i',
  peer: 'ipv4:127.0.0.1:1',
  connectedAt: '2026-01-01T00:00:00.000Z',
  inSync: false,
  nacks: 0,
  ...extra,
});
const nack = (version: string) => ({ version, message: 'too big', at: '2026-01-01T00:00:01.000Z' });

describe('a client on a rollout of version 5', () => {
  it.each([
    ['synced to it', { syncedVersion: '5' }, 'acked'],
    ['synced to a later one', { syncedVersion: '7' }, 'acked'],
    ['synced to an earlier one only', { syncedVersion: '4' }, 'pending'],
    ['never synced', {}, 'pending'],
    ['NACKed it', { syncedVersion: '4', lastNack: nack('5') }, 'nacked'],
    ['NACKed a later one', { lastNack: nack('6') }, 'nacked'],
    ['NACKed an earlier one only', { lastNack: nack('4') }, 'pending'],
    ['NACKed it, then took a later one', { syncedVersion: '6', lastNack: nack('5') }, 'acked'],
  ] as const)('%s: %s', (_case, extra, state) => {
    expect(clientRollout(client('n1', extra), 5).state).toBe(state);
  });

  it('carries the NACK reason', () => {
    expect(clientRollout(client('n1', { lastNack: nack('5') }), 5)).toEqual({
      kind: 'ztunnel',
      node: 'n1',
      waypoint: undefined,
      state: 'nacked',
      message: 'too big',
    });
  });
});

describe('the standing of every client', () => {
  const waypoint = client('n2', { kind: 'waypoint', waypoint: 'shop/wp', syncedVersion: '5' });

  it.each([
    ['no clients', [], [], true, []],
    ['all acked', ['n1'], [client('n1', { syncedVersion: '5' })], true, ['acked']],
    ['one pending', ['n1'], [client('n1')], false, ['pending']],
    ['one NACK settles', ['n1'], [client('n1', { lastNack: nack('5') })], true, ['nacked']],
    ['a client that left is gone and unsettled', ['n1'], [], false, ['gone']],
    [
      'a reconnected client counts by its best stream',
      ['n1'],
      [client('n1'), client('n1', { id: 'other', syncedVersion: '5' })],
      true,
      ['acked'],
    ],
    ['a client that joined later is followed too', [], [client('n3')], false, ['pending']],
  ] as const)('%s', (_case, nodes, clients, settled, states) => {
    const expected = nodes.map((node) => clientKey(client(node)));
    const standing = rolloutStanding(expected, clients, 5);
    expect(standing.settled).toBe(settled);
    expect(standing.clients.map((c) => c.state)).toEqual(states);
  });

  it('tells a waypoint from the ztunnel of its node', () => {
    const standing = rolloutStanding([clientKey(waypoint)], [client('n2'), waypoint], 5);
    expect(standing.clients).toHaveLength(2);
    expect(standing.clients.find((c) => c.kind === 'waypoint')).toMatchObject({ waypoint: 'shop/wp' });
  });

  it('names a gone waypoint with its waypoint', () => {
    const [gone] = rolloutStanding([clientKey(waypoint)], [], 5).clients;
    expect(gone).toEqual({ kind: 'waypoint', node: 'n2', waypoint: 'shop/wp', state: 'gone' });
  });
});

describe('what apply prints after waiting', () => {
  const report = (clients: RolloutReport['clients'], timedOut = false): RolloutReport => ({
    revision: 3,
    version: '9',
    timedOut,
    clients,
  });
  const z = (node: string, state: RolloutReport['clients'][number]['state'], message?: string) => ({
    kind: 'ztunnel' as const,
    node,
    state,
    message,
  });

  it.each([
    [
      'no clients',
      [],
      ['data plane: no clients connected (version 9 is pushed as they connect)'],
      [],
      undefined,
    ],
    [
      'all took it',
      [z('a', 'acked'), z('b', 'acked')],
      ['data plane: 2 of 2 client(s) took version 9'],
      [],
      undefined,
    ],
    [
      'a NACK names the node and the reason',
      [z('a', 'acked'), z('b', 'nacked', 'push too large')],
      ['data plane: 1 of 2 client(s) took version 9'],
      ['ztunnel of node b: refused version 9 (NACK): push too large'],
      'UNAVAILABLE',
    ],
    [
      'a silent client times out',
      [z('a', 'pending')],
      ['data plane: 0 of 1 client(s) took version 9'],
      ['ztunnel of node a: has not taken version 9 within 30s'],
      'TIMEOUT',
    ],
    [
      'a client that left',
      [z('a', 'gone')],
      ['data plane: 0 of 1 client(s) took version 9'],
      ['ztunnel of node a: disconnected before taking version 9'],
      'TIMEOUT',
    ],
    [
      'a waypoint',
      [{ kind: 'waypoint' as const, node: 'n', waypoint: 'shop/wp', state: 'nacked' as const, message: 'x' }],
      ['data plane: 0 of 1 client(s) took version 9'],
      ['waypoint shop/wp (node n): refused version 9 (NACK): x'],
      'UNAVAILABLE',
    ],
  ] as const)('%s', (_case, clients, out, err, code) => {
    const rendered = renderRollout(report([...clients]), 30_000);
    expect(rendered.out).toEqual(out);
    expect(rendered.err).toEqual(err);
    expect(rendered.failure?.code).toBe(code);
  });

  it('sums refusals and silences in the failure', () => {
    const { failure } = renderRollout(
      report([z('a', 'nacked', 'x'), z('b', 'pending'), z('c', 'gone')]),
      1000,
    );
    expect(failure?.message).toBe(
      'config revision 3 is stored but not in force on every data-plane client: 1 refused it, 2 did not take it',
    );
  });
});

describe('duration flags', () => {
  it.each([
    [undefined, 30_000],
    ['500ms', 500],
    ['2m', 120_000],
    ['1.5s', 1500],
  ])('%s -> %d ms', (value, ms) => {
    expect(durationFlag(value, 'wait-timeout', 30_000, { max: 300_000 })).toBe(ms);
  });

  it.each(['5', 'soon', '-1s', '6m', ''])('refuses %j', (value) => {
    expect(() => durationFlag(value, 'wait-timeout', 30_000, { max: 300_000 })).toThrow(UsageError);
    expect(() => durationFlag(value, 'wait-timeout', 30_000, { max: 300_000 })).toThrow('--wait-timeout');
  });
});
