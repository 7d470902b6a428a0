/**
 * The demo's third act: L7 through a waypoint. A waypoint Gateway for the demo namespace (deployed as a pod
 * by the cluster) and the namespace labelled to use it, as `ambit waypoint apply -n demo --enroll-namespace`
 * does; then a canary split (DestinationRule subsets v1/v2, a VirtualService sending 90/10) counted over
 * 200 requests; then an L7 DENY by path that answers 403 for /admin/* while /hello still gets 200; then a
 * retry hiding a flaky upstream (every other answer of each pod a 503, which Istio's default retries leave
 * alone): the failures show, and with `retries` on the route every request succeeds.
 */
import { stringify } from 'yaml';
import { waypointGateway } from '../core/config/waypoint-gateway.ts';
import { ControlApiClient } from '../core/control-api/client.ts';
import { USE_WAYPOINT_LABEL } from '../core/labels.ts';
import { execInPod } from './exec.ts';
import { controlPlaneEndpoint } from './mesh/control-plane.ts';
import { statePaths } from './state.ts';
import { controlRequest } from './supervisor/control.ts';
import type { ClusterState, PodRecord } from './types.ts';

const out = (text: string) => process.stdout.write(text);
const WAYPOINT = 'waypoint';
const SPLIT_REQUESTS = 200;
const FLAKY_REQUESTS = 20;
const WAIT_MS = 20_000;

function canary(namespace: string, service: string): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${service}, namespace: ${namespace}}
spec:
  host: ${service}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${service}, namespace: ${namespace}}
spec:
  hosts: [${service}]
  http:
  - match: [{headers: {x-canary: {exact: "yes"}}}]
    route: [{destination: {host: ${service}, subset: v2}}]
  - route:
    - {destination: {host: ${service}, subset: v1}, weight: 90}
    - {destination: {host: ${service}, subset: v2}, weight: 10}
`;
}

function denyAdmin(namespace: string): string {
  return `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-admin, namespace: ${namespace}}
spec:
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: ${WAYPOINT}}]
  action: DENY
  rules: [{to: [{operation: {paths: ["/admin/*"]}}]}]
`;
}

/**
 * The service's route with retries on 5xx, replacing the canary's VirtualService. Three retries: with three
 * echo pods each about to fail, the first three attempts may each meet one; the fourth goes to a pod whose
 * last answer was its failure, so it succeeds.
 */
function retries(namespace: string, service: string): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${service}, namespace: ${namespace}}
spec:
  hosts: [${service}]
  http:
  - route: [{destination: {host: ${service}}}]
    retries: {attempts: 3, retryOn: 5xx}
`;
}

