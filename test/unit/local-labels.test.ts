import { describe, expect, it } from 'vitest';
import { AmbitError, UsageError } from '../../src/core/errors.ts';
import { editLabels, parseLabelArgs, parseLabelTarget, relabel } from '../../src/local/labels.ts';
import { controlPlaneEndpoint, nodeCredentialFile } from '../../src/local/mesh/control-plane.ts';
import { enrolledPod, wantsEnrollment } from '../../src/local/mesh/enrollment.ts';
import { nodeAgentArgv, nodeAgentKind, nodeAgentSocket } from '../../src/local/mesh/node-agent.ts';
import { parseControlRequest } from '../../src/local/supervisor/control.ts';
import { parseListeningUnixSockets } from '../../src/local/supervisor/readiness.ts';
import type { ClusterState, PodRecord } from '../../src/local/types.ts';
import { adminSocketPath } from '../../src/ztunnel/admin-client.ts';

const MODE = 'istio.io/dataplane-mode';

describe('label arguments (kubectl syntax)', () => {
  it('reads sets and removals', () => {
    expect(parseLabelArgs([`${MODE}=ambient`, 'team-', 'empty=', 'example.com/x=1'])).toEqual({
      set: { [MODE]: 'ambient', empty: '', 'example.com/x': '1' },
      remove: ['team'],
    });
  });

  it.each([
    [[], 'at least one'],
    [['novalue'], 'expected key=value'],
    [['bad key=x'], 'invalid label key'],
    [['-=x'], 'invalid label key'],
    [['k=bad value'], 'label values'],
    [[`k=${'x'.repeat(64)}`], 'label values'],
    [['k=1', 'k=2'], 'two values'],
    [['k=1', 'k-'], 'both set and remove'],
  ])('refuses %j', (args, message) => {
    expect(() => parseLabelArgs(args)).toThrow(UsageError);
    expect(() => parseLabelArgs(args)).toThrow(message);
  });

  it('names the target as kubectl does', () => {
    expect(parseLabelTarget(['pod', 'a', 'x=1'], 'apps')).toEqual({
      target: { kind: 'pod', name: 'a', namespace: 'apps' },
      rest: ['x=1'],
    });
    expect(parseLabelTarget(['ns/apps', 'x=1'], 'ignored')).toEqual({
      target: { kind: 'namespace', name: 'apps' },
      rest: ['x=1'],
    });
    expect(parseLabelTarget(['pods/a'], undefined).target).toEqual({ kind: 'pod', name: 'a' });
    expect(() => parseLabelTarget(['service', 'a'], undefined)).toThrow('labels pods and namespaces');
    expect(() => parseLabelTarget(['pod'], undefined)).toThrow('needs a name');
    expect(() => parseLabelTarget([], undefined)).toThrow('needs a resource');
  });
});

describe('label edits (--overwrite as kubectl)', () => {
  const current = { [MODE]: 'ambient', team: 'a' };

  it('adds, keeps equal values and removes without --overwrite', () => {
    expect(editLabels(current, { set: { app: 'x' }, remove: [] }, false)).toEqual({
      labels: { ...current, app: 'x' },
      change: 'labeled',
      missing: [],
    });
    expect(editLabels(current, { set: { [MODE]: 'ambient' }, remove: [] }, false).change).toBe('not labeled');
    expect(editLabels(current, { set: {}, remove: ['team', 'ghost'] }, false)).toEqual({
      labels: { [MODE]: 'ambient' },
      change: 'unlabeled',
      missing: ['ghost'],
    });
    expect(editLabels(current, { set: {}, remove: ['ghost'] }, false).change).toBe('not labeled');
  });

  it('refuses to change a value without --overwrite, as a whole', () => {
    const edit = { set: { [MODE]: 'none', app: 'x' }, remove: [] };
    expect(() => editLabels(current, edit, false)).toThrow(
      `'${MODE}' already has a value (ambient), and --overwrite is false`,
    );
    expect(editLabels(current, edit, true).labels).toEqual({ [MODE]: 'none', team: 'a', app: 'x' });
  });
});

