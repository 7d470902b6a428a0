import { describe, expect, it } from 'vitest';
import type { PodInfo } from '../../src/core/control-api/types.ts';
import { authorizeNodeCall } from '../../src/local/span/gateway-authorization.ts';
import { encodeJoinBundle, type JoinBundle, parseJoinBundle } from '../../src/local/span/join-bundle.ts';
import { checkSpan, hostsControlPlane, isLocalNode, localNodes } from '../../src/local/span/span.ts';
import type { ClusterState, PodRecord } from '../../src/local/types.ts';

const NODES = [{ name: 'node-1' }, { name: 'node-2' }, { name: 'node-3' }];

describe('which nodes a host realizes', () => {
  const cluster = (span: ClusterState['span']) =>
    ({ span, nodes: NODES.map((node) => ({ ...node })) }) as unknown as ClusterState;

  it.each([
    [undefined, ['node-1', 'node-2', 'node-3'], true],
    [{ localNodes: ['node-1'], underlayDevice: 'eth1' }, ['node-1'], true],
    [
      { localNodes: ['node-3', 'node-2'], underlayDevice: 'eth1', gateway: '10.0.0.1:15013' },
      ['node-2', 'node-3'],
      false,
    ],
  ])('span %j: local %j, control plane here %j', (span, local, control) => {
    const state = cluster(span);
    expect(localNodes(state).map((node) => node.name)).toEqual(local);
    expect(NODES.filter((node) => isLocalNode(state, node.name)).map((node) => node.name)).toEqual(local);
    expect(hostsControlPlane(state)).toBe(control);
  });
});

describe('checkSpan', () => {
  it.each([
    [{ localNodes: ['node-1'], underlayDevice: 'eth1' }, undefined],
    [{ localNodes: ['node-2'], underlayDevice: 'ens5', gateway: '10.0.0.1:15013' }, undefined],
    [{ localNodes: [], underlayDevice: 'eth1' }, /names no node/],
    [{ localNodes: ['node-9'], underlayDevice: 'eth1' }, /no node node-9/],
    [{ localNodes: ['node-1', 'node-1'], underlayDevice: 'eth1' }, /twice/],
    [{ localNodes: ['node-1'], underlayDevice: 'eth1; reboot' }, /no interface name/],
    [{ localNodes: ['node-1'], underlayDevice: 'a-very-long-device-name' }, /no interface name/],
    [{ localNodes: ['node-1'], underlayDevice: 'eth1', gateway: '10.0.0.1:15013' }, /joins nothing/],
    [{ localNodes: ['node-2'], underlayDevice: 'eth1' }, /give --join/],
  ])('%j', (span, error) => {
    if (error === undefined) expect(() => checkSpan(NODES, span)).not.toThrow();
    else expect(() => checkSpan(NODES, span)).toThrow(error);
  });
});

