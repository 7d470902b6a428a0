import { describe, expect, it, onTestFinished } from 'vitest';
import type { Failure } from '../../src/core/failure.ts';
import type { Logger } from '../../src/core/log.ts';
import { LogLimiter } from '../../src/core/log-limit.ts';
import type { CertificateRow, ServiceRow, WorkloadRow } from '../../src/ztunnel/admin-views.ts';
import { duration, formatTable, renderConfigTable } from '../../src/ztunnel/config-tables.ts';
import { TRAFFIC_LABELS, trafficLabels, ZtunnelMetrics } from '../../src/ztunnel/metrics.ts';
import { logConnections } from '../../src/ztunnel/proxy/access-log.ts';
import { countConnections } from '../../src/ztunnel/proxy/connection-metrics.ts';
import { ConnectionTracker } from '../../src/ztunnel/proxy/connections.ts';
import { recordingLogger, silentLogger } from '../support/logging.ts';
import { service, workload } from '../support/mesh-fixtures.ts';
import { sumOf } from '../support/metric-values.ts';

const client = workload({
  name: 'client',
  namespace: 'shop',
  canonicalName: 'client',
  canonicalRevision: 'v1',
});
const server = workload({ name: 'server-7d9', canonicalName: 'server', canonicalRevision: 'v2' });

describe('traffic labels', () => {
  it('has exactly the Istio label set, unknown where nothing is known', () => {
    const labels = trafficLabels({ reporter: 'destination', securityPolicy: 'unknown' });
    expect(Object.keys(labels).sort()).toEqual([...TRAFFIC_LABELS].sort());
    expect(labels).toMatchObject({
      reporter: 'destination',
      source_workload: 'unknown',
      source_principal: 'unknown',
      destination_service: 'unknown',
      destination_principal: 'unknown',
      request_protocol: 'tcp',
      response_flags: '-',
      connection_security_policy: 'unknown',
    });
  });

  it('fills source, destination and service from the model', () => {
    const labels = trafficLabels(
      {
        reporter: 'source',
        source: client,
        sourceIdentity: client.identity,
        destination: server,
        destinationService: service({ name: 'server' }),
        securityPolicy: 'mutual_tls',
      },
      'DENY',
    );
    expect(labels).toMatchObject({
      source_workload: 'client',
      source_workload_namespace: 'shop',
      source_version: 'v1',
      source_principal: 'spiffe://cluster.local/ns/shop/sa/client',
      destination_workload: 'server',
      destination_canonical_revision: 'v2',
      destination_workload_namespace: 'default',
      destination_principal: server.identity,
      destination_service: 'server.default.svc.cluster.local',
      destination_service_name: 'server',
      response_flags: 'DENY',
      connection_security_policy: 'mutual_tls',
    });
  });
});

/** An outbound HBONE connection from client to server, as the outbound handler opens it. */
const openOutbound = (tracker: ConnectionTracker) =>
  tracker.open({
    direction: 'outbound',
    mode: 'hbone',
    sourceIp: '10.0.0.1',
    sourcePort: 1234,
    destinationIp: '10.0.0.2',
    destinationPort: 80,
    parties: {
      reporter: 'source',
      source: client,
      sourceIdentity: client.identity,
      destination: server,
      securityPolicy: 'mutual_tls',
    },
  });

/** A tracker with the ztunnel's two subscribers: the TCP metrics and the access log. */
function observedTracker(metrics: ZtunnelMetrics, log: Logger, idleMs = 0) {
  const tracker = new ConnectionTracker(idleMs);
  const counting = countConnections(tracker, metrics);
  const unlog = logConnections(tracker, log);
  onTestFinished(() => {
    counting.unsubscribe();
    unlog();
    tracker.stop();
  });
  return { tracker, counting };
}

