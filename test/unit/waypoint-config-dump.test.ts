/** The waypoint's /config_dump never shows an ingress gateway's private keys, and shows the rest as received. */
import { describe, expect, it } from 'vitest';
import type { ListenerPlan } from '../../src/core/l7/types.ts';
import type { WaypointSnapshot } from '../../src/core/model/index.ts';
import { REDACTED_KEY, redactedSnapshot } from '../../src/waypoint/admin-views.ts';

const KEY = '-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n';
const CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

const snapshot = (listeners: ListenerPlan[] | undefined): WaypointSnapshot =>
  ({
    version: '1',
    waypoint: { name: 'gw', namespace: 'ingress' },
    workloads: [],
    services: [],
    servedServices: [],
    clusters: [],
    authorization: [],
    trustBundle: [CERT],
    listeners,
  }) as unknown as WaypointSnapshot;

describe('redactedSnapshot', () => {
  it('replaces every terminating listener key, keeps certificates, hostnames and other listeners', () => {
    const listeners: ListenerPlan[] = [
      {
        name: 'https',
        port: 443,
        wire: 'http',
        tls: {
          mode: 'terminate',
          certificates: [
            { hostname: 'a.example.com', certificatePem: CERT, keyPem: KEY },
            { certificatePem: CERT, keyPem: KEY },
          ],
        },
      } as ListenerPlan,
      { name: 'tls', port: 8443, wire: 'tcp', tls: { mode: 'passthrough' } } as ListenerPlan,
    ];
    const original = snapshot(listeners);
    const shown = redactedSnapshot(original);
    expect(JSON.stringify(shown)).not.toContain('PRIVATE KEY');
    expect(shown.listeners?.[0]?.tls).toEqual({
      mode: 'terminate',
      certificates: [
        { hostname: 'a.example.com', certificatePem: CERT, keyPem: REDACTED_KEY },
        { certificatePem: CERT, keyPem: REDACTED_KEY },
      ],
    });
    expect(shown.listeners?.[1]).toBe(listeners[1]);
    // The waypoint keeps serving with the real keys.
    expect(JSON.stringify(original)).toContain('PRIVATE KEY');
  });

  it.each([
    ['a waypoint (no listeners)', undefined],
    ['a gateway without TLS termination', [{ name: 'http', port: 80, wire: 'http', tls: { mode: 'none' } }]],
  ] as [string, ListenerPlan[] | undefined][])('returns %s as it is', (_what, listeners) => {
    const original = snapshot(listeners);
    expect(redactedSnapshot(original)).toBe(original);
  });
});
