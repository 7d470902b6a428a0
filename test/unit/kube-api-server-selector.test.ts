/**
 * The in-test API server's label selectors, which the waypoint controller's narrowed watches are tested
 * against: equality-based requirements as Kubernetes documents them, and the event a selecting watcher
 * gets for a change that moves an object into or out of its selection (as the API server's watch cache).
 */
import { describe, expect, it } from 'vitest';
import {
  type KubeObject,
  labelMatcher,
  type StoredEvent,
  selectedEvent,
  type WatchEventType,
} from '../support/kube-api-server.ts';

const labelled = (labels: Record<string, string>): KubeObject => ({ metadata: { name: 'x', labels } });

describe('labelMatcher', () => {
  it.each<[string | null, Record<string, string>, boolean]>([
    [null, {}, true],
    ['', { a: '1' }, true],
    ['app=web', { app: 'web' }, true],
    ['app==web', { app: 'web' }, true],
    ['app=web', { app: 'api' }, false],
    ['app=web', {}, false],
    ['app!=web', { app: 'api' }, true],
    ['app!=web', {}, true],
    ['app!=web', { app: 'web' }, false],
    ['app', { app: '' }, true],
    ['app', {}, false],
    ['!app', {}, true],
    ['!app', { app: 'web' }, false],
    [
      'gateway.istio.io/managed=istio.io-mesh-controller',
      { 'gateway.istio.io/managed': 'istio.io-mesh-controller' },
      true,
    ],
    ['app=web, tier=front', { app: 'web', tier: 'front' }, true],
    ['app=web,tier=front', { app: 'web' }, false],
  ])('%j on %j: %s', (selector, labels, expected) => {
    expect(labelMatcher(selector)(labelled(labels))).toBe(expected);
  });

  it.each(['app in (web)', 'app notin (web)', '!app=web', 'app=we b'])('refuses %j', (selector) => {
    expect(() => labelMatcher(selector)).toThrow(/unsupported label selector/);
  });
});

describe('selectedEvent', () => {
  const matches = labelMatcher('app=web');
  const web = labelled({ app: 'web' });
  const other = labelled({ app: 'api' });
  it.each<[string, StoredEvent, WatchEventType | undefined]>([
    ['added, matching', { rv: 1, type: 'ADDED', object: web }, 'ADDED'],
    ['added, not matching', { rv: 1, type: 'ADDED', object: other }, undefined],
    [
      'modified, matching before and after',
      { rv: 2, type: 'MODIFIED', object: web, previous: web },
      'MODIFIED',
    ],
    ['modified into the selection', { rv: 2, type: 'MODIFIED', object: web, previous: other }, 'ADDED'],
    ['modified out of the selection', { rv: 2, type: 'MODIFIED', object: other, previous: web }, 'DELETED'],
    ['modified, never matching', { rv: 2, type: 'MODIFIED', object: other, previous: other }, undefined],
    ['deleted, matching', { rv: 3, type: 'DELETED', object: web }, 'DELETED'],
    ['deleted, not matching', { rv: 3, type: 'DELETED', object: other }, undefined],
  ])('%s', (_, event, expected) => {
    expect(selectedEvent(event, matches)).toBe(expected);
  });
});
