/**
 * ServiceEntry and REGISTRY_ONLY in a real local cluster. An "outside" host is a network namespace this test
 * creates, outside the cluster's ranges (198.18.7.0/24) but joined to the cluster's fabric, with an HTTP
 * server on two addresses: one that a ServiceEntry registers, one that nothing registers. A meshed client pod
 * resolves the entry's host through its ztunnel's DNS proxy to an auto-allocated VIP and reaches the outside
 * server through it (the ztunnel metrics naming the entry's host); under the mesh config's REGISTRY_ONLY the
 * unregistered address is refused, counted and logged, while the entry still works. Egress through a waypoint,
 * as Istio ambient does it: a ServiceEntry in `istio-egress` labelled `istio.io/use-waypoint` sends the
 * client's plain HTTP to that namespace's waypoint, which applies the entry's VirtualService (a header, a
 * timeout, retries) and DestinationRule (`tls.mode: SIMPLE`: TLS originated to the outside HTTPS server,
 * whose certificate is checked against the `credentialName` Secret's `ca.crt`).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waypointGateway } from '../../src/core/config/waypoint-gateway.ts';
import { fabricNetns, IFACE, nodeNetns } from '../../src/local/names.ts';
import type { ClusterReport } from '../../src/local/report.ts';
import { ambit, track } from '../support/cli.ts';
import { eventually } from '../support/eventually.ts';
import {
  leftovers,
  makeStateRoot,
  NOTHING_LEFT,
  uniqueName,
  writeClusterFile,
} from '../support/local-cluster.ts';
import { clusterDoc, manifests, namespaceDoc, podDoc } from '../support/manifests.ts';
import { canRunNetnsTests } from '../support/privileges.ts';
import { selfSignedCertificate } from '../support/self-signed.ts';

const OUTSIDE_IP = '198.18.7.10';
const UNREGISTERED_IP = '198.18.7.11';
const OUTSIDE_HOST = 'outside.example.test';
/** The outside HTTPS server's name, reached through the egress waypoint. */
const TLS_HOST = 'tls.outside.example.test';

/** The outside HTTPS server: answers each request with what it saw (path, headers, SNI) as JSON. */
const HTTPS_SERVER = `
const { readFileSync } = require('node:fs');
const [key, cert] = process.argv.slice(1);
require('node:https')
  .createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ path: req.url, headers: req.headers, sni: req.socket.servername }));
  })
  .listen(8443, '0.0.0.0');
`;

const egressEntry = (ca: string) =>
  manifests(
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'ServiceEntry',
      metadata: {
        name: 'outside-tls',
        namespace: 'istio-egress',
        labels: { 'istio.io/use-waypoint': 'waypoint' },
      },
      spec: {
        hosts: [TLS_HOST],
        location: 'MESH_EXTERNAL',
        resolution: 'STATIC',
        ports: [{ number: 80, name: 'http', protocol: 'HTTP' }],
        endpoints: [{ address: OUTSIDE_IP, ports: { http: 8443 } }],
      },
    },
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name: 'outside-tls', namespace: 'istio-egress' },
      spec: { host: TLS_HOST, trafficPolicy: { tls: { mode: 'SIMPLE', credentialName: 'outside-ca' } } },
    },
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'outside-tls', namespace: 'istio-egress' },
      spec: {
        hosts: [TLS_HOST],
        http: [
          {
            timeout: '5s',
            retries: { attempts: 2, retryOn: 'connect-failure' },
            headers: { request: { set: { 'x-egress-via': 'waypoint' } } },
            route: [{ destination: { host: TLS_HOST, port: { number: 80 } } }],
          },
        ],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'outside-ca', namespace: 'istio-egress' },
      stringData: { 'ca.crt': ca },
    },
  );
const BIN = join(import.meta.dirname, '../../bin/ambit.mjs');

const entry = manifests({
  apiVersion: 'networking.istio.io/v1',
  kind: 'ServiceEntry',
  metadata: { name: 'outside', namespace: 'mesh' },
  spec: {
    hosts: [OUTSIDE_HOST],
    location: 'MESH_EXTERNAL',
    resolution: 'STATIC',
    ports: [{ number: 80, name: 'http', protocol: 'HTTP' }],
    endpoints: [{ address: OUTSIDE_IP, ports: { http: 8080 } }],
  },
});

const meshConfig = (mode: string) =>
  manifests({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'istio', namespace: 'istio-system' },
    data: { mesh: `outboundTrafficPolicy:\n  mode: ${mode}\n` },
  });

