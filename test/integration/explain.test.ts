import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Explanation, Outcome } from '../../src/cli/explain/trace.ts';
import { ambit } from '../support/cli.ts';
import { clusterDown, clusterUp } from '../support/cluster-lifecycle.ts';
import { eventually } from '../support/eventually.ts';
import { makeStateRoot, uniqueName, writeClusterFile } from '../support/local-cluster.ts';
import { manifests, peerAuthenticationDoc, serviceDoc } from '../support/manifests.ts';
import { canRunNetnsTests } from '../support/privileges.ts';
import { showcaseCluster } from '../support/showcase-cluster.ts';

const clusterYaml = (name: string) =>
  showcaseCluster(name, { extra: [serviceDoc('nobody', { namespace: 'apps', app: 'nothing' })] });

const POLICIES = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-client, namespace: apps}
spec:
  selector: {matchLabels: {app: echo}}
  action: DENY
  rules:
  - from: [{source: {principals: [cluster.local/ns/other/sa/someone]}}]
  - from: [{source: {principals: [cluster.local/ns/apps/sa/client]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-admin, namespace: web}
spec:
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: waypoint}]
  action: DENY
  rules: [{to: [{operation: {paths: ["/admin/*"]}}]}]
---
${manifests(peerAuthenticationDoc('strict', { namespace: 'apps', mode: 'STRICT' }))}`;

/** What curl saw: the HTTP status, or that the connection failed (reset, refused, timed out). */
type Seen = { status: number } | 'failed';

interface Case {
  what: string;
  from: string;
  url: string;
  destination: string;
  path: string;
  seen: Seen;
  outcome: Outcome;
  /** The deciding policy, `ns/name#rule`, when one decides; and where. */
  policy?: string;
  at?: RegExp;
  viaWaypoint?: boolean;
}