const pod = (namespace: string, name: string, labels: Record<string, string> = {}): PodRecord =>
  ({
    uid: `${namespace}/${name}`,
    name,
    namespace,
    node: 'n1',
    ips: ['10.244.0.2'],
    serviceAccount: 'default',
    labels,
    netns: `ambit.c.pod.${namespace}.${name}`,
    netnsPath: `/run/netns/ambit.c.pod.${namespace}.${name}`,
  }) as PodRecord;

const cluster = {
  name: 'c',
  stateDir: '/run/ambit/c',
  namespaces: [
    { name: 'default', labels: {} },
    { name: 'apps', labels: { [MODE]: 'ambient' } },
  ],
  pods: [pod('apps', 'a'), pod('apps', 'b', { [MODE]: 'none' }), pod('default', 'c')],
} as unknown as ClusterState;

describe('relabelling the cluster record', () => {
  it('changes a namespace and names all its pods, leaving the input alone', () => {
    const result = relabel(cluster, { kind: 'namespace', name: 'apps' }, { set: {}, remove: [MODE] }, false);
    expect(result.object).toBe('namespace/apps');
    expect(result.pods.map((p) => p.uid)).toEqual(['apps/a', 'apps/b']);
    expect(result.cluster.namespaces[1]!.labels).toEqual({});
    expect(cluster.namespaces[1]!.labels).toEqual({ [MODE]: 'ambient' });
  });

  it('changes one pod', () => {
    const result = relabel(
      cluster,
      { kind: 'pod', name: 'c' },
      { set: { [MODE]: 'ambient' }, remove: [] },
      false,
    );
    expect(result.object).toBe('pod/c');
    expect(result.pods).toEqual([{ ...pod('default', 'c'), labels: { [MODE]: 'ambient' } }]);
    expect(result.cluster.pods[2]!.labels).toEqual({ [MODE]: 'ambient' });
  });

  it('refuses unknown targets', () => {
    const edit = { set: { x: '1' }, remove: [] };
    expect(() => relabel(cluster, { kind: 'namespace', name: 'nope' }, edit, false)).toThrow(AmbitError);
    expect(() => relabel(cluster, { kind: 'pod', name: 'nope' }, edit, false)).toThrow('no pod nope');
  });

  it('decides enrollment from the latest labels of the pod and its namespace', () => {
    const context = { cluster, paths: {} as never };
    expect(cluster.pods.map((p) => wantsEnrollment(context, p))).toEqual([true, false, false]);
    const relabelled = relabel(
      cluster,
      { kind: 'namespace', name: 'apps' },
      { set: {}, remove: [MODE] },
      false,
    );
    expect(wantsEnrollment({ ...context, cluster: relabelled.cluster }, cluster.pods[0]!)).toBe(false);
  });
});

