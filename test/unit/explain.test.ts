/**
 * `ambit explain` as units, by tables: the command-line parts (targets, headers, sources), the DNS names a
 * pod's resolver tries, and the trace over hand-made snapshots: each verdict, with the rule that matched,
 * agreeing with the data plane's own decision functions it calls.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseHeaders, resolveSource, splitTarget } from '../../src/cli/explain/query.ts';
import { failuresOf } from '../../src/cli/explain/recent.ts';
import { readPolicyFiles, withPolicies } from '../../src/cli/explain/snapshots.ts';
import { explainConnection, serviceCandidates } from '../../src/cli/explain/trace.ts';
import type { MeshSnapshots } from '../../src/core/explain/mesh-snapshots.ts';
import { peerAuth, policy, rule, service, snapshot, source, workload } from '../support/mesh-fixtures.ts';

describe('command-line parts', () => {
  it.each([
    ['echo', { host: 'echo', port: 80 }],
    ['echo.apps:9000', { host: 'echo.apps', port: 9000 }],
    ['10.96.0.1:8080', { host: '10.96.0.1', port: 8080 }],
    ['[fd00::1]:443', { host: 'fd00::1', port: 443 }],
    ['fd00::1', { host: 'fd00::1', port: 80 }],
  ])('target %s', (text, expected) => {
    expect(splitTarget(text, 80)).toEqual(expected);
  });

  it.each(['echo:0', 'echo:x', 'echo:70000'])('refuses target %s', (text) => {
    expect(() => splitTarget(text, 80)).toThrow(/1-65535/);
  });

  it('reads headers as name=value or name: value, names lowercased', () => {
    expect(parseHeaders(['X-Canary=yes', 'user-agent: curl/8'])).toEqual({
      'x-canary': 'yes',
      'user-agent': 'curl/8',
    });
    expect(() => parseHeaders(['novalue'])).toThrow(/name=value/);
  });

  it.each([
    ['echo', 'apps', ['echo', 'echo.apps.svc.cluster.local', 'echo.svc.cluster.local', 'echo.cluster.local']],
    [
      'echo.web',
      'apps',
      ['echo.web', 'echo.web.apps.svc.cluster.local', 'echo.web.svc.cluster.local', 'echo.web.cluster.local'],
    ],
    ['echo', undefined, ['echo', 'echo.svc.cluster.local', 'echo.cluster.local']],
  ])('the names %s from namespace %s', (name, namespace, expected) => {
    expect(serviceCandidates(name, namespace)).toEqual(expected);
  });
});

const client = workload({ name: 'client', namespace: 'apps', node: 'n1', ips: ['10.244.0.2'] });
const outsider = workload({
  name: 'outsider',
  namespace: 'outside',
  node: 'n1',
  ips: ['10.244.0.3'],
  enrolled: false,
});
const echo = workload({ name: 'echo', namespace: 'apps', node: 'n2', ips: ['10.244.1.2'] });
const echoService = service({
  name: 'echo',
  namespace: 'apps',
  vips: ['10.96.0.1'],
  endpoints: [{ workloadUid: echo.uid, ip: '10.244.1.2', ready: true }],
});
const empty = service({ name: 'nobody', namespace: 'apps', vips: ['10.96.0.2'] });
const base = { workloads: [client, outsider, echo], services: [echoService, empty] };

function mesh(destinationNode: Parameters<typeof snapshot>[0] = {}): MeshSnapshots {
  return {
    nodes: new Map([
      ['n1', snapshot(base)],
      ['n2', snapshot({ ...base, ...destinationNode })],
    ]),
    waypoints: new Map(),
  };
}

const denyClient = policy({
  name: 'deny-client',
  namespace: 'apps',
  action: 'DENY',
  rules: [
    rule({ from: [source({ principals: ['cluster.local/ns/other/sa/x'] })] }),
    rule({ from: [source({ principals: ['cluster.local/ns/apps/sa/client'] })] }),
  ],
});
const allowOther = policy({
  name: 'allow-other',
  namespace: 'apps',
  rules: [rule({ from: [source({ namespaces: ['other'] })] })],
});

describe('the trace', () => {
  it.each([
    ['allowed, no policy', mesh(), 'apps/client', 'echo', 'allowed', 'ztunnel/n2', undefined],
    [
      'denied by a DENY policy, its second rule',
      mesh({ policies: [denyClient] }),
      'apps/client',
      'echo',
      'denied',
      'ztunnel/n2',
      'apps/deny-client#1',
    ],
    [
      'denied: ALLOW policies select it and none matches',
      mesh({ policies: [allowOther] }),
      'apps/client',
      'echo',
      'denied',
      'ztunnel/n2',
      undefined,
    ],
    ['no endpoint', mesh(), 'apps/client', 'nobody', 'no-endpoint', 'ztunnel/n1', undefined],
    [
      'plaintext refused under STRICT',
      mesh({ peerAuthentications: [peerAuth({ name: 's', namespace: 'apps' })] }),
      'outside/outsider',
      'echo.apps',
      'refused',
      'ztunnel/n2',
      'apps/s',
    ],
    [
      'plaintext accepted under PERMISSIVE',
      mesh(),
      'outside/outsider',
      'echo.apps',
      'allowed',
      'ztunnel/n2',
      undefined,
    ],
    ['an unknown name', mesh(), 'apps/client', 'nothing-here', 'not-found', 'dns', undefined],
    [
      'a simulated principal',
      mesh({ policies: [denyClient] }),
      'cluster.local/ns/apps/sa/client',
      'echo.apps',
      'denied',
      'ztunnel/n2',
      'apps/deny-client#1',
    ],
  ] as const)('%s', (_what, snapshots, from, to, outcome, at, deciding) => {
    const explanation = explainConnection(snapshots, {
      source: resolveSource(snapshots, from, undefined),
      destination: to,
      port: 80,
    });
    expect(explanation.verdict.outcome).toBe(outcome);
    expect(explanation.verdict.at).toBe(at);
    const policyOf = explanation.verdict.policy;
    expect(
      policyOf &&
        `${policyOf.namespace}/${policyOf.name}${policyOf.rule === undefined ? '' : `#${policyOf.rule}`}`,
    ).toBe(deciding);
  });

  it('tells the mTLS of the last hop and the PeerAuthentication mode', () => {
    const strict = mesh({ peerAuthentications: [peerAuth({ name: 's', namespace: 'apps' })] });
    const meshed = explainConnection(strict, {
      source: resolveSource(strict, 'apps/client', undefined),
      destination: 'echo',
      port: 80,
    });
    expect([meshed.mtls, meshed.mtlsMode]).toEqual([true, 'STRICT']);
    const plain = explainConnection(mesh(), {
      source: resolveSource(mesh(), 'outside/outsider', undefined),
      destination: 'echo.apps',
      port: 80,
    });
    expect([plain.mtls, plain.mtlsMode]).toEqual([false, 'PERMISSIVE']);
  });

  const echoLabels = { app: 'echo' };
  it.each([
    ['none: the PERMISSIVE default, no object', [], 'PERMISSIVE', undefined],
    [
      'the mesh-wide one (root namespace)',
      [peerAuth({ name: 'mesh', namespace: 'istio-system' })],
      'STRICT',
      'istio-system/mesh',
    ],
    [
      'the namespace one over the mesh one',
      [
        peerAuth({ name: 'mesh', namespace: 'istio-system' }),
        peerAuth({ name: 'ns', namespace: 'apps', mode: 'PERMISSIVE' }),
      ],
      'PERMISSIVE',
      'apps/ns',
    ],
    [
      'UNSET inherits: the level above named',
      [
        peerAuth({ name: 'mesh', namespace: 'istio-system' }),
        peerAuth({ name: 'ns', namespace: 'apps', mode: 'UNSET' }),
      ],
      'STRICT',
      'istio-system/mesh',
    ],
    [
      'a workload one by selector, with a port-level mode (the target port)',
      [
        peerAuth({ name: 'ns', namespace: 'apps' }),
        peerAuth({
          name: 'wl',
          namespace: 'apps',
          selector: echoLabels,
          mode: 'UNSET',
          portLevelMtls: { 8080: 'DISABLE' },
        }),
      ],
      'DISABLE',
      'apps/wl',
    ],
    [
      'a selector that does not match is no one',
      [peerAuth({ name: 'wl', namespace: 'apps', selector: { app: 'other' } })],
      'PERMISSIVE',
      undefined,
    ],
  ] as const)('names the PeerAuthentication that set the mode: %s', (_what, policies, mode, object) => {
    const labelled = {
      ...mesh({ peerAuthentications: [...policies] }),
    };
    for (const snap of labelled.nodes.values()) {
      const target = snap.workloads.find((w) => w.name === 'echo');
      if (target) Object.assign(target, { labels: { ...target.labels, ...echoLabels } });
    }
    const explanation = explainConnection(labelled, {
      source: resolveSource(labelled, 'apps/client', undefined),
      destination: 'echo',
      port: 80,
    });
    expect(explanation.mtlsMode).toBe(mode);
    const named = explanation.mtlsPolicy;
    expect(named && `${named.namespace}/${named.name}`).toBe(object);
  });
});

describe('authz check -f: policy files over the live config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-authz-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, yaml: string) => {
    const path = join(dir, name);
    writeFileSync(path, yaml);
    return path;
  };
  const plaintext = (snapshots: MeshSnapshots) =>
    explainConnection(snapshots, {
      source: resolveSource(snapshots, 'outside/outsider', undefined),
      destination: 'echo.apps',
      port: 80,
    });

  it('lays a PeerAuthentication over the live one: STRICT refuses the plaintext the live PERMISSIVE let in', () => {
    const live = mesh({
      peerAuthentications: [peerAuth({ name: 'strict-apps', namespace: 'apps', mode: 'PERMISSIVE' })],
    });
    expect(plaintext(live).verdict.outcome).toBe('allowed');
    const files = readPolicyFiles([
      file(
        'pa.yaml',
        'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: strict-apps, namespace: apps}\nspec: {mtls: {mode: STRICT}}\n',
      ),
    ]);
    const explanation = plaintext(withPolicies(live, files));
    expect(explanation.verdict).toMatchObject({
      outcome: 'refused',
      policy: { namespace: 'apps', name: 'strict-apps' },
    });
    expect(explanation.verdict.reason).toContain('PeerAuthentication apps/strict-apps');
  });

  it('refuses files with neither kind, and invalid ones, naming the field', () => {
    expect(() =>
      readPolicyFiles([file('ns.yaml', 'apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n')]),
    ).toThrow(/no AuthorizationPolicy or PeerAuthentication/);
    expect(() =>
      readPolicyFiles([
        file(
          'bad.yaml',
          'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: p, namespace: apps}\nspec: {mtls: {mode: SOMETIMES}}\n',
        ),
      ]),
    ).toThrow(/bad\.yaml.*mode/s);
  });
});

describe('explain --recent: failures from the access log', () => {
  const line = (fields: Record<string, unknown>) =>
    JSON.stringify({
      time: '2026-01-01T00:00:00Z',
      level: 'warn',
      scope: 'access',
      msg: 'connection complete',
      ...fields,
    });
  const lines = [
    line({
      direction: 'inbound',
      'src.workload': 'apps/client',
      'dst.workload': 'apps/echo',
      result: 'denied',
      error: 'denied by apps/deny-client',
    }),
    line({ direction: 'inbound', 'src.workload': 'apps/client', 'dst.workload': 'apps/echo', result: 'ok' }),
    line({
      direction: 'outbound',
      'src.workload': 'apps/client',
      'dst.service': 'apps/nobody',
      result: 'failed',
      error: 'no ready endpoint',
    }),
    line({ direction: 'inbound', 'src.workload': 'web/other', 'dst.workload': 'web/echo', result: 'denied' }),
    'not json at all "connection complete"',
    JSON.stringify({ msg: 'something else', 'src.workload': 'apps/client', result: 'failed' }),
  ];
  it.each([
    ['apps/client', ['denied apps/echo denied by apps/deny-client', 'failed apps/nobody no ready endpoint']],
    ['apps/echo', ['denied apps/echo denied by apps/deny-client']],
    ['web/echo', ['denied web/echo ']],
    ['apps/none', []],
  ])('%s', (pod, expected) => {
    expect(failuresOf(lines, pod, 'n1').map((f) => `${f.result} ${f.destination} ${f.reason}`)).toEqual(
      expected,
    );
  });
});
