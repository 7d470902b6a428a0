/**
 * The local cluster's Prometheus, by tables: the Cluster field and the flag that turn it on, the targets
 * generated from the cluster (every ztunnel, the control plane, each waypoint, with Istio's labels), the
 * configuration Prometheus is given, its pod, and the port pairs `ambit local port-forward` takes.
 */
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseYamlText } from '../../src/core/config/documents.ts';
import { formatIssue } from '../../src/core/config/issues.ts';
import { parseResources } from '../../src/core/config/resource.ts';
import { LOCAL_KINDS } from '../../src/local/cluster-file.ts';
import { PROMETHEUS_EXTENSION_URL } from '../../src/local/extensions.ts';
import { waypointPod } from '../../src/local/mesh/waypoints.ts';
import { planCluster } from '../../src/local/plan.ts';
import { placePod } from '../../src/local/pod-runtime.ts';
import { parsePortMapping } from '../../src/local/port-forward.ts';
import { prometheusPod } from '../../src/local/prometheus/extension.ts';
import {
  prometheusConfig,
  SCRAPE_JOBS,
  scrapeTargets,
  targetsFile,
} from '../../src/local/prometheus/scrape-config.ts';

const cluster = (spec: string, extensions: string[] = []) => {
  const text = `apiVersion: ambit.dev/v1alpha1
kind: Cluster
metadata: {name: c1}
spec:
  nodes: [{name: n1}, {name: n2}]
${spec}---
apiVersion: v1
kind: Pod
metadata: {name: app, namespace: default}
spec: {containers: [{name: c, command: [sleep, infinity]}]}`;
  const resources = parseResources(parseYamlText(text, 'c.yaml').documents, LOCAL_KINDS);
  const result = planCluster(resources.resources, { stateDirFor: (n) => `/state/${n}`, extensions });
  return { state: result.state, errors: [...resources.issues, ...result.issues].map(formatIssue) };
};

describe('turning Prometheus on', () => {
  it.each([
    ['no field', '', [], false],
    ['spec.prometheus: false', '  prometheus: false\n', [], false],
    ['spec.prometheus: true', '  prometheus: true\n', [], true],
    [
      'the flag (its URL given by up), once even with the field',
      '  prometheus: true\n',
      [PROMETHEUS_EXTENSION_URL],
      true,
    ],
  ])('%s', (_what, spec, extensions, on) => {
    const { state, errors } = cluster(spec, extensions);
    expect(errors).toEqual([]);
    expect(state!.extensions.filter((url) => url === PROMETHEUS_EXTENSION_URL)).toHaveLength(on ? 1 : 0);
  });

  it('refuses a field that is not a boolean, naming it', () => {
    expect(cluster('  prometheus: sometimes\n').errors.join('\n')).toMatch(/spec\.prometheus/);
  });
});

describe('scrape targets from the cluster', () => {
  const base = cluster('').state!;
  const waypoint = placePod(base, waypointPod(base, { name: 'waypoint', namespace: 'apps' }, 'n2'));
  const targets = scrapeTargets({ ...base, pods: [...base.pods, waypoint] });

  it.each([
    [
      'ztunnel',
      [
        {
          targets: ['10.250.0.1:15020'],
          labels: { namespace: 'istio-system', pod: 'ztunnel-n1', app: 'ztunnel', node: 'n1' },
        },
        {
          targets: ['10.250.0.2:15020'],
          labels: { namespace: 'istio-system', pod: 'ztunnel-n2', app: 'ztunnel', node: 'n2' },
        },
      ],
    ],
    [
      'istiod',
      [
        {
          targets: ['10.250.0.1:15014'],
          labels: { namespace: 'istio-system', pod: 'istiod', app: 'istiod', node: 'n1' },
        },
      ],
    ],
    [
      'waypoint',
      [
        {
          targets: [`${waypoint.ips[0]}:15020`],
          labels: { namespace: 'apps', pod: 'waypoint-0', app: 'waypoint', node: 'n2' },
        },
      ],
    ],
  ] as const)('job %s', (job, expected) => {
    expect(targets[job]).toEqual(expected);
  });

  it('scrapes no ordinary pod', () => {
    expect(scrapeTargets(base).waypoint).toEqual([]);
    expect(targets.gateway).toEqual([]);
  });
});

describe('the Prometheus configuration and pod', () => {
  it('has one job per component, each reading its own targets file', () => {
    const config = parse(prometheusConfig('/state/c1/prometheus'));
    expect(config.global.scrape_interval).toBe('5s');
    expect(
      config.scrape_configs.map((job: { job_name: string; file_sd_configs: { files: string[] }[] }) => [
        job.job_name,
        job.file_sd_configs[0]!.files,
      ]),
    ).toEqual(SCRAPE_JOBS.map((job) => [job, [targetsFile('/state/c1/prometheus', job)]]));
  });

  it('runs unprivileged, outside the mesh, in istio-system, with its files under the cluster state', () => {
    const pod = prometheusPod({ stateDir: '/state/c1' });
    expect(pod).toMatchObject({
      name: 'prometheus',
      namespace: 'istio-system',
      runAsUser: 65534,
      labels: { 'istio.io/dataplane-mode': 'none' },
      // Not a bare pod of the config, which the live objects' reconciler would delete.
      owner: { kind: 'Addon', name: 'prometheus' },
    });
    expect(pod.container.argv).toContain('--config.file=/state/c1/prometheus/prometheus.yml');
    expect(pod.container.argv).toContain('--storage.tsdb.path=/state/c1/prometheus/data');
    expect(pod.container.probes.readiness?.handler).toMatchObject({ path: '/-/ready', port: 9090 });
  });
});

describe('port-forward ports', () => {
  it.each([
    ['9090', { hostPort: 9090, podPort: 9090 }],
    ['0:9090', { hostPort: 0, podPort: 9090 }],
    ['18080:80', { hostPort: 18080, podPort: 80 }],
  ])('%s', (text, expected) => {
    expect(parsePortMapping(text)).toEqual(expected);
  });

  it.each(['', '0', 'x', '80:', ':80', '1:2:3', '70000', '80:70000', '-1'])('refuses %j', (text) => {
    expect(() => parsePortMapping(text)).toThrow(/invalid port mapping/);
  });
});