describe('the node agent seam', () => {
  it('serves the enrollment socket of the architecture, under the cluster state', () => {
    expect(nodeAgentSocket(cluster, 'n1')).toBe('/run/ambit/c/n1/enroll.sock');
    const socket = nodeAgentSocket(cluster, 'n1');
    expect(nodeAgentArgv(cluster, 'n1', { kind: 'plain', backend: 'auto' })).toEqual([
      'ambit',
      'redirect',
      'agent',
      '--socket',
      socket,
    ]);
    expect(nodeAgentArgv(cluster, 'n1', { kind: 'plain', backend: 'nft' }).slice(-2)).toEqual([
      '--backend',
      'nft',
    ]);
  });

  it('runs the ztunnel by default, pointed at the control plane, with the node credential', () => {
    expect(nodeAgentKind(undefined)).toBe('ztunnel');
    expect(nodeAgentKind('plain')).toBe('plain');
    expect(() => nodeAgentKind('sidecar')).toThrow(/expected ztunnel or plain/);
    const withNodes = {
      ...cluster,
      nodes: [{ name: 'n1', underlayIP: '10.250.0.2' }],
      addresses: { dnsVIP: '10.96.0.10' },
    } as unknown as ClusterState;
    const argv = nodeAgentArgv(withNodes, 'n1', { kind: 'ztunnel', backend: 'auto' });
    const flag = (name: string) => argv[argv.indexOf(name) + 1];
    expect(argv.slice(0, 2)).toEqual(['ambit', 'ztunnel']);
    expect(flag('--node')).toBe('n1');
    expect(flag('--control')).toBe('10.250.0.2:15012');
    expect(flag('--token-file')).toBe(nodeCredentialFile(cluster, 'n1'));
    expect(flag('--ca-root')).toBe(controlPlaneEndpoint(withNodes).rootCertFile);
    expect(flag('--enroll-socket')).toBe(nodeAgentSocket(cluster, 'n1'));
    // Where `ambit ztunnel-config --name <cluster>` looks for it.
    expect(flag('--admin-socket')).toBe(adminSocketPath(cluster.stateDir, 'n1'));
    // Names the mesh does not know go to the cluster DNS.
    expect(flag('--dns-upstream')).toBe('10.96.0.10');
  });

  it('describes a pod to the agent by its netns path', () => {
    expect(enrolledPod(cluster.pods[0]!)).toEqual({
      uid: 'apps/a',
      name: 'a',
      namespace: 'apps',
      serviceAccount: 'default',
      ips: ['10.244.0.2'],
      netns: '/run/netns/ambit.c.pod.apps.a',
    });
  });
});

describe('the supervisor control channel', () => {
  const valid = {
    type: 'label',
    target: { kind: 'namespace', name: 'apps' },
    edit: { set: { [MODE]: 'ambient' }, remove: ['team'] },
    overwrite: false,
  };

  it('accepts a well-formed label request', () => {
    expect(parseControlRequest(JSON.stringify(valid))).toEqual({
      ...valid,
      target: { kind: 'namespace', name: 'apps', namespace: undefined },
    });
  });

  it.each([
    ['not json', 'not JSON'],
    [JSON.stringify({ ...valid, type: 'reboot' }), 'type'],
    [JSON.stringify({ ...valid, target: { kind: 'service', name: 'x' } }), 'target.kind'],
    [JSON.stringify({ ...valid, edit: { set: { 'bad key': 'x' }, remove: [] } }), 'edit.set.bad key'],
    [JSON.stringify({ ...valid, edit: { set: {}, remove: ['bad key'] } }), 'edit.remove[0]'],
    [JSON.stringify({ ...valid, overwrite: 'yes' }), 'overwrite'],
    [JSON.stringify({ ...valid, extra: 1 }), 'extra'],
  ])('refuses %s', (line, field) => {
    expect(() => parseControlRequest(line)).toThrow(field);
  });
});

describe('readiness from /proc/net/unix', () => {
  it('finds listening path-bound sockets only', () => {
    const table = [
      'Num       RefCount Protocol Flags    Type St Inode Path',
      '0000000000000000: 00000002 00000000 00010000 0001 01 634468 /run/ambit/c/n1/enroll.sock',
      '0000000000000000: 00000003 00000000 00000000 0001 03 634470 /run/ambit/c/n1/enroll.sock',
      '0000000000000000: 00000002 00000000 00010000 0001 01 634471 @/abstract',
      '0000000000000000: 00000002 00000000 00000000 0002 01 634472 /run/dgram.sock',
      '0000000000000000: 00000003 00000000 00000000 0001 03 634473',
    ].join('\n');
    expect(parseListeningUnixSockets(table)).toEqual(['/run/ambit/c/n1/enroll.sock']);
  });
});
