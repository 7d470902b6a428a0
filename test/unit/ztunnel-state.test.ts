import { describe, expect, it } from 'vitest';
import { AmbitError } from '../../src/core/errors.ts';
import { splitHostPort } from '../../src/core/net/host-port.ts';
import { canonicalIp, cidrContains, parseCidr, parseIp } from '../../src/core/net/ip.ts';
import { chooseOutbound } from '../../src/ztunnel/state/destination.ts';
import { resolveMtlsMode } from '../../src/ztunnel/state/peer-auth.ts';
import { StateStore } from '../../src/ztunnel/state/store.ts';
import { peerAuth, policy, rule, service, snapshot, source, workload } from '../support/mesh-fixtures.ts';

describe('ip', () => {
  it.each([
    ['10.1.2.3', '10.1.2.3'],
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['FD00:0:0:0:0:0:0:1', 'fd00::1'],
    ['fd00::1:0:0:2', 'fd00::1:0:0:2'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['::', '::'],
    ['::1', '::1'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
  ])('canonical form of %s is %s', (input, expected) => {
    expect(canonicalIp(input)).toBe(expected);
  });

  it('rejects what is not an address or block', () => {
    for (const bad of ['10.0.0', '10.0.0.256', 'fd00::1::2', 'example.com', ''])
      expect(parseIp(bad)).toBeUndefined();
    for (const bad of ['10.0.0.0/33', '10.0.0.0/', 'fd00::/129', '10.0.0.0/8x', 'x/8'])
      expect(parseCidr(bad)).toBeUndefined();
  });

  it.each([
    ['10.0.0.0/8', '10.255.1.1', true],
    ['10.0.0.0/8', '11.0.0.1', false],
    ['192.168.4.0/22', '192.168.7.255', true],
    ['192.168.4.0/22', '192.168.8.0', false],
    ['fd00::/8', 'fdff::1', true],
    ['fd00::/8', 'fe00::1', false],
    ['fd00:1:2::/47', 'fd00:1:3::1', true],
    ['fd00:1:2::/47', 'fd00:1:4::1', false],
    ['::/0', '::1', true],
    ['10.1.2.3', '10.1.2.3', true],
  ])('%s contains %s: %s', (block, ip, expected) => {
    expect(cidrContains(parseCidr(block)!, parseIp(ip)!)).toBe(expected);
  });
});

describe('PeerAuthentication mode', () => {
  const w = workload({ name: 'server', labels: { app: 'server' } });
  const mesh = (mode: 'STRICT' | 'PERMISSIVE' | 'DISABLE' | 'UNSET') =>
    peerAuth({ name: 'mesh', namespace: 'istio-system', scope: 'mesh', mode });
  const ns = (mode: 'STRICT' | 'PERMISSIVE' | 'DISABLE' | 'UNSET', namespace = 'default') =>
    peerAuth({ name: 'ns', namespace, mode });
  const wl = (
    mode: 'STRICT' | 'PERMISSIVE' | 'DISABLE' | 'UNSET',
    ports: Record<number, 'STRICT' | 'PERMISSIVE' | 'DISABLE' | 'UNSET'> = {},
    selector = { app: 'server' },
  ) => peerAuth({ name: 'wl', scope: 'workload', selector, mode, portLevelMtls: ports });

  it.each([
    ['nothing set: PERMISSIVE', [], 8080, 'PERMISSIVE'],
    ['mesh STRICT', [mesh('STRICT')], 8080, 'STRICT'],
    ['namespace overrides mesh', [mesh('STRICT'), ns('PERMISSIVE')], 8080, 'PERMISSIVE'],
    ['namespace UNSET inherits mesh', [mesh('STRICT'), ns('UNSET')], 8080, 'STRICT'],
    ['another namespace does not apply', [ns('STRICT', 'other')], 8080, 'PERMISSIVE'],
    ['workload overrides namespace', [ns('STRICT'), wl('PERMISSIVE')], 8080, 'PERMISSIVE'],
    ['workload UNSET inherits namespace', [ns('STRICT'), wl('UNSET')], 8080, 'STRICT'],
    ['workload selector must match', [wl('STRICT', {}, { app: 'other' })], 8080, 'PERMISSIVE'],
    ['port level overrides the workload mode', [wl('STRICT', { 8080: 'PERMISSIVE' })], 8080, 'PERMISSIVE'],
    ['port level applies to its port only', [wl('STRICT', { 9090: 'PERMISSIVE' })], 8080, 'STRICT'],
    ['port level UNSET inherits', [mesh('STRICT'), wl('UNSET', { 8080: 'UNSET' })], 8080, 'STRICT'],
    ['DISABLE is kept as such', [ns('DISABLE')], 8080, 'DISABLE'],
  ] as const)('%s', (_name, policies, port, expected) => {
    expect(resolveMtlsMode(policies, w, port)).toBe(expected);
  });

  it('port-level settings of a namespace policy are ignored', () => {
    expect(
      resolveMtlsMode(
        [peerAuth({ name: 'ns', mode: 'STRICT', portLevelMtls: { 8080: 'DISABLE' } })],
        w,
        8080,
      ),
    ).toBe('STRICT');
  });
});

describe('StateStore', () => {
  const a = workload({ name: 'a', ips: ['10.244.0.11'], node: 'node-a' });
  const b1 = workload({ name: 'b1', ips: ['10.244.1.11', 'fd00::b1'], node: 'node-b', labels: { app: 'b' } });
  const b2 = workload({ name: 'b2', ips: ['10.244.1.12'], node: 'node-b', labels: { app: 'b' } });
  const b3 = workload({ name: 'b3', ips: ['10.244.1.13'], node: 'node-b', labels: { app: 'b' } });
  const plain = workload({ name: 'plain', ips: ['10.244.1.50'], enrolled: false });
  const wp = workload({ name: 'wp', ips: ['10.244.2.5'], serviceAccount: 'waypoint' });
  const svcB = service({
    name: 'b',
    vips: ['10.96.0.20'],
    ports: [
      { port: 80, targetPort: 8080, protocol: 'TCP' },
      { port: 90, targetPort: 0, protocol: 'TCP' },
    ],
    endpoints: [
      { workloadUid: b1.uid, ip: '10.244.1.11', ready: true },
      { workloadUid: b2.uid, ip: '10.244.1.12', ready: true },
      { workloadUid: b3.uid, ip: '10.244.1.13', ready: false },
    ],
  });
  const waypointSvc = service({
    name: 'waypoint',
    vips: ['10.96.0.99'],
    ports: [{ port: 15008, targetPort: 15008, protocol: 'TCP' }],
    endpoints: [{ workloadUid: wp.uid, ip: '10.244.2.5', ready: true }],
  });
  const svcW = service({
    name: 'w',
    vips: ['10.96.0.30'],
    endpoints: [{ workloadUid: b1.uid, ip: '10.244.1.11', ready: true }],
    waypoint: { name: 'waypoint', namespace: 'default' },
  });
  const svcEmpty = service({ name: 'empty', vips: ['10.96.0.40'], endpoints: [] });
  const svcPlain = service({
    name: 'plain',
    vips: ['10.96.0.50'],
    endpoints: [{ workloadUid: plain.uid, ip: '10.244.1.50', ready: true }],
  });

  function store() {
    const s = new StateStore();
    s.apply(
      snapshot({
        workloads: [a, b1, b2, b3, plain, wp],
        services: [svcB, waypointSvc, svcW, svcEmpty, svcPlain],
      }),
    );
    return s;
  }

  it('looks workloads up by uid, IP (any form) and node, services by VIP and hostname', () => {
    const s = store();
    expect(s.workloadByIp('10.244.1.11')?.name).toBe('b1');
    expect(s.workloadByIp('::ffff:10.244.1.11')?.name).toBe('b1');
    expect(s.workloadByIp('FD00:0::B1')?.name).toBe('b1');
    expect(s.workloadByIp('10.9.9.9')).toBeUndefined();
    expect(s.workloadByUid('default/b2')?.name).toBe('b2');
    expect(s.workloadsOnNode('node-b').map((w) => w.name)).toEqual(['b1', 'b2', 'b3']);
    expect(s.serviceByVip('10.96.0.20')?.name).toBe('b');
    expect(s.serviceByHostname('B.default.svc.cluster.local')?.name).toBe('b');
  });

  it.each([
    ['the exact host first', 'api.example.com', 'exact'],
    ['the most specific wildcard above the name', 'a.b.example.com', 'b-wild'],
    ['a wildcard at any depth', 'x.y.z.example.com', 'wild'],
    ['no wildcard without VIPs', 'q.none.example.org', undefined],
    ['nothing for the wildcard suffix itself', 'example.com', undefined],
  ])('answers DNS names by %s', (_what, name, expected) => {
    const s = new StateStore();
    const entry = (hostname: string, serviceName: string, vips: string[]) =>
      service({ name: serviceName, namespace: 'egress', hostname, vips, endpoints: [] });
    s.apply(
      snapshot({
        services: [
          entry('*.example.com', 'wild', ['240.240.0.7']),
          entry('*.b.example.com', 'b-wild', ['240.240.0.8']),
          entry('api.example.com', 'exact', ['240.240.0.9']),
          entry('*.none.example.org', 'none', []),
        ],
      }),
    );
    expect(s.serviceForDnsName(name)?.name).toBe(expected);
  });

  describe('which waypoint may speak for the client (`forwarded`)', () => {
    const bound = workload({
      name: 'bound',
      ips: ['10.244.1.60'],
      waypoint: { name: 'waypoint', namespace: 'default' },
    });
    const other = workload({ name: 'other-wp', ips: ['10.244.2.6'], serviceAccount: 'other-wp' });
    const otherSvc = service({
      name: 'other-wp',
      vips: ['10.96.0.98'],
      endpoints: [{ workloadUid: other.uid, ip: '10.244.2.6', ready: true }],
    });
    // b2 is bound to the other waypoint through a service of its own.
    const svcOther = service({
      name: 'via-other',
      vips: ['10.96.0.31'],
      endpoints: [{ workloadUid: b2.uid, ip: '10.244.1.12', ready: true }],
      waypoint: { name: 'other-wp', namespace: 'default' },
    });
    const s = new StateStore();
    s.apply(
      snapshot({
        workloads: [a, b1, b2, bound, wp, other],
        services: [svcB, waypointSvc, svcW, otherSvc, svcOther],
      }),
    );
    it.each([
      ["the waypoint of the destination's service", wp, b1, true],
      ['the waypoint bound to the destination workload itself', wp, bound, true],
      ['a waypoint of another service, not of the destination', wp, b2, false],
      ["the other waypoint, for its own service's endpoint", other, b2, true],
      ['the other waypoint, for a destination it is not bound to', other, b1, false],
      ['a workload that is no waypoint at all', a, b1, false],
      ['a destination without any waypoint', wp, a, false],
    ])('%s', (_name, peer, destination, expected) => {
      expect(s.isWaypointFor(peer, destination)).toBe(expected);
    });
  });

  describe('traffic that must pass a waypoint is accepted only from it (bypass refused)', () => {
    const bound = workload({
      name: 'bound',
      ips: ['10.244.1.60'],
      waypoint: { name: 'waypoint', namespace: 'default' },
    });
    // b1 backs w (port 80 -> 8080, bound to the waypoint) and b (not bound): only 8080 is guarded.
    const svcW8080 = { ...svcW, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' as const }] };
    const s = new StateStore();
    s.apply(
      snapshot({ workloads: [a, b1, b2, bound, wp], services: [svcB, waypointSvc, svcW8080, svcPlain] }),
    );
    it.each([
      ['a client dialling a service-bound target port directly', a, b1, 8080, 'default/waypoint'],
      ['an unauthenticated client (plaintext) on that port', undefined, b1, 8080, 'default/waypoint'],
      ['the waypoint itself on that port', wp, b1, 8080, '-'],
      ['a client on a port no bound Service targets', a, b1, 9090, '-'],
      ['a client of a workload-bound pod, any port', a, bound, 9090, 'default/waypoint'],
      ['the waypoint for the workload-bound pod', wp, bound, 9090, '-'],
      ['a client of a pod without any waypoint', a, b2, 8080, '-'],
    ])('%s', (_name, peer, destination, port, expected) => {
      const bypassed = s.bypassedWaypoint(peer, destination, port);
      expect(bypassed ? `${bypassed.namespace}/${bypassed.name}` : '-').toBe(expected);
    });
  });

  it('round-robins over ready endpoints only and maps the service port to the target port', () => {
    const s = store();
    const picks = Array.from({ length: 6 }, () => s.pickEndpoint(svcB, 80));
    expect(picks.map((p) => p?.workload?.name)).toEqual(['b1', 'b2', 'b1', 'b2', 'b1', 'b2']);
    expect(picks.every((p) => p?.port === 8080)).toBe(true);
    expect(s.pickEndpoint(svcB, 90)?.port).toBe(90);
    expect(s.pickEndpoint(svcB, 81)).toBeUndefined();
    expect(s.pickEndpoint(svcEmpty, 80)).toBeUndefined();
  });

  it('routes a VIP to an endpoint over HBONE with the endpoint identity and ip:targetPort authority', () => {
    const route = chooseOutbound(store(), '10.96.0.20', 80);
    expect(route).toMatchObject({
      kind: 'hbone',
      peerIp: '10.244.1.11',
      peerPort: 15008,
      peerIdentity: b1.identity,
      authority: '10.244.1.11:8080',
      viaWaypoint: false,
    });
    if (route.kind === 'hbone') expect(route.destination.service?.name).toBe('b');
  });

  it('routes a meshed pod IP directly, a non-meshed one around the mesh, an unknown one around the mesh', () => {
    const s = store();
    expect(chooseOutbound(s, '10.244.1.12', 8080)).toMatchObject({
      kind: 'hbone',
      authority: '10.244.1.12:8080',
    });
    expect(chooseOutbound(s, '10.244.1.50', 8080)).toMatchObject({
      kind: 'passthrough',
      ip: '10.244.1.50',
      port: 8080,
    });
    expect(chooseOutbound(s, '10.96.0.50', 80)).toMatchObject({
      kind: 'passthrough',
      ip: '10.244.1.50',
      port: 8080,
    });
    expect(chooseOutbound(s, '192.0.2.1', 443)).toMatchObject({
      kind: 'passthrough',
      ip: '192.0.2.1',
      port: 443,
    });
  });

  it('routes a service with a waypoint to the waypoint, keeping the VIP:port as authority', () => {
    const route = chooseOutbound(store(), '10.96.0.30', 80);
    expect(route).toMatchObject({
      kind: 'hbone',
      peerIp: '10.244.2.5',
      peerIdentity: wp.identity,
      authority: '10.96.0.30:80',
      viaWaypoint: true,
    });
  });

  it('refuses a VIP without that port or without ready endpoints', () => {
    const s = store();
    expect(chooseOutbound(s, '10.96.0.20', 81)).toMatchObject({ kind: 'reject', reason: 'no-service-port' });
    expect(chooseOutbound(s, '10.96.0.40', 80)).toMatchObject({
      kind: 'reject',
      reason: 'no-ready-endpoint',
    });
  });

  it('refuses a malformed snapshot as a whole and keeps serving the previous one', () => {
    const s = store();
    const bad = snapshot({
      version: '2',
      workloads: [workload({ name: 'x', ips: ['10.0.0.300'] })],
      policies: [policy({ name: 'p', rules: [rule({ from: [source({ ipBlocks: ['10.0.0.0/40'] })] })] })],
    });
    let error: unknown;
    try {
      s.apply(bad);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(AmbitError);
    expect((error as AmbitError).code).toBe('SNAPSHOT_INVALID');
    expect((error as Error).message).toContain('workloads[0] (default/x).ips[0]');
    expect((error as Error).message).toContain('policies[0] (default/p).rules[0].from[0].ipBlocks[0]');
    expect(s.version).toBe('1');
    expect(s.workloadByIp('10.244.1.11')?.name).toBe('b1');
  });

  it('caches the policies selecting a workload per snapshot', () => {
    const s = new StateStore();
    s.apply(snapshot({ workloads: [a], policies: [policy({ name: 'p', rules: [] })] }));
    expect(
      s.authorize(a, { sourceIp: '10.0.0.1', destinationIp: a.ips[0]!, destinationPort: 80 }).allowed,
    ).toBe(false);
    s.apply(snapshot({ version: '2', workloads: [a], policies: [] }));
    expect(
      s.authorize(a, { sourceIp: '10.0.0.1', destinationIp: a.ips[0]!, destinationPort: 80 }).allowed,
    ).toBe(true);
  });

  it('lets a new pod wait for its config, and gives up after the timeout', async () => {
    const s = new StateStore();
    s.apply(snapshot({ workloads: [] }));
    const waiting = s.waitForWorkload(a.uid, 5_000);
    setTimeout(() => s.apply(snapshot({ version: '2', workloads: [a] })), 20);
    expect((await waiting)?.name).toBe('a');
    expect(await s.waitForWorkload('default/nobody', 30)).toBeUndefined();
  });
});

describe('authority parsing', () => {
  it.each([
    ['10.0.0.1:80', { host: '10.0.0.1', port: 80 }],
    ['[fd00::1]:8080', { host: 'fd00::1', port: 8080 }],
    ['10.0.0.1', undefined],
    ['10.0.0.1:0', undefined],
    ['10.0.0.1:70000', undefined],
    ['fd00::1:80', undefined],
  ])('%s', (input, expected) => {
    expect(splitHostPort(input)).toEqual(expected);
  });
});