describe('connection tracker', () => {
  it('counts opens and closes, and adds bytes incrementally without double counting', async () => {
    const metrics = new ZtunnelMetrics();
    const { tracker, counting } = observedTracker(metrics, silentLogger);
    const connection = openOutbound(tracker);
    connection.counters.upstream += 100;
    connection.counters.downstream += 40;
    expect(await sumOf(metrics.receivedBytes)).toBe(0);
    counting.flushBytes();
    counting.flushBytes();
    expect(await sumOf(metrics.receivedBytes)).toBe(100);
    expect(await sumOf(metrics.sentBytes)).toBe(40);
    connection.counters.upstream += 5;
    tracker.close(connection, 'UpstreamConnectFailure', 'boom');
    tracker.close(connection, 'UpstreamConnectFailure', 'twice');
    expect(await sumOf(metrics.receivedBytes)).toBe(105);
    expect(await sumOf(metrics.tcpOpened, { response_flags: '-' })).toBe(1);
    expect(await sumOf(metrics.tcpClosed, { response_flags: 'CONNECT' })).toBe(1);
    expect(tracker.list()).toEqual([]);
  });

  it.each<[string, Failure | undefined, string | undefined, string, string]>([
    ['a tunnel refused by policy', 'Denied', 'CONNECT 10.0.0.2:80 answered 403', 'DENY', 'denied'],
    [
      'an upstream that never answered',
      'Timeout',
      'no answer to CONNECT 10.0.0.2:80 within 5000 ms',
      'CONNECT',
      'failed',
    ],
    ['a connection that got through', undefined, undefined, '-', 'ok'],
    ['a connection that got through, then broke', undefined, 'read ECONNRESET', '-', 'failed'],
  ])(
    'closes %s with its flags, and logs the detail of the error',
    async (_what, failure, error, flags, result) => {
      const metrics = new ZtunnelMetrics();
      const { log, lines } = recordingLogger();
      const { tracker } = observedTracker(metrics, log);
      const connection = openOutbound(tracker);
      tracker.close(connection, failure, error);
      expect(await sumOf(metrics.tcpClosed, { response_flags: flags })).toBe(1);
      expect(lines).toHaveLength(1);
      expect(lines[0]!.fields).toMatchObject({ result, 'dst.addr': '10.0.0.2:80' });
      expect(lines[0]!.fields.error).toBe(error);
      expect(lines[0]!.level).toBe(result === 'ok' ? 'info' : 'warn');
    },
  );

  it("hands each subscriber its own tracker's events only", async () => {
    const metricsA = new ZtunnelMetrics();
    const metricsB = new ZtunnelMetrics();
    const a = observedTracker(metricsA, silentLogger);
    observedTracker(metricsB, silentLogger);
    a.tracker.close(openOutbound(a.tracker), undefined);
    expect(await sumOf(metricsA.tcpClosed)).toBe(1);
    expect(await sumOf(metricsB.tcpOpened)).toBe(0);
  });

  it('publishes nothing once its subscribers are gone', async () => {
    const metrics = new ZtunnelMetrics();
    const tracker = new ConnectionTracker();
    const counting = countConnections(tracker, metrics);
    counting.unsubscribe();
    tracker.close(openOutbound(tracker), undefined);
    expect(await sumOf(metrics.tcpOpened)).toBe(0);
  });

  it('cancels only connections that moved no byte for the idle period', () => {
    const tracker = new ConnectionTracker(1000);
    tracker.stop();
    const open = () =>
      tracker.open({
        direction: 'inbound',
        mode: 'hbone',
        sourceIp: '10.0.0.1',
        sourcePort: 1,
        destinationIp: '10.0.0.2',
        destinationPort: 2,
        parties: { reporter: 'destination', securityPolicy: 'mutual_tls' },
      });
    const quiet = open();
    const busy = open();
    const cancelled: number[] = [];
    quiet.cancel = () => cancelled.push(quiet.id);
    busy.cancel = () => cancelled.push(busy.id);
    const t0 = quiet.activeAt;
    busy.counters.upstream = 1;
    tracker.sweepIdle(t0 + 600);
    busy.counters.upstream = 2;
    tracker.sweepIdle(t0 + 1200);
    expect(cancelled).toEqual([quiet.id]);
    expect(quiet.cancelReason).toBe('idle timeout');
  });
});

