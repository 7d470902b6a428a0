/**
 * The local cluster's control plane seams: where it runs and listens, what the ztunnels are given, what the
 * control plane should hold for a pod in each process state, the Namespace document a label change applies,
 * and which control plane the CLI talks to.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { controlSockets } from '../../src/cli/control-support.ts';
import { parseYamlText } from '../../src/core/config/documents.ts';
import { parseResources } from '../../src/core/config/resource.ts';
import { UsageError } from '../../src/core/errors.ts';
import { LOCAL_KINDS } from '../../src/local/cluster-file.ts';
import {
  controlPlaneAddressFor,
  controlPlaneEndpoint,
  controlPlaneProcesses,
  isControlPlaneProcess,
  namespaceDocument,
  nodeCredentialFile,
  podInfo,
  podPresence,
} from '../../src/local/mesh/control-plane.ts';
import { planCluster } from '../../src/local/plan.ts';
import { statePaths } from '../../src/local/state.ts';
import type { ProcessState } from '../../src/local/supervisor/status.ts';
import type { ClusterState } from '../../src/local/types.ts';

const root = mkdtempSync(join(tmpdir(), 'ambit-cp-unit-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function cluster(
  name: string,
  options: { nodes?: number; replicas?: number; flag?: number } = {},
): ClusterState {
  const nodes = Array.from({ length: options.nodes ?? 2 }, (_, index) => `{name: n${index + 1}}`).join(', ');
  const yaml = `apiVersion: ambit.dev/v1alpha1
kind: Cluster
metadata: {name: ${name}}
spec:
  nodes: [${nodes}]${options.replicas === undefined ? '' : `\n  controlPlane: {replicas: ${options.replicas}}`}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default, labels: {app: web}}
spec:
  nodeName: n2
  serviceAccountName: web
  containers: [{name: c, command: [sleep, infinity], ports: [{name: http, containerPort: 8080}]}]`;
  const resources = parseResources(parseYamlText(yaml, 'c.yaml').documents, LOCAL_KINDS);
  expect(resources.issues.filter((issue) => issue.severity === 'error')).toEqual([]);
  const planned = planCluster(resources.resources, {
    stateDirFor: (n) => join(root, n),
    extensions: [],
    controlPlaneReplicas: options.flag,
    now: new Date(0),
  });
  expect(planned.issues.filter((issue) => issue.severity === 'error')).toEqual([]);
  return planned.state!;
}

describe('the control plane of a local cluster', () => {
  const c1 = cluster('c1');

  it("listens on the first node's underlay address; ztunnels get its address, the root and their token", () => {
    expect(controlPlaneEndpoint(c1)).toEqual({
      address: '10.250.0.1:15012',
      rootCertFile: join(root, 'c1', 'control', 'ca', 'root-cert.pem'),
      node: 'n1',
      socket: join(root, 'c1', 'control', 'control.sock'),
      sockets: [join(root, 'c1', 'control', 'control.sock')],
    });
    expect(nodeCredentialFile(c1, 'n2')).toBe(join(root, 'c1', 'control', 'nodes', 'n2.token'));
  });

  it('runs as root in node 1, with the cluster config watched, ready once every listener is up', () => {
    const specs = controlPlaneProcesses(c1, statePaths(join(root, 'c1')));
    expect(specs).toHaveLength(1);
    expect(specs[0]).toMatchObject({
      id: 'control-plane',
      kind: 'system',
      node: 'n1',
      netns: 'ambit.c1.node.n1',
      runAsUser: 0,
      restartPolicy: 'Always',
      argv: [
        'ambit',
        'control',
        '--state-dir',
        join(root, 'c1', 'control'),
        '--config',
        join(root, 'c1', 'resources.yaml'),
        '--listen',
        '10.250.0.1:15012',
        '--metrics-port',
        '15014',
      ],
      readyPorts: [15012, 15014],
      readyUnixSockets: [join(root, 'c1', 'control', 'control.sock')],
    });
  });

  it('runs replicas on the first nodes, on one state directory, each with its own API socket', () => {
    const c3 = cluster('c3', { nodes: 3, replicas: 2 });
    const dir = join(root, 'c3', 'control');
    const specs = controlPlaneProcesses(c3, statePaths(join(root, 'c3')));
    expect(specs.map((spec) => [spec.id, spec.node, spec.readyUnixSockets])).toEqual([
      ['control-plane', 'n1', [join(dir, 'control.sock')]],
      ['control-plane/n2', 'n2', [join(dir, 'replica-n2.sock')]],
    ]);
    expect(specs[1]!.argv).toEqual([
      'ambit',
      'control',
      '--state-dir',
      dir,
      '--config',
      join(root, 'c3', 'resources.yaml'),
      '--listen',
      '10.250.0.2:15012',
      '--metrics-port',
      '15014',
      '--api-socket',
      join(dir, 'replica-n2.sock'),
    ]);
    expect(controlPlaneEndpoint(c3)).toMatchObject({
      address: '10.250.0.1:15012,10.250.0.2:15012',
      sockets: [join(dir, 'control.sock'), join(dir, 'replica-n2.sock')],
    });
    expect(specs.every((spec) => isControlPlaneProcess(spec.id))).toBe(true);
    expect(isControlPlaneProcess('node-agent/n1')).toBe(false);
  });

  it.each([
    ['n1', '10.250.0.1:15012,10.250.0.2:15012'],
    ['n2', '10.250.0.2:15012,10.250.0.1:15012'],
    ['n3', '10.250.0.1:15012,10.250.0.2:15012'],
  ])("a data plane on %s dials its node's replica (or one in turn) first: %s", (node, addresses) => {
    expect(controlPlaneAddressFor(cluster('c4', { nodes: 3, replicas: 2 }), node)).toBe(addresses);
  });

  it('takes --control-plane-replicas over the Cluster, within the nodes', () => {
    expect(controlPlaneEndpoint(cluster('c5', { nodes: 2, replicas: 1, flag: 2 })).sockets).toHaveLength(2);
    const yaml = `apiVersion: ambit.dev/v1alpha1\nkind: Cluster\nmetadata: {name: c6}\nspec:\n  nodes: [{name: n1}]\n  controlPlane: {replicas: 2}`;
    const parsed = parseResources(parseYamlText(yaml, 'c.yaml').documents, LOCAL_KINDS);
    expect(parsed.issues.map((issue) => `${issue.path}: ${issue.message}`)).toEqual([
      expect.stringContaining('spec.controlPlane.replicas'),
    ]);
    const planned = planCluster(
      parseResources(
        parseYamlText(yaml.replace('replicas: 2', 'replicas: 1'), 'c.yaml').documents,
        LOCAL_KINDS,
      ).resources,
      { stateDirFor: (n) => join(root, n), extensions: [], controlPlaneReplicas: 3 },
    );
    expect(planned.issues.map((issue) => issue.message)).toEqual([
      expect.stringContaining(
        '3 control-plane replicas (given with --control-plane-replicas) need as many nodes',
      ),
    ]);
  });

  it('reports a pod as the API takes it', () => {
    const pod = c1.pods[0]!;
    expect(podInfo(pod, false)).toEqual({
      uid: 'default/web',
      name: 'web',
      namespace: 'default',
      node: 'n2',
      ips: pod.ips,
      serviceAccount: 'web',
      labels: { app: 'web' },
      ready: false,
      ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
    });
  });

  it.each<[ProcessState, boolean, ReturnType<typeof podPresence>]>([
    ['running', true, { ready: true }],
    ['running', false, { ready: false }],
    ['backoff', false, { ready: false }],
    ['succeeded', false, 'remove'],
    ['failed', false, 'remove'],
    // Not started yet: the start gate reports it. Stopped: the whole cluster, control plane included, goes.
    ['waiting', false, 'keep'],
    ['stopped', false, 'keep'],
  ])('a pod whose process is %s (ready: %s) is held as %j', (state, ready, expected) => {
    expect(podPresence({ state, ready })).toEqual(expected);
  });

  it("applies a namespace's labels over the stored document, or a new one", () => {
    const stored = {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'shop', labels: { old: 'x' }, annotations: { a: 'b' } },
    };
    expect(
      namespaceDocument({ name: 'shop', labels: { 'istio.io/dataplane-mode': 'ambient' } }, stored),
    ).toEqual({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'shop', labels: { 'istio.io/dataplane-mode': 'ambient' }, annotations: { a: 'b' } },
    });
    expect(stored.metadata.labels).toEqual({ old: 'x' });
    expect(namespaceDocument({ name: 'apps', labels: {} }, undefined)).toEqual({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'apps', labels: {} },
    });
  });
});

describe('which control plane the CLI talks to', () => {
  const saved = process.env.AMBIT_STATE_DIR;
  afterEach(() => {
    if (saved === undefined) delete process.env.AMBIT_STATE_DIR;
    else process.env.AMBIT_STATE_DIR = saved;
  });
  const withClusters = (...names: string[]) => {
    const dir = mkdtempSync(join(root, 'clusters-'));
    for (const name of names) {
      mkdirSync(join(dir, name));
      writeFileSync(
        join(dir, name, 'cluster.json'),
        JSON.stringify({ ...cluster(name), stateDir: join(dir, name) }),
      );
    }
    process.env.AMBIT_STATE_DIR = dir;
    return dir;
  };
  const socketOf = (dir: string, name: string) => join(dir, name, 'control', 'control.sock');

  it('takes --socket, or --name, never both', () => {
    const dir = withClusters('a', 'b');
    expect(controlSockets({ socket: '/x.sock' }, {})).toEqual(['/x.sock']);
    expect(controlSockets({ name: 'b' }, { AMBIT_CONTROL_SOCKET: '/env.sock' })).toEqual([
      socketOf(dir, 'b'),
    ]);
    expect(() => controlSockets({ socket: '/x.sock', name: 'a' }, {})).toThrow(UsageError);
    expect(() => controlSockets({ name: 'zz' }, {})).toThrow('no local cluster named "zz"');
  });

  it('else $AMBIT_CONTROL_SOCKET, else the only local cluster, else the default state dir', () => {
    const one = withClusters('solo');
    expect(controlSockets({}, { AMBIT_CONTROL_SOCKET: '/env.sock' })).toEqual(['/env.sock']);
    expect(controlSockets({}, {})).toEqual([socketOf(one, 'solo')]);
    withClusters();
    expect(controlSockets({}, {})).toEqual(['/var/lib/ambit/control/control.sock']);
  });

  it('asks which, when several local clusters exist', () => {
    withClusters('a', 'b');
    expect(() => controlSockets({}, {})).toThrow('2 local clusters exist (a, b): pick one with --name');
  });
});