describe.runIf(canRunNetnsTests())('ambit explain and authz check agree with real traffic', () => {
  const root = makeStateRoot();
  const name = uniqueName('it-expl');
  const run = (...args: string[]) => ambit([...args, '--name', name], { stateRoot: root });
  const curl = async (from: string, url: string): Promise<Seen> => {
    const [namespace, pod] = from.split('/') as [string, string];
    const result = await ambit(
      [
        'local',
        'exec',
        pod,
        '-n',
        namespace,
        '--name',
        name,
        '--',
        'curl',
        '-s',
        '-m',
        '5',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        url,
      ],
      { stateRoot: root },
    );
    return result.code === 0 ? { status: Number(result.stdout) } : 'failed';
  };
  const explain = async (from: string, destination: string, path: string): Promise<Explanation> => {
    const result = await run('explain', from, destination, '--path', path, '-o', 'json');
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as Explanation;
  };

  beforeAll(async () => {
    await clusterUp(root, name, clusterYaml(name));
    // The waypoint has its config: a request through it is answered.
    await eventually(async () => (await curl('apps/client', 'http://echo.web/ready')) !== 'failed', {
      timeout: 20_000,
      what: 'a first answer through the waypoint',
    });
  });

  afterAll(async () => {
    await clusterDown(root, name);
  });

  const agree = async (c: Case) => {
    const seen = await eventually(
      async () => {
        const got = await curl(c.from, c.url);
        return JSON.stringify(got) === JSON.stringify(c.seen) && got;
      },
      { timeout: 15_000, what: `${c.url} from ${c.from} to be ${JSON.stringify(c.seen)}` },
    );
    const explanation = await explain(c.from, c.destination, c.path);
    expect(seen).toEqual(c.seen);
    expect(explanation.verdict.outcome, JSON.stringify(explanation, null, 2)).toBe(c.outcome);
    const policy = explanation.verdict.policy;
    expect(
      policy && `${policy.namespace}/${policy.name}${policy.rule === undefined ? '' : `#${policy.rule}`}`,
    ).toBe(c.policy);
    if (c.at) expect(explanation.verdict.at).toMatch(c.at);
    expect(explanation.steps.some((step) => step.stage === 'waypoint')).toBe(c.viaWaypoint ?? false);
  };

  describe('before any policy', () => {
    it.each<Case>([
      {
        what: 'allowed, pod to Service, mTLS between the ztunnels',
        from: 'apps/client',
        url: 'http://echo.apps/hello',
        destination: 'echo',
        path: '/hello',
        seen: { status: 200 },
        outcome: 'allowed',
        at: /^ztunnel\/n2$/,
      },
      {
        what: 'a Service without endpoint',
        from: 'apps/client',
        url: 'http://nobody.apps/',
        destination: 'nobody.apps',
        path: '/',
        seen: 'failed',
        outcome: 'no-endpoint',
        at: /^ztunnel\/n1$/,
      },
      {
        what: 'allowed through the waypoint',
        from: 'apps/client',
        url: 'http://echo.web/admin/x',
        destination: 'echo.web',
        path: '/admin/x',
        seen: { status: 200 },
        outcome: 'allowed',
        viaWaypoint: true,
      },
      {
        what: 'a plaintext client allowed while PeerAuthentication is PERMISSIVE',
        from: 'outside/stranger',
        url: 'http://echo.apps/',
        destination: 'echo.apps',
        path: '/',
        seen: { status: 200 },
        outcome: 'allowed',
      },
    ])('$what', agree);

    it('authz check -f predicts the DENY before it is applied, while the traffic still passes', async () => {
      const file = writeClusterFile(root, 'policies', POLICIES);
      const check = await run(
        'authz',
        'check',
        '--from',
        'cluster.local/ns/apps/sa/client',
        '--to',
        'echo.apps:80',
        '-f',
        file,
      );
      expect(check.code, check.stdout).toBe(1);
      expect(check.stdout).toMatch(
        /verdict: DENIED at ztunnel\/n2: denied by apps\/deny-client \(DENY\) rule 1/,
      );
      const l7 = await run(
        'authz',
        'check',
        '--from',
        'apps/client',
        '--to',
        'echo.web',
        '--path',
        '/admin/x',
        '-f',
        file,
      );
      expect(l7.code, l7.stdout).toBe(1);
      expect(l7.stdout).toMatch(/DENIED at waypoint\/web\/waypoint: GET \/admin\/x denied by web\/no-admin/);
      const live = await run(
        'authz',
        'check',
        '--from',
        'cluster.local/ns/apps/sa/client',
        '--to',
        'echo.apps',
      );
      expect(live.code, live.stdout).toBe(0);
      expect(await curl('apps/client', 'http://echo.apps/')).toEqual({ status: 200 });
    });
  });

  describe('with the policies applied', () => {
    beforeAll(async () => {
      const result = await run('apply', '-f', writeClusterFile(root, 'policies', POLICIES));
      expect(result.code, result.stderr).toBe(0);
    });

    it.each<Case>([
      {
        what: 'denied by a named L4 policy, with the rule that matched',
        from: 'apps/client',
        url: 'http://echo.apps/hello',
        destination: 'echo.apps',
        path: '/hello',
        seen: 'failed',
        outcome: 'denied',
        policy: 'apps/deny-client#1',
        at: /^ztunnel\/n2$/,
      },
      {
        what: 'STRICT PeerAuthentication refusing a plaintext client',
        from: 'outside/stranger',
        url: 'http://echo.apps/',
        destination: 'echo.apps',
        path: '/',
        seen: 'failed',
        outcome: 'refused',
        policy: 'apps/strict',
        at: /^ztunnel\/n2$/,
      },
      {
        what: 'denied by an L7 policy at the waypoint (403)',
        from: 'apps/client',
        url: 'http://echo.web/admin/x',
        destination: 'echo.web',
        path: '/admin/x',
        seen: { status: 403 },
        outcome: 'denied',
        policy: 'web/no-admin#0',
        at: /^waypoint\/web\/waypoint$/,
        viaWaypoint: true,
      },
      {
        what: 'allowed through the waypoint on another path',
        from: 'apps/client',
        url: 'http://echo.web/hello',
        destination: 'echo.web',
        path: '/hello',
        seen: { status: 200 },
        outcome: 'allowed',
        viaWaypoint: true,
      },
    ])('$what', agree);

    it("explain --recent lists the denied connections of a pod with the ztunnel's reason", async () => {
      expect(await curl('apps/client', 'http://echo.apps/again')).toBe('failed');
      const recent = await eventually(
        async () => {
          const result = await run('explain', '--recent', 'apps/client', '-o', 'json');
          const failures = JSON.parse(result.stdout) as {
            source: string;
            destination: string;
            result: string;
            reason: string;
          }[];
          return failures.find((f) => f.destination === 'apps/echo' && f.result === 'denied');
        },
        { what: 'the denied connection in the access log' },
      );
      expect(recent.source).toBe('apps/client');
      expect(recent.reason).toMatch(/apps\/deny-client/);
    });
  });
});
