/**
 * The demo's second act: the same traffic seen as the mesh sees it. A request by Service name (answered by
 * the client's ztunnel DNS proxy and load-balanced over the echo pods), the mTLS identities and counters in
 * the destination ztunnel's metrics, then a DENY AuthorizationPolicy that stops the request and its deletion
 * that lets it through again, with nothing restarted.
 */
import { execFileSync } from 'node:child_process';
import { ControlApiClient } from '../core/control-api/client.ts';
import { ZTUNNEL_PORTS } from '../core/ports.ts';
import type { EchoReport } from '../echo/http.ts';
import { execInPod } from './exec.ts';
import { controlPlaneEndpoint } from './mesh/control-plane.ts';
import { statePaths } from './state.ts';
import type { ClusterState, PodRecord } from './types.ts';

const out = (text: string) => process.stdout.write(text);

export async function meshTour(cluster: ClusterState, client: PodRecord, service: string): Promise<boolean> {
  const url = `http://${service}.${client.namespace}/hello`;
  out(
    `\nBy Service name, through the mesh:\n$ ambit local exec ${client.name} -n ${client.namespace} -- curl -s ${url}\n`,
  );
  const first = await curl(cluster, client, url);
  if (!first.ok) return false;
  const report = JSON.parse(first.body) as EchoReport;
  out(`answered by pod ${report.pod} on ${report.node}; it saw the request from ${report.request.source}\n`);

  const server = cluster.pods.find((pod) => pod.name === report.pod && pod.namespace === client.namespace);
  if (server) showIdentities(cluster, server);

  const control = new ControlApiClient(controlPlaneEndpoint(cluster).sockets);
  const policy = [{ name: 'deny-client.yaml', content: denyPolicy(client) }];
  out(`\nA DENY AuthorizationPolicy for ${client.name}'s identity:\n$ ambit apply -f deny-client.yaml\n`);
  await control.apply(policy);
  const denied = await until(cluster, client, url, false);
  out(
    denied
      ? `the same request now fails: ${denied.detail}\n`
      : 'the policy did not take effect within 10 s\n',
  );
  out('$ ambit delete -f deny-client.yaml\n');
  await control.delete(policy);
  const restored = await until(cluster, client, url, true);
  out(
    restored
      ? 'and once deleted it succeeds again (nothing was restarted)\n'
      : 'the request did not recover within 10 s\n',
  );
  return denied !== undefined && restored !== undefined;
}

function denyPolicy(client: PodRecord): string {
  return [
    'apiVersion: security.istio.io/v1',
    'kind: AuthorizationPolicy',
    `metadata: {name: deny-${client.name}, namespace: ${client.namespace}}`,
    'spec:',
    '  action: DENY',
    `  rules: [{from: [{source: {principals: [cluster.local/ns/${client.namespace}/sa/${client.serviceAccount}]}}]}]`,
    '',
  ].join('\n');
}

/** The destination ztunnel's TCP counters for connections from the client: who, with which mTLS identity. */
function showIdentities(cluster: ClusterState, server: PodRecord): void {
  const node = cluster.nodes.find((candidate) => candidate.name === server.node);
  if (!node) return;
  const metrics = execFileSync(
    'ip',
    [
      'netns',
      'exec',
      node.netns,
      'curl',
      '-s',
      '--max-time',
      '5',
      `http://127.0.0.1:${ZTUNNEL_PORTS.metrics}/metrics`,
    ],
    { encoding: 'utf8' },
  );
  const opened = metrics
    .split('\n')
    .filter(
      (line) =>
        line.startsWith('istio_tcp_connections_opened_total{') && line.includes('reporter="destination"'),
    )
    .filter((line) => line.includes('source_principal="spiffe://'));
  out(`\n${server.node}'s ztunnel counted these mTLS connections (reporter="destination"):\n`);
  for (const line of opened) {
    const pick = (name: string) => new RegExp(`[{,]${name}="([^"]*)"`).exec(line)?.[1] ?? 'unknown';
    out(
      `  ${pick('source_workload')} -> ${pick('destination_workload')}: ${line.split(' ').at(-1)} connection(s), ` +
        `source_principal=${pick('source_principal')}, security=${pick('connection_security_policy')}\n`,
    );
  }
}

interface CurlResult {
  ok: boolean;
  body: string;
  detail: string;
}

async function curl(cluster: ClusterState, client: PodRecord, url: string): Promise<CurlResult> {
  const result = await execInPod(
    statePaths(cluster.stateDir),
    client,
    ['curl', '-sS', '--max-time', '5', url],
    {
      capture: true,
      captureStderr: true,
    },
  );
  const detail = result.stderr.trim() || `curl exit status ${result.code}`;
  return { ok: result.code === 0, body: result.stdout, detail };
}

/** Repeats the request until it succeeds (or fails) as expected; a policy change needs a push to arrive. */
async function until(
  cluster: ClusterState,
  client: PodRecord,
  url: string,
  succeed: boolean,
): Promise<CurlResult | undefined> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const result = await curl(cluster, client, url);
    if (result.ok === succeed) return result;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return undefined;
}
