import { describe, expect, it } from 'vitest';
import { nodeMayServeWaypoint } from '../../src/control/auth/waypoint-binding.ts';
import {
  admitConnection,
  DEFAULT_CONTROL_LISTENER_LIMITS,
  grpcServerLimits,
} from '../../src/control/grpc-listener.ts';
import type { PodRecord, PodSource } from '../../src/control/pods/pod-source.ts';
import { GATEWAY_NAME_LABEL } from '../../src/core/labels.ts';

describe('admitting a connection on 15012', () => {
  const limits = { maxConnections: 10, maxConnectionsPerSource: 3 };
  it.each([
    [0, 0, undefined],
    [9, 2, undefined],
    [10, 0, 'connection_limit'],
    [10, 3, 'connection_limit'],
    [5, 3, 'source_limit'],
    [5, 4, 'source_limit'],
  ] as const)('%d open, %d from the source -> %s', (open, fromSource, refusal) => {
    expect(admitConnection(open, fromSource, limits)).toBe(refusal);
  });

  it('hands grpc-js the limits it enforces itself', () => {
    expect(grpcServerLimits(DEFAULT_CONTROL_LISTENER_LIMITS)).toEqual({
      'grpc.max_connection_idle_ms': 60_000,
      'grpc.max_connection_age_ms': 1_800_000,
      'grpc.max_connection_age_grace_ms': 10_000,
      'grpc.max_receive_message_length': 8 * 1024 * 1024,
    });
  });
});

describe('which waypoint a node token may subscribe as', () => {
  const pod = (node: string, namespace: string, labels: Record<string, string>) =>
    ({ node, namespace, labels }) as PodRecord;
  const pods = (list: PodRecord[]): PodSource => ({ list: () => list, onChange: () => {} });
  const instance = pod('n1', 'shop', { [GATEWAY_NAME_LABEL]: 'wp' });

  it.each([
    ['its instance runs on the node', [instance], 'n1', 'shop', 'wp', true],
    ['its instance runs on another node', [instance], 'n2', 'shop', 'wp', false],
    ['no instance at all', [], 'n1', 'shop', 'wp', false],
    ['an instance of another waypoint', [instance], 'n1', 'shop', 'other', false],
    ['the same name in another namespace', [instance], 'n1', 'bank', 'wp', false],
    ['a pod without the label', [pod('n1', 'shop', { app: 'wp' })], 'n1', 'shop', 'wp', false],
  ] as const)('%s -> %s', (_case, list, node, namespace, name, allowed) => {
    expect(nodeMayServeWaypoint(pods([...list]), node, { namespace, name })).toBe(allowed);
  });
});