describe('authorizeNodeCall', () => {
  const planned: PodRecord[] = [
    {
      uid: 'apps/server',
      name: 'server',
      namespace: 'apps',
      node: 'node-1',
      ips: ['10.244.0.2'],
      serviceAccount: 'server',
    },
    {
      uid: 'apps/client',
      name: 'client',
      namespace: 'apps',
      node: 'node-2',
      ips: ['10.244.1.2'],
      serviceAccount: 'client',
    },
  ] as PodRecord[];
  const lookup = (namespace: string, name: string) =>
    planned.find((pod) => pod.namespace === namespace && pod.name === name);
  const client: PodInfo = {
    uid: 'apps/client',
    name: 'client',
    namespace: 'apps',
    node: 'node-2',
    ips: ['10.244.1.2'],
    serviceAccount: 'client',
    ready: true,
  };

  it.each([
    ['report of its own pod', 'PUT', '/v1/pods', client, 'report'],
    [
      'report without uid and service account defaults',
      'PUT',
      '/v1/pods',
      { ...client, uid: undefined },
      'report',
    ],
    ['removal of its own pod', 'DELETE', '/v1/pods/apps/client', undefined, 'remove'],
    ['sync of its own node', 'PUT', '/v1/nodes/node-2/pods', { pods: [client] }, 'sync'],
    ['sync of its node, emptied', 'PUT', '/v1/nodes/node-2/pods', { pods: [] }, 'sync'],
    ['report claiming another node', 'PUT', '/v1/pods', { ...client, node: 'node-1' }, 'other-node'],
    ['report of a pod planned elsewhere', 'PUT', '/v1/pods', { ...planned[0], node: 'node-2' }, 'other-node'],
    [
      'report of an unplanned pod',
      'PUT',
      '/v1/pods',
      { ...client, name: 'intruder', uid: undefined },
      'not-planned',
    ],
    [
      'report with another service account',
      'PUT',
      '/v1/pods',
      { ...client, serviceAccount: 'server' },
      'identity-mismatch',
    ],
    [
      'report with another address',
      'PUT',
      '/v1/pods',
      { ...client, ips: ['10.244.0.2'] },
      'identity-mismatch',
    ],
    [
      'report with an extra address',
      'PUT',
      '/v1/pods',
      { ...client, ips: ['10.244.1.2', '10.244.0.2'] },
      'identity-mismatch',
    ],
    ['report without a body', 'PUT', '/v1/pods', undefined, 'bad-body'],
    ['report with bad JSON', 'PUT', '/v1/pods', null, 'bad-body'],
    ['removal of another node’s pod', 'DELETE', '/v1/pods/apps/server', undefined, 'other-node'],
    ['removal of an unplanned pod', 'DELETE', '/v1/pods/apps/nobody', undefined, 'not-planned'],
    ['removal with a bad escape', 'DELETE', '/v1/pods/%E0%A4%A/client', undefined, 'bad-body'],
    ['sync of another node', 'PUT', '/v1/nodes/node-1/pods', { pods: [] }, 'other-node'],
    [
      'sync slipping in a foreign pod',
      'PUT',
      '/v1/nodes/node-2/pods',
      { pods: [client, planned[0]] },
      'other-node',
    ],
    ['sync without pods', 'PUT', '/v1/nodes/node-2/pods', {}, 'bad-body'],
    ['config apply', 'POST', '/v1/apply', { files: [] }, 'no-such-call'],
    ['pod listing', 'GET', '/v1/pods', undefined, 'no-such-call'],
    ['status', 'GET', '/v1/status', undefined, 'no-such-call'],
  ])('%s from node-2', (_what, method, path, body, expected) => {
    const decision = authorizeNodeCall('node-2', method, path, body, lookup);
    if (decision.allowed) expect(decision.call.kind).toBe(expected);
    else {
      expect(decision.reason).toBe(expected);
      expect(decision.status).toBeGreaterThanOrEqual(400);
    }
  });
});

describe('join bundles', () => {
  const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  const bundle: JoinBundle = {
    version: 1,
    cluster: 'mesh',
    gateway: '10.10.0.1:15013',
    rootCertPem: pem,
    gatewayCertPem: pem,
    nodeTokens: { 'node-2': 'secret' },
  };

  it('round-trips', () => {
    expect(parseJoinBundle(`${encodeJoinBundle(bundle)}\n`)).toEqual(bundle);
  });

  it.each([
    ['not base64 JSON', 'hello', /not what/],
    ['another version', encodeJoinBundle({ ...bundle, version: 2 as 1 }), /unknown version/],
    ['no gateway', encodeJoinBundle({ ...bundle, gateway: 'gateway' }), /no gateway address/],
    ['no root', encodeJoinBundle({ ...bundle, rootCertPem: 'x' }), /no root certificate/],
    ['no gateway certificate', encodeJoinBundle({ ...bundle, gatewayCertPem: '' }), /no gateway certificate/],
    ['an empty token', encodeJoinBundle({ ...bundle, nodeTokens: { 'node-2': '' } }), /no node tokens/],
    [
      'a node name that is a path',
      encodeJoinBundle({ ...bundle, nodeTokens: { '../x': 'secret' } }),
      /invalid node name/,
    ],
  ])('refuses %s without echoing it', (_what, text, error) => {
    expect(() => parseJoinBundle(text)).toThrow(error);
    try {
      parseJoinBundle(text);
    } catch (caught) {
      expect(String(caught)).not.toContain('secret');
    }
  });
});
