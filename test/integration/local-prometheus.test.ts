import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waypointGateway } from '../../src/core/config/waypoint-gateway.ts';
import { ambit, killAll, startAmbit } from '../support/cli.ts';
import { clusterDown, clusterUp } from '../support/cluster-lifecycle.ts';
import { eventually } from '../support/eventually.ts';
import { makeStateRoot, uniqueName } from '../support/local-cluster.ts';
import { clusterDoc, echoPod, manifests, namespaceDoc, podDoc, serviceDoc } from '../support/manifests.ts';
import { canRunNetnsTests } from '../support/privileges.ts';
import { type ForwardedPrometheus, forwardPrometheus } from '../support/prometheus.ts';

const clusterYaml = (name: string) =>
  manifests(
    clusterDoc(name, { spec: { prometheus: true } }),
    namespaceDoc('apps', { ambient: true, labels: { 'istio.io/use-waypoint': 'waypoint' } }),
    namespaceDoc('l4', { ambient: true }),
    waypointGateway('waypoint', 'apps', 'service'),
    echoPod('echo', { namespace: 'apps', node: 'n2', labels: { app: 'echo' } }),
    echoPod('tcp-echo', { namespace: 'l4', node: 'n2', labels: { app: 'tcp-echo' } }),
    podDoc('client', { namespace: 'apps', node: 'n1', serviceAccount: 'client' }),
    serviceDoc('echo', { namespace: 'apps' }),
    serviceDoc('tcp-echo', { namespace: 'l4' }),
  );

const SERVICE = 'echo.apps.svc.cluster.local';

describe.runIf(canRunNetnsTests())('Prometheus in a local cluster', () => {
  const root = makeStateRoot();
  const name = uniqueName('it-prom');
  const local = (...args: string[]) => ambit(['local', ...args, '--name', name], { stateRoot: root });
  let prometheus: ForwardedPrometheus;
  /** The first value of an instant query's vector, once it has one. */
  const scalar = async (promql: string) =>
    Number((await prometheus.api.query(promql))[0]?.value[1] ?? Number.NaN);

  beforeAll(async () => {
    await clusterUp(root, name, clusterYaml(name));
    prometheus = await forwardPrometheus(root, name);
    // Traffic for the whole file: HTTP through the waypoint, TCP ztunnel to ztunnel (no waypoint in l4).
    startAmbit(
      [
        'local',
        'exec',
        'client',
        '-n',
        'apps',
        '--name',
        name,
        '--',
        'sh',
        '-c',
        'while true; do curl -s -o /dev/null http://echo.apps/a; curl -s -o /dev/null http://tcp-echo.l4/b; sleep 0.1; done',
      ],
      { stateRoot: root },
    );
  });

  afterAll(async () => {
    killAll();
    await clusterDown(root, name);
  });

  it('is not reachable from the host but through the port forward', async () => {
    const status = JSON.parse((await local('status', '-o', 'json')).stdout) as {
      pods: { name: string; namespace: string; ip: string; ready: boolean }[];
    };
    const pod = status.pods.find((p) => p.name === 'prometheus' && p.namespace === 'istio-system');
    expect(pod?.ready).toBe(true);
    await expect(
      fetch(`http://${pod!.ip}:9090/-/ready`, { signal: AbortSignal.timeout(3000) }),
    ).rejects.toThrow();
    expect((await fetch(`http://${prometheus.address}/-/ready`)).status).toBe(200);
  });

  it('scrapes every ztunnel, the control plane and the waypoint: up == 1 for all', async () => {
    const targets = await eventually(
      async () => {
        const up = await prometheus.api.query('up');
        const healthy = up
          .filter((sample) => sample.value[1] === '1')
          .map((s) => `${s.metric.job}/${s.metric.pod}`);
        return up.length === 4 && healthy.length === 4 && healthy.sort();
      },
      { timeout: 30_000, what: 'four targets up' },
    );
    expect(targets).toEqual([
      'istiod/istiod',
      'waypoint/waypoint-0',
      'ztunnel/ztunnel-n1',
      'ztunnel/ztunnel-n2',
    ]);
  });

  // Each query as Istio's dashboards write it (their template variables filled in).
  it.each([
    [
      'mesh: global request volume',
      'round(sum(irate(istio_requests_total{reporter=~"source|waypoint"}[1m])), 0.001)',
      (value: number) => value > 0,
    ],
    [
      'mesh: global success rate (non-5xx)',
      'sum(rate(istio_requests_total{reporter=~"source|waypoint", response_code!~"5.*"}[1m])) / sum(rate(istio_requests_total{reporter=~"source|waypoint"}[1m]))',
      (value: number) => value === 1,
    ],
    [
      'service: client request volume',
      `round(sum(irate(istio_requests_total{reporter=~"source|waypoint",destination_service=~"${SERVICE}"}[1m])), 0.001)`,
      (value: number) => value > 0,
    ],
    [
      'service: client request duration p99',
      `histogram_quantile(0.99, sum(irate(istio_request_duration_milliseconds_bucket{reporter=~"source|waypoint",destination_service=~"${SERVICE}"}[1m])) by (le))`,
      (value: number) => value > 0,
    ],
    [
      'workload: TCP bytes received by tcp-echo, from the client',
      'sum(irate(istio_tcp_received_bytes_total{reporter=~"destination", destination_workload_namespace=~"l4", destination_workload=~"tcp-echo", source_workload="client"}[1m])) by (source_workload, source_workload_namespace)',
      (value: number) => value > 0,
    ],
    [
      'ztunnel: connections opened by the ztunnels',
      'sum(rate(istio_tcp_connections_opened_total{pod=~"ztunnel-.*"}[1m]))',
      (value: number) => value > 0,
    ],
    [
      'control plane: connected data-plane clients (two ztunnels, one waypoint)',
      'sum(pilot_xds{app="istiod"})',
      (value: number) => value >= 3,
    ],
  ])('%s', async (_what, promql, holds) => {
    const value = await eventually(
      async () => {
        const result = await scalar(promql);
        return holds(result) && result;
      },
      { timeout: 40_000, what: promql },
    );
    expect(holds(value)).toBe(true);
  });
});
