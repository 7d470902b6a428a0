/** Issue 8's pure decisions, by tables: relay-loop detection, keyed limits, the tunnel budget. */
import { describe, expect, it } from 'vitest';
import { KeyedCounter } from '../../src/core/hbone/limits.ts';
import { ConnectionTracker } from '../../src/ztunnel/proxy/connections.ts';
import { captureLoop, targetsOwnListener } from '../../src/ztunnel/proxy/loop-guard.ts';
import { defaultLimits, fdReserve } from '../../src/ztunnel/settings.ts';

const mesh = new Set(['10.244.1.5', '10.244.2.7', 'fd00:244::5']);
const servesIp = (ip: string) => mesh.has(ip);

describe('captureLoop', () => {
  it.each([
    // local (listener), original destination, expected
    ['dialled straight at 15001', '10.244.1.5', 15001, '10.244.1.5', 15001, 'not-redirected'],
    ['dialled straight at 15006', '10.244.1.5', 15006, '10.244.1.5', 15006, 'not-redirected'],
    ['v4-mapped listener address', '::ffff:10.244.1.5', 15001, '10.244.1.5', 15001, 'not-redirected'],
    ['loopback 15001 from the app', '127.0.0.1', 15001, '127.0.0.1', 15001, 'not-redirected'],
    ['a mesh pod 15008', '10.244.1.5', 15001, '10.244.2.7', 15008, 'own-listener'],
    ['a mesh pod 15006 (v6)', 'fd00:244::5', 15001, 'fd00:244::5', 15006, 'own-listener'],
    ['the pod own 15001 seen on 15006', '10.244.1.5', 15006, '10.244.1.5', 15001, 'own-listener'],
    ['loopback 15053', '10.244.1.5', 15001, '127.0.0.53', 15053, 'own-listener'],
    ['the unspecified address 15008', '10.244.1.5', 15001, '0.0.0.0', 15008, 'own-listener'],
    ['::1 15006', '10.244.1.5', 15001, '::1', 15006, 'own-listener'],
    ['a mesh pod 15020 (a waypoint metrics, not ours)', '10.244.1.5', 15001, '10.244.2.7', 15020, undefined],
    ['a mesh pod 15021', '10.244.1.5', 15001, '10.244.2.7', 15021, undefined],
    ['a mesh service port', '10.244.1.5', 15001, '10.244.2.7', 8080, undefined],
    ['a ztunnel port outside the mesh', '10.244.1.5', 15001, '192.0.2.10', 15001, undefined],
    [
      'a redirected connection to the same IP, other port',
      '10.244.1.5',
      15006,
      '10.244.1.5',
      8080,
      undefined,
    ],
  ] as const)('%s', (_what, localIp, localPort, ip, port, expected) => {
    expect(captureLoop({ ip: localIp, port: localPort }, { ip, port }, servesIp)).toBe(expected);
  });

  it('ignores targets that are no address', () => {
    expect(targetsOwnListener({ ip: 'not-an-ip', port: 15008 }, () => true)).toBe(false);
  });
});

describe('KeyedCounter', () => {
  it('admits up to its maximum per key, forgets keys at zero, ignores unknown releases', () => {
    const counter = new KeyedCounter(2);
    expect([counter.acquire('a'), counter.acquire('a'), counter.acquire('a'), counter.acquire('b')]).toEqual([
      true,
      true,
      false,
      true,
    ]);
    counter.release('a');
    expect(counter.acquire('a')).toBe(true);
    counter.release('a');
    counter.release('a');
    counter.release('b');
    counter.release('never');
    expect(counter.size).toBe(0);
  });
});

describe('tunnel limits', () => {
  it.each([
    [1_024, 256, 384],
    [20_000, 1_024, 9_488],
    [100, 25, 64],
    [1_000_000, 1_024, 16_384],
  ])(
    'an open-file limit of %i keeps %i descriptors and allows %i tunnels per node',
    (files, reserve, tunnels) => {
      expect(fdReserve(files)).toBe(reserve);
      expect(defaultLimits(files).tunnelsPerNode).toBe(tunnels);
    },
  );

  it('refuses over the pod limit and the node limit, and gives a closed tunnel back', () => {
    const tracker = new ConnectionTracker(0, { perPod: 2, perNode: 3 });
    const open = (pod: string) =>
      tracker.open({
        pod,
        direction: 'outbound',
        mode: 'direct',
        sourceIp: '10.0.0.1',
        sourcePort: 1,
        destinationIp: '10.0.0.2',
        destinationPort: 2,
        parties: { reporter: 'source', securityPolicy: 'unknown' },
      });
    const first = open('a');
    open('a');
    expect(tracker.refusal('a')).toBe('pod-tunnel-limit');
    expect(tracker.refusal('b')).toBeUndefined();
    open('b');
    expect(tracker.refusal('c')).toBe('node-tunnel-limit');
    tracker.close(first, undefined);
    expect(tracker.refusal('a')).toBeUndefined();
    expect(tracker.refusal('c')).toBeUndefined();
  });
});
