/**
 * The local cluster's control plane seams: where it runs and listens, what the ztunnels are given, what the
 * control plane should hold for a pod in each process state, the Namespace document a label change applies,
 * and which control plane the CLI talks to.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { controlSocket } from '../../src/cli/control-support.ts';
import { parseYamlText } from '../../src/core/config/documents.ts';
import { parseResources } from '../../src/core/config/resource.ts';
import { UsageError } from '../../src/core/errors.ts';
import { LOCAL_KINDS } from '../../src/local/cluster-file.ts';
import {
  controlPlaneEndpoint,
  controlPlaneProcess,
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

function cluster(name: string): ClusterState {
  const yaml = `apiVersion: ambit.dev/v1alpha1
kind: Cluster
metadata: {name: ${name}}
spec:
  nodes: [{name: n1}, {name: n2}]
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default, labels: {app: web}}
spec:
  nodeName: n2
  serviceAccountName: web
  containers: [{name: c, command: [sleep, infinity], ports: [{name: http, containerPort: 8080}]}]`;
  const resources = parseResources(parseYamlText(yaml, 'c.yaml').documents, LOCAL_KINDS);
  const planned = planCluster(resources.resources, {
    stateDirFor: (n) => join(root, n),
    extensions: [],
    now: new Date(0),
  });
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
    });
    expect(nodeCredentialFile(c1, 'n2')).toBe(join(root, 'c1', 'control', 'nodes', 'n2.token'));
  });

  it('runs as root in node 1, with the cluster config watched, ready once every listener is up', () => {
    const spec = controlPlaneProcess(c1, statePaths(join(root, 'c1')));
    expect(spec).toMatchObject({
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
    expect(controlSocket({ socket: '/x.sock' }, {})).toBe('/x.sock');
    expect(controlSocket({ name: 'b' }, { AMBIT_CONTROL_SOCKET: '/env.sock' })).toBe(socketOf(dir, 'b'));
    expect(() => controlSocket({ socket: '/x.sock', name: 'a' }, {})).toThrow(UsageError);
    expect(() => controlSocket({ name: 'zz' }, {})).toThrow('no local cluster named "zz"');
  });

  it('else $AMBIT_CONTROL_SOCKET, else the only local cluster, else the default state dir', () => {
    const one = withClusters('solo');
    expect(controlSocket({}, { AMBIT_CONTROL_SOCKET: '/env.sock' })).toBe('/env.sock');
    expect(controlSocket({}, {})).toBe(socketOf(one, 'solo'));
    withClusters();
    expect(controlSocket({}, {})).toBe('/var/lib/ambit/control/control.sock');
  });

  it('asks which, when several local clusters exist', () => {
    withClusters('a', 'b');
    expect(() => controlSocket({}, {})).toThrow('2 local clusters exist (a, b): pick one with --name');
  });
});
