import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waypointGateway } from '../../src/core/config/waypoint-gateway.ts';
import type { ClusterReport } from '../../src/local/report.ts';
import { ambit } from '../support/cli.ts';
import { clusterDown, clusterUp } from '../support/cluster-lifecycle.ts';
import { eventually } from '../support/eventually.ts';
import { makeStateRoot, uniqueName, writeClusterFile } from '../support/local-cluster.ts';
import { clusterDoc, echoPod, manifests, namespaceDoc, podDoc } from '../support/manifests.ts';
import { canRunNetnsTests } from '../support/privileges.ts';
import { waypointMetric } from '../support/waypoint-metrics.ts';

const service = (name: string, selector: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'apps' },
  spec: { selector, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
});

const clusterYaml = (name: string) =>
  manifests(
    clusterDoc(name),
    namespaceDoc('apps', { ambient: true, labels: { 'istio.io/use-waypoint': 'waypoint' } }),
    waypointGateway('waypoint', 'apps', 'service'),
    echoPod('echo-v1', {
      namespace: 'apps',
      node: 'n2',
      labels: { app: 'echo', version: 'v1' },
      version: 'v1',
    }),
    echoPod('echo-v2', {
      namespace: 'apps',
      node: 'n1',
      labels: { app: 'echo', version: 'v2' },
      version: 'v2',
    }),
    podDoc('client', { namespace: 'apps', node: 'n1', serviceAccount: 'client' }),
    service('echo', { app: 'echo' }),
    service('echo-v1', { app: 'echo', version: 'v1' }),
    service('echo-v2', { app: 'echo', version: 'v2' }),
  );

const ISSUER = 'https://issuer.ambit.test';

describe.runIf(canRunNetnsTests())('waypoint request policies in a local cluster', () => {
  const root = makeStateRoot();
  const name = uniqueName('it-wppol');
  const run = (...args: string[]) => ambit(args, { stateRoot: root });
  const local = (...args: string[]) => run('local', ...args, '--name', name);
  const status = async () => JSON.parse((await local('status', '-o', 'json')).stdout) as ClusterReport;
  const fromClient = (...command: string[]) =>
    run('local', 'exec', 'client', '-n', 'apps', '--name', name, '--', ...command);
  const apply = async (file: string, yaml: string) => {
    const result = await run('apply', '-f', writeClusterFile(root, file, yaml), '--name', name);
    expect(result.code, result.stderr).toBe(0);
  };
  /** The HTTP status of each of `count` requests to `url` on one connection (curl's URL globbing). */
  const codes = async (url: string, count = 1, headers: string[] = []) => {
    const glob = count === 1 ? url : `${url}/[1-${count}]`;
    const result = await fromClient(
      'curl',
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}\\n',
      ...headers,
      glob,
    );
    return result.stdout.trim().split('\n').map(Number);
  };
  const metric = (metricName: string, match: Record<string, string>) =>
    waypointMetric(name, metricName, match);

  beforeAll(async () => {
    await clusterUp(root, name, clusterYaml(name));
    const report = await status();
    expect(report.pods.find((pod) => pod.name === 'waypoint-0')?.ready).toBe(true);
    await eventually(async () => (await codes('http://echo.apps/'))[0] === 200, {
      timeout: 20_000,
      what: 'a first answer through the waypoint',
    });
  });

  afterAll(async () => {
    await clusterDown(root, name);
  });

  it('JWT: a valid token with the claim 200, without it 403, a bad signature 401, no token 403', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwks = JSON.stringify({
      keys: [{ ...(await exportJWK(publicKey)), kid: 'run-key', alg: 'ES256' }],
    });
    const token = (groups: string[], key = privateKey) =>
      new SignJWT({ groups })
        .setProtectedHeader({ alg: 'ES256', kid: 'run-key' })
        .setIssuer(ISSUER)
        .setSubject('alice')
        .setAudience('echo')
        .setExpirationTime('10m')
        .sign(key);
    await apply(
      'jwt',
      `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: echo-jwt, namespace: apps}
spec:
  targetRefs: [{kind: Service, group: "", name: echo}]
  jwtRules:
  - issuer: ${ISSUER}
    audiences: [echo]
    jwks: '${jwks}'
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: echo-admins, namespace: apps}
spec:
  targetRefs: [{kind: Service, group: "", name: echo}]
  action: ALLOW
  rules:
  - from: [{source: {requestPrincipals: ["${ISSUER}/*"]}}]
    when: [{key: "request.auth.claims[groups]", values: [admin]}]
`,
    );
    const bearer = (value: string) => ['-H', `authorization: Bearer ${value}`];
    const admin = await token(['dev', 'admin']);
    await eventually(async () => (await codes('http://echo.apps/', 1))[0] === 403, {
      timeout: 15_000,
      what: 'the policy to refuse a request without a token',
    });
    expect(await codes('http://echo.apps/', 1, bearer(admin))).toEqual([200]);
    expect(await codes('http://echo.apps/', 1, bearer(await token(['dev'])))).toEqual([403]);
    const other = await generateKeyPair('ES256');
    expect(await codes('http://echo.apps/', 1, bearer(await token(['admin'], other.privateKey)))).toEqual([
      401,
    ]);
    expect(await codes('http://echo.apps/', 1, bearer('not-a-jwt'))).toEqual([401]);
    expect(await codes('http://echo.apps/')).toEqual([403]);
  });

  it('rate limit: a burst over the rate answers 429 RL', async () => {
    await apply(
      'ratelimit',
      `apiVersion: policy.linkerd.io/v1alpha1
kind: HTTPLocalRateLimitPolicy
metadata: {name: echo-v2, namespace: apps}
spec:
  targetRef: {group: "", kind: Service, name: echo-v2}
  identity: {requestsPerSecond: 1}
`,
    );
    await eventually(async () => (await codes('http://echo-v2.apps', 5)).includes(429), {
      timeout: 15_000,
      what: 'the rate limit to apply',
    });
    const started = performance.now();
    const burst = await codes('http://echo-v2.apps', 20);
    const seconds = (performance.now() - started) / 1000;
    const passed = burst.filter((code) => code === 200).length;
    expect(burst.filter((code) => code === 429)).toHaveLength(20 - passed);
    // One second's worth (1) at the start, then one more per second the burst took.
    expect(passed).toBeLessThanOrEqual(1 + Math.floor(seconds));
    expect(
      metric('istio_requests_total', { response_code: '429', response_flags: 'RL' }),
    ).toBeGreaterThanOrEqual(20 - passed);
  });

  it('mirror: the caller gets the primary answers; the copies to the mirror are answered and counted', async () => {
    await apply(
      'mirror',
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo-v1, namespace: apps}
spec:
  hosts: [echo-v1]
  http:
  - route: [{destination: {host: echo-v1}}]
    mirror: {host: echo}
`,
    );
    const answered = () =>
      metric('ambit_waypoint_mirrored_requests_total', {
        cluster: 'outbound|80||echo.apps.svc.cluster.local',
        outcome: 'answered',
      });
    await eventually(
      async () => {
        await codes('http://echo-v1.apps/');
        return answered() > 0;
      },
      { timeout: 15_000, what: 'a first mirrored copy' },
    );
    const before = answered();
    expect(await codes('http://echo-v1.apps', 5)).toEqual([200, 200, 200, 200, 200]);
    await eventually(() => answered() - before === 5, { what: 'five copies answered by the mirror' });
  });
});