export async function waypointTour(
  cluster: ClusterState,
  client: PodRecord,
  service: string,
): Promise<boolean> {
  const { namespace } = client;
  const control = new ControlApiClient(controlPlaneEndpoint(cluster).sockets);
  const host = `http://${service}.${namespace}`;
  const curl = async (...args: string[]) =>
    execInPod(statePaths(cluster.stateDir), client, ['curl', '-s', '--max-time', '5', ...args], {
      capture: true,
    });
  const versions = async (count: number, headers: string[] = []) => {
    const result = await curl('-o', '/dev/null', '-D', '-', ...headers, `${host}/canary/[1-${count}]`);
    return [...result.stdout.matchAll(/^x-echo-version: (\S+)/gim)].map((match) => match[1]!);
  };
  const code = async (path: string) =>
    Number((await curl('-o', '/dev/null', '-w', '%{http_code}', `${host}${path}`)).stdout);

  out(
    `\nA waypoint (L7 proxy) for namespace ${namespace}:\n$ ambit waypoint apply -n ${namespace} --enroll-namespace --wait\n`,
  );
  await control.apply([
    {
      name: `waypoint ${namespace}/${WAYPOINT}`,
      content: stringify(waypointGateway(WAYPOINT, namespace, 'service')),
    },
  ]);
  await controlRequest(statePaths(cluster.stateDir), cluster.name, {
    type: 'label',
    target: { kind: 'namespace', name: namespace },
    edit: { set: { [USE_WAYPOINT_LABEL]: WAYPOINT }, remove: [] },
    overwrite: true,
  });
  const address = await until(async () => {
    const [gateway] = await control.get({ kind: 'Gateway', name: WAYPOINT, namespace });
    const status = (gateway?.document as { status?: GatewayStatusView } | undefined)?.status;
    const programmed = status?.conditions.some((c) => c.type === 'Programmed' && c.status === 'True');
    return programmed ? (status?.addresses[0]?.value ?? '') : undefined;
  });
  if (address === undefined) {
    out('the waypoint was not Programmed in time (see `ambit waypoint status -n demo`)\n');
    return false;
  }
  out(
    `waypoint ${namespace}/${WAYPOINT} is Programmed at ${address}: ${service}'s traffic now goes through it\n`,
  );

  out('\nA canary: DestinationRule subsets v1/v2 and a VirtualService sending 90% to v1, 10% to v2:\n');
  out('$ ambit apply -f canary.yaml\n');
  await control.apply([{ name: 'canary.yaml', content: canary(namespace, service) }]);
  const active = await until(async () =>
    (await versions(3, ['-H', 'x-canary: yes'])).every((v) => v === 'v2') ? true : undefined,
  );
  if (!active) {
    out('the VirtualService did not reach the waypoint in time\n');
    return false;
  }
  const split = await versions(SPLIT_REQUESTS);
  const v2 = split.filter((version) => version === 'v2').length;
  out(
    `$ ambit local exec ${client.name} -n ${namespace} -- curl -s '${host}/canary/[1-${SPLIT_REQUESTS}]'\n` +
      `${split.length} answers: v1 ${split.length - v2}, v2 ${v2} (about 10% expected); with header x-canary: yes, always v2\n`,
  );

  out('\nAn L7 DENY on the waypoint for paths /admin/*:\n$ ambit apply -f no-admin.yaml\n');
  await control.apply([{ name: 'no-admin.yaml', content: denyAdmin(namespace) }]);
  const denied = await until(async () => ((await code('/admin/users')) === 403 ? true : undefined));
  const allowed = await code('/hello');
  out(
    denied
      ? `GET /admin/users -> 403 (RBAC: access denied), GET /hello -> ${allowed}\n`
      : 'the policy did not take effect in time\n',
  );
  await control.delete([{ name: 'no-admin.yaml', content: denyAdmin(namespace) }]);

  // Each pod fails every other request it gets (`?fail-every=2`): a flaky upstream.
  const flakyUrl = `${host}/flaky/[1-${FLAKY_REQUESTS}]?fail-every=2`;
  const succeeded = async () =>
    (await curl('-o', '/dev/null', '-w', '%{http_code}\n', flakyUrl)).stdout
      .split('\n')
      .filter((line) => line === '200').length;
  out(
    `\nA flaky upstream (each echo pod fails every other request with 503; Istio's default retries do not retry 503):\n$ ambit local exec ${client.name} -n ${namespace} -- curl -s '${flakyUrl}'\n`,
  );
  const before = await succeeded();
  out(`${before} of ${FLAKY_REQUESTS} succeeded\n`);
  out('\nRetries on the route (attempts: 3, retryOn: 5xx):\n$ ambit apply -f retries.yaml\n');
  await control.apply([{ name: 'retries.yaml', content: retries(namespace, service) }]);
  // Until the route's retries arrive, some requests still fail; the count settles at all of them.
  let last = 0;
  const after = await until(async () => {
    last = await succeeded();
    return last === FLAKY_REQUESTS ? last : undefined;
  });
  out(
    after === FLAKY_REQUESTS
      ? `${after} of ${FLAKY_REQUESTS} succeeded: the waypoint retried each 503\n`
      : `the retries did not take effect in time (last: ${last} of ${FLAKY_REQUESTS} succeeded)\n`,
  );
  return (
    split.length === SPLIT_REQUESTS &&
    v2 > 0 &&
    v2 < SPLIT_REQUESTS / 2 &&
    denied === true &&
    allowed === 200 &&
    before < FLAKY_REQUESTS &&
    after === FLAKY_REQUESTS
  );
}

interface GatewayStatusView {
  addresses: { value: string }[];
  conditions: { type: string; status: string }[];
}

/** Repeats `probe` until it returns a value (config takes a push to arrive); undefined after WAIT_MS. */
async function until<T>(probe: () => Promise<T | undefined>): Promise<T | undefined> {
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return undefined;
}