describe.runIf(canRunNetnsTests())('ServiceEntry and egress in a local cluster', () => {
  const root = makeStateRoot();
  const name = uniqueName('it-se');
  const outside = `ambit-it-outside-${randomBytes(3).toString('hex')}`;
  const fabricPort = `out${randomBytes(3).toString('hex')}`;
  const run = (...args: string[]) => ambit(args, { stateRoot: root });
  const applyYaml = async (file: string, yaml: string) => {
    const result = await run('apply', '-f', writeClusterFile(root, file, yaml), '--name', name);
    expect(result.code, result.stderr).toBe(0);
  };
  const inClient = (...command: string[]) =>
    run('local', 'exec', 'client', '-n', 'mesh', '--name', name, '--', ...command);
  /** GETs `url` from the client pod: the HTTP status (0 when the connection failed) and the body. */
  const get = async (url: string) => {
    const result = await inClient('curl', '-sS', '-m', '5', '-w', '\n%{http_code}', url);
    const lines = result.stdout.trimEnd().split('\n');
    return { code: Number(lines.pop()), body: lines.join('\n'), stderr: result.stderr };
  };
  const ip = (netns: string, ...args: string[]) =>
    execFileSync('ip', ['-n', netns, ...args], { encoding: 'utf8' });
  const metrics = () =>
    execFileSync('ip', ['netns', 'exec', nodeNetns(name, 'n1'), 'curl', '-s', '127.0.0.1:15020/metrics'], {
      encoding: 'utf8',
    });
  const counter = (text: string, metric: string, labels: string) =>
    text
      .split('\n')
      .filter(
        (line) => line.startsWith(`${metric}{`) && labels.split(',').every((label) => line.includes(label)),
      )
      .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
  let server: ChildProcess | undefined;
  let httpsServer: ChildProcess | undefined;
  let report: ClusterReport;
  const { cert: certFile, key: keyFile } = selfSignedCertificate(root, TLS_HOST);

  beforeAll(async () => {
    const cluster = manifests(
      clusterDoc(name, { nodes: ['n1'] }),
      namespaceDoc('mesh', { ambient: true }),
      podDoc('client', { namespace: 'mesh', node: 'n1', serviceAccount: 'client' }),
      namespaceDoc('istio-egress'),
      waypointGateway('waypoint', 'istio-egress', 'service'),
    );
    const up = await run('local', 'up', '-f', writeClusterFile(root, name, cluster));
    expect(up.code, up.stderr).toBe(0);
    report = JSON.parse((await run('local', 'status', '--name', name, '-o', 'json')).stdout) as ClusterReport;
    const node = report.nodes.find((n) => n.name === 'n1')!;
    // The outside host: its own namespace, a veth into the fabric's bridge, routes to the node and its pods.
    execFileSync('ip', ['netns', 'add', outside]);
    ip(
      outside,
      'link',
      'add',
      'eth0',
      'type',
      'veth',
      'peer',
      'name',
      fabricPort,
      'netns',
      fabricNetns(name),
    );
    ip(fabricNetns(name), 'link', 'set', fabricPort, 'master', IFACE.fabricBridge, 'up');
    ip(outside, 'link', 'set', 'lo', 'up');
    ip(outside, 'addr', 'add', `${OUTSIDE_IP}/24`, 'dev', 'eth0');
    ip(outside, 'addr', 'add', `${UNREGISTERED_IP}/24`, 'dev', 'eth0');
    ip(outside, 'link', 'set', 'eth0', 'up');
    ip(outside, 'route', 'add', node.underlayIP, 'dev', 'eth0');
    ip(outside, 'route', 'add', node.podCIDR, 'via', node.underlayIP, 'dev', 'eth0');
    ip(nodeNetns(name, 'n1'), 'route', 'add', '198.18.7.0/24', 'dev', IFACE.uplink);
    server = track(
      spawn(
        'ip',
        [
          'netns',
          'exec',
          outside,
          process.execPath,
          BIN,
          'echo',
          '--port',
          '8080',
          '--host',
          '0.0.0.0',
          '--version',
          'outside',
        ],
        {
          stdio: 'ignore',
        },
      ),
    );
    httpsServer = track(
      spawn('ip', ['netns', 'exec', outside, process.execPath, '-e', HTTPS_SERVER, keyFile, certFile], {
        stdio: 'ignore',
      }),
    );
    await eventually(async () => (await get(`http://${OUTSIDE_IP}:8080/`)).code === 200, {
      timeout: 15_000,
      what: 'the outside server, reached by IP (ALLOW_ANY)',
    });
  });

  afterAll(async () => {
    server?.kill('SIGKILL');
    httpsServer?.kill('SIGKILL');
    try {
      execFileSync('ip', ['netns', 'del', outside], { stdio: 'ignore' });
    } catch {
      // Not created (the cluster did not come up).
    }
    const result = await run('local', 'down', '--name', name);
    expect(result.code, result.stderr).toBe(0);
    expect(leftovers(name, root)).toEqual(NOTHING_LEFT);
    rmSync(root, { recursive: true, force: true });
  });

  it('resolves the entry host to an auto-allocated VIP and reaches the outside server through it', async () => {
    await applyYaml('entry', entry);
    let vip = '';
    await eventually(
      async () => {
        const dig = await inClient('dig', '+short', '+time=2', '+tries=1', OUTSIDE_HOST);
        vip = dig.stdout.trim();
        return /^240\.240\.\d+\.\d+$/.test(vip);
      },
      { timeout: 15_000, what: `${OUTSIDE_HOST} answered with a VIP` },
    );
    const answer = await get(`http://${OUTSIDE_HOST}/via-entry`);
    expect(answer.code, answer.stderr).toBe(200);
    const echo = JSON.parse(answer.body) as { version: string; request: { path: string; source: string } };
    expect(echo.version).toBe('outside');
    expect(echo.request.path).toBe('/via-entry');
    // Sent from the client's own address (no NAT), to the endpoint's port 8080 mapped from the entry's 80.
    expect(echo.request.source.split(':')[0]).toBe(report.pods.find((p) => p.name === 'client')!.ip);
    expect(
      counter(
        metrics(),
        'istio_tcp_connections_opened_total',
        `destination_service="${OUTSIDE_HOST}",destination_service_namespace="mesh"`,
      ),
    ).toBeGreaterThan(0);
  });

  it('under REGISTRY_ONLY refuses an unregistered address, counted and logged, and keeps the entry working', async () => {
    expect((await get(`http://${UNREGISTERED_IP}:8080/`)).code).toBe(200);
    const before = counter(metrics(), 'ambit_ztunnel_connections_refused_total', 'reason="not-in-registry"');
    await applyYaml('mesh-config', meshConfig('REGISTRY_ONLY'));
    await eventually(async () => (await get(`http://${UNREGISTERED_IP}:8080/`)).code === 0, {
      timeout: 15_000,
      what: 'the unregistered address refused',
    });
    expect(
      counter(metrics(), 'ambit_ztunnel_connections_refused_total', 'reason="not-in-registry"'),
    ).toBeGreaterThan(before);
    const logs = await run('local', 'logs', 'node-agent', '--name', name);
    expect(logs.stdout + logs.stderr).toContain('not-in-registry');
    expect((await get(`http://${OUTSIDE_HOST}/still`)).code).toBe(200);
    // A typo in the mode is refused whole: the policy in force stays.
    const bad = await run(
      'apply',
      '-f',
      writeClusterFile(root, 'bad-mesh', meshConfig('REGISTRY_ONY')),
      '--name',
      name,
    );
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain(
      'bad-mesh.yaml: document 1 (ConfigMap istio-system/istio): data.mesh.outboundTrafficPolicy.mode',
    );
    await applyYaml('mesh-config', meshConfig('ALLOW_ANY'));
    await eventually(async () => (await get(`http://${UNREGISTERED_IP}:8080/`)).code === 200, {
      timeout: 15_000,
      what: 'the unregistered address passed through again (ALLOW_ANY)',
    });
  });

  it('egress through a waypoint: the entry’s VirtualService applies and TLS is originated to the outside server', async () => {
    await applyYaml('egress', egressEntry(readFileSync(certFile, 'utf8')));
    let answer = { code: 0, body: '', stderr: '' };
    await eventually(
      async () => {
        answer = await get(`http://${TLS_HOST}/egress`);
        return answer.code === 200;
      },
      { timeout: 30_000, what: `${TLS_HOST} answered through the egress waypoint` },
    );
    const seen = JSON.parse(answer.body) as { path: string; headers: Record<string, string>; sni: string };
    // Plain HTTP from the client; TLS from the waypoint, with the entry's host as SNI; the VS's header set.
    expect(seen).toMatchObject({ path: '/egress', sni: TLS_HOST });
    expect(seen.headers['x-egress-via']).toBe('waypoint');
    // The waypoint's request metrics name the entry (its access log is off here: the mesh config applied
    // above says nothing of accessLogFile, which in Istio's mesh config means none).
    const waypointMetrics = await run(
      'local',
      'exec',
      'waypoint-0',
      '-n',
      'istio-egress',
      '--name',
      name,
      '--',
      'curl',
      '-s',
      '127.0.0.1:15020/metrics',
    );
    expect(
      counter(
        waypointMetrics.stdout,
        'istio_requests_total',
        `destination_service="${TLS_HOST}",response_code="200"`,
      ),
    ).toBeGreaterThan(0);
  });
});
