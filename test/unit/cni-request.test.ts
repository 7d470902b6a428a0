/** ambit-cni's pure decisions: what a runtime's invocation means, what it refuses (with the spec's codes), who is enrolled. */
import { describe, expect, it } from 'vitest';
import { decideEnrollment, type PodFacts } from '../../src/cni/decision.ts';
import {
  DEFAULT_ENROLL_SOCKET,
  DEFAULT_ENROLL_TIMEOUT_MS,
  MAX_CONFIG_BYTES,
  parseCniArgs,
  parseRequest,
  podIps,
} from '../../src/cni/request.ts';
import { CniError, compareVersions } from '../../src/cni/spec.ts';

const ENV = {
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'abc123',
  CNI_NETNS: '/var/run/netns/cni-1',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin',
  CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-1;K8S_POD_UID=u-1',
};
const PREV = {
  cniVersion: '1.0.0',
  interfaces: [{ name: 'eth0' }],
  ips: [{ address: '10.244.1.7/24', interface: 0 }],
};
const CONFIG = { cniVersion: '1.0.0', name: 'k8s-pod-network', type: 'ambit-cni', prevResult: PREV };

function refusal(env: Record<string, string | undefined>, config: unknown): { code: number; msg: string } {
  try {
    parseRequest(env, typeof config === 'string' ? config : JSON.stringify(config));
  } catch (error) {
    if (error instanceof CniError) return { code: error.cniCode, msg: error.message };
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('parseRequest', () => {
  it('reads an ADD as kubelet sends it, with the defaults of the plugin fields', () => {
    expect(parseRequest(ENV, JSON.stringify(CONFIG))).toEqual({
      command: 'ADD',
      containerId: 'abc123',
      netns: '/var/run/netns/cni-1',
      ifname: 'eth0',
      pod: { namespace: 'shop', name: 'web-1', uid: 'u-1' },
      config: {
        cniVersion: '1.0.0',
        name: 'k8s-pod-network',
        enrollSocket: DEFAULT_ENROLL_SOCKET,
        kubeconfig: undefined,
        excludeNamespaces: ['kube-system'],
        enrollTimeoutMs: DEFAULT_ENROLL_TIMEOUT_MS,
        backend: 'auto',
        prevResult: PREV,
      },
    });
  });

  it('takes the plugin fields from the conflist entry', () => {
    const request = parseRequest(
      ENV,
      JSON.stringify({
        ...CONFIG,
        enrollSocket: '/run/a/enroll.sock',
        kubeconfig: '/etc/cni/net.d/ambit.kubeconfig',
        excludeNamespaces: [],
        enrollTimeoutMs: 500,
        backend: 'nft',
      }),
    );
    expect(request.command === 'ADD' && request.config).toMatchObject({
      enrollSocket: '/run/a/enroll.sock',
      kubeconfig: '/etc/cni/net.d/ambit.kubeconfig',
      excludeNamespaces: [],
      enrollTimeoutMs: 500,
      backend: 'nft',
    });
  });

  it('answers VERSION whatever version the runtime names', () => {
    expect(parseRequest({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"9.9.9"}')).toEqual({
      command: 'VERSION',
      cniVersion: '9.9.9',
    });
  });

  it('lets DEL come without a netns (already gone) and without a prevResult', () => {
    const request = parseRequest(
      { ...ENV, CNI_COMMAND: 'DEL', CNI_NETNS: '' },
      JSON.stringify({ ...CONFIG, prevResult: undefined }),
    );
    expect(request.command === 'DEL' && [request.netns, request.config.prevResult]).toEqual([
      undefined,
      undefined,
    ]);
  });

  it('has no pod when CNI_ARGS names none (not a Kubernetes sandbox)', () => {
    const request = parseRequest({ ...ENV, CNI_ARGS: 'IgnoreUnknown=1' }, JSON.stringify(CONFIG));
    expect(request.command === 'ADD' && request.pod).toBeUndefined();
  });

  it.each([
    ['no command', { ...ENV, CNI_COMMAND: undefined }, CONFIG, 4, /CNI_COMMAND is not set/],
    ['an unknown command', { ...ENV, CNI_COMMAND: 'GC' }, CONFIG, 4, /not one of ADD, DEL, CHECK, VERSION/],
    ['no container id', { ...ENV, CNI_CONTAINERID: '' }, CONFIG, 4, /CNI_CONTAINERID/],
    ['no interface name', { ...ENV, CNI_IFNAME: undefined }, CONFIG, 4, /CNI_IFNAME/],
    ['no netns on ADD', { ...ENV, CNI_NETNS: '' }, CONFIG, 4, /CNI_NETNS is required for ADD/],
    ['a relative netns', { ...ENV, CNI_NETNS: 'netns/x' }, CONFIG, 4, /absolute path/],
    ['malformed CNI_ARGS', { ...ENV, CNI_ARGS: 'K8S_POD_NAME' }, CONFIG, 4, /CNI_ARGS: "K8S_POD_NAME"/],
    ['stdin that is not JSON', ENV, '{"cniVersion":', 6, /not JSON/],
    ['a JSON list', ENV, '[]', 6, /JSON object/],
    ['stdin over the limit', ENV, `{"x":"${'a'.repeat(MAX_CONFIG_BYTES)}"}`, 6, /longer than/],
    ['no cniVersion', ENV, { ...CONFIG, cniVersion: undefined }, 7, /cniVersion: required/],
    ['an unsupported cniVersion', ENV, { ...CONFIG, cniVersion: '0.2.0' }, 1, /0\.2\.0 is not supported/],
    [
      'CHECK before 0.4.0',
      { ...ENV, CNI_COMMAND: 'CHECK' },
      { ...CONFIG, cniVersion: '0.3.1' },
      1,
      /CHECK needs/,
    ],
    ['no name', ENV, { ...CONFIG, name: undefined }, 7, /name: required/],
    [
      'ADD without prevResult',
      ENV,
      { ...CONFIG, prevResult: undefined },
      7,
      /chained after the primary plugin/,
    ],
    [
      'a prevResult address without prefix',
      ENV,
      { ...CONFIG, prevResult: { ips: [{ address: '10.0.0.1' }] } },
      7,
      /prevResult\.ips\[0\]\.address/,
    ],
    [
      'a prevResult address that is no IP',
      ENV,
      { ...CONFIG, prevResult: { ips: [{ address: 'x/24' }] } },
      7,
      /CIDR/,
    ],
    [
      'a relative socket',
      ENV,
      { ...CONFIG, enrollSocket: 'enroll.sock' },
      7,
      /enrollSocket: must be an absolute path/,
    ],
    [
      'excludeNamespaces not a list',
      ENV,
      { ...CONFIG, excludeNamespaces: 'kube-system' },
      7,
      /excludeNamespaces/,
    ],
    ['a timeout out of range', ENV, { ...CONFIG, enrollTimeoutMs: 10 }, 7, /enrollTimeoutMs/],
    ['an unknown backend', ENV, { ...CONFIG, backend: 'ebpf' }, 7, /backend "ebpf"/],
  ])('refuses %s', (_, env, config, code, message) => {
    const { code: got, msg } = refusal(env, config);
    expect(got).toBe(code);
    expect(msg).toMatch(message);
  });
});

describe('CNI helpers', () => {
  it.each([
    ['', []],
    ['A=1', [['A', '1']]],
    [
      'IgnoreUnknown=1;K8S_POD_NAME=a=b;',
      [
        ['IgnoreUnknown', '1'],
        ['K8S_POD_NAME', 'a=b'],
      ],
    ],
  ])('parseCniArgs(%j)', (value, pairs) => {
    expect([...parseCniArgs(value)]).toEqual(pairs);
  });

  it.each([
    ['1.0.0', '0.4.0', 1],
    ['0.4.0', '0.4.0', 0],
    ['0.3.1', '0.4.0', -1],
    ['0.10.0', '0.4.0', 1],
  ])('compareVersions(%s, %s) has the sign of %d', (a, b, sign) => {
    expect(Math.sign(compareVersions(a, b))).toBe(sign);
  });

  it('takes the pod IPs from the previous result without their prefix', () => {
    expect(
      podIps({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24' }, { address: 'fd00::2/64' }] }),
    ).toEqual(['10.0.0.2', 'fd00::2']);
    expect(podIps(undefined)).toEqual([]);
  });
});

describe('decideEnrollment', () => {
  const facts = (overrides: Partial<PodFacts>): PodFacts => ({
    uid: 'u-1',
    namespace: 'shop',
    name: 'web-1',
    labels: {},
    namespaceLabels: { 'istio.io/dataplane-mode': 'ambient' },
    serviceAccount: 'web',
    hostNetwork: false,
    ...overrides,
  });
  const context = { ips: ['10.244.1.7'], netns: '/var/run/netns/cni-1', excludeNamespaces: ['kube-system'] };

  it.each([
    ['an ambient namespace', {}, true],
    [
      'an ambient pod in a plain namespace',
      { labels: { 'istio.io/dataplane-mode': 'ambient' }, namespaceLabels: {} },
      true,
    ],
    ['a pod that opts out', { labels: { 'istio.io/dataplane-mode': 'none' } }, false],
    ['a plain namespace', { namespaceLabels: {} }, false],
    ['a host-network pod', { hostNetwork: true }, false],
    ['an excluded namespace', { namespace: 'kube-system' }, false],
  ])('%s', (_, overrides, enroll) => {
    expect(decideEnrollment(facts(overrides), context).enroll).toBe(enroll);
  });

  it('enrolls with the API uid and service account, the IPs of the previous plugin and the sandbox netns', () => {
    expect(decideEnrollment(facts({}), context)).toEqual({
      enroll: true,
      pod: {
        uid: 'u-1',
        name: 'web-1',
        namespace: 'shop',
        serviceAccount: 'web',
        ips: ['10.244.1.7'],
        netns: '/var/run/netns/cni-1',
      },
    });
  });
});