describe('log limiter', () => {
  it('logs the first of a kind, counts repeats within the window, reports them with the next line', () => {
    const { log, lines } = recordingLogger();
    const limiter = new LogLimiter(log, 1000);
    limiter.warn('tls', 'refused', { n: 1 }, 0);
    limiter.warn('tls', 'refused', { n: 2 }, 10);
    limiter.warn('tls', 'refused', { n: 3 }, 20);
    limiter.warn('other', 'refused', { n: 4 }, 30);
    limiter.warn('tls', 'refused', { n: 5 }, 1500);
    expect(lines.every((line) => line.level === 'warn')).toBe(true);
    expect(lines.map((line) => line.fields)).toEqual([
      { n: 1, kind: 'tls' },
      { n: 4, kind: 'other' },
      { n: 5, kind: 'tls', suppressedSinceLast: 2 },
    ]);
  });
});

describe('ztunnel-config tables', () => {
  it('aligns columns', () => {
    expect(
      formatTable(
        ['A', 'LONG HEADER'],
        [
          ['xyz', '1'],
          ['q', '22'],
        ],
      ),
    ).toBe('A     LONG HEADER\nxyz   1\nq     22\n');
  });

  it('prints workloads like istioctl, with a NODE column when several ztunnels answered', () => {
    const row: WorkloadRow = {
      namespace: 'default',
      name: 'client',
      uid: 'default/client',
      node: 'node-a',
      ips: ['10.244.1.5'],
      identity: 'spiffe://cluster.local/ns/default/sa/client',
      protocol: 'HBONE',
      waypoint: undefined,
      captured: true,
    };
    expect(renderConfigTable('workloads', [{ node: 'node-a', view: [row] }])).toBe(
      'NAMESPACE   POD NAME   ADDRESS      NODE     WAYPOINT   PROTOCOL\ndefault     client     10.244.1.5   node-a   None       HBONE\n',
    );
    const two = renderConfigTable('workloads', [
      { node: 'node-a', view: [row] },
      { node: 'node-b', view: [{ ...row, name: 'server', protocol: 'TCP' }] },
    ]);
    expect(two.split('\n')[0]).toMatch(/^NODE\s+NAMESPACE/);
    expect(two).toContain('node-b   default     server');
  });

  it('prints services with ready/total endpoints and certificates with their status', () => {
    const svc: ServiceRow = {
      namespace: 'default',
      name: 'server',
      hostname: 'server.default.svc.cluster.local',
      vips: ['10.96.0.20'],
      ports: ['80->8080'],
      waypoint: 'default/waypoint',
      endpointsReady: 2,
      endpointsTotal: 3,
    };
    expect(renderConfigTable('services', [{ node: 'n', view: [svc] }])).toContain(
      '10.96.0.20    80->8080   default/waypoint   2/3',
    );
    const cert: CertificateRow = {
      kind: 'leaf',
      identity: 'spiffe://cluster.local/ns/default/sa/client',
      serial: 'abc',
      notBefore: '2026-01-01T00:00:00.000Z',
      notAfter: '2026-01-02T00:00:00.000Z',
      expiresInSeconds: -5,
      sanIdentities: [],
    };
    expect(renderConfigTable('certificates', [{ node: 'n', view: [cert] }])).toContain(
      'Leaf   Expired   false',
    );
  });

  it.each([
    [850, '850ms'],
    [12_300, '12s'],
    [184_000, '3m4s'],
    [7_500_000, '2h5m'],
  ])('duration %d ms is %s', (ms, text) => {
    expect(duration(ms)).toBe(text);
  });
});
