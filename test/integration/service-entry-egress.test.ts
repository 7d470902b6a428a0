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
 * whose certificate is checked against the `credentialName` Secret's `ca.crt`). TLS origination's other
 * modes: MUTUAL presents the client certificate of a Secret to an outside server that requires one,
 * ISTIO_MUTUAL presents the waypoint's mesh certificate to an outside server holding one from the mesh CA, and
 * a `credentialName` naming no Secret fails closed (503) with a warning on apply. `resolution: DNS`: the
 * outside host also runs a DNS server (the cluster file's `spec.dns.upstream`), through which the egress
 * waypoint resolves an entry's hostname endpoint, following a changed answer once its TTL runs out, and the
 * hosts of an entry without endpoints by their own names; a name that does not resolve gets 503, counted.
 * `resolution: DYNAMIC_DNS`: every name under a wildcard host gets the entry's VIP from the DNS proxy, and the
 * waypoint resolves each request's host; a Host outside the wildcard is refused without a lookup. The lookups
 * a client causes are bounded: a second client pod floods random names under the wildcard and is refused
 * (503, counted by its identity) beyond its share, while the first client's new name still resolves. On a
 * TLS port the name is the ClientHello's SNI: the client's own TLS reaches an HTTPS server on the outside
 * host through the waypoint, untouched; an SNI outside the wildcard, or none, is reset and counted.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
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
import { type OutsideRecord, outsideQueries, writeOutsideRecords } from '../support/outside-dns.ts';
import { canRunNetnsTests } from '../support/privileges.ts';
import { selfSignedCertificate } from '../support/self-signed.ts';
import { TestCa } from '../support/test-ca.ts';

const OUTSIDE_IP = '198.18.7.10';
const UNREGISTERED_IP = '198.18.7.11';
const OUTSIDE_HOST = 'outside.example.test';
/** The outside HTTPS server's name, reached through the egress waypoint. */
const TLS_HOST = 'tls.outside.example.test';

const DNS_HOST = 'api.dns.example.test';
const DNS_BACKEND = 'backend.dns.example.test';
const SELF_RESOLVED = 'self.dns.example.test';
const UNRESOLVED = 'nowhere.dns.example.test';
const MTLS_HOST = 'mtls.outside.example.test';
const MESH_TLS_HOST = 'mesh.outside.example.test';
const MISSING_SECRET_HOST = 'missing.outside.example.test';
/** A DYNAMIC_DNS entry's wildcard host, and two names under it that the outside DNS answers differently. */
const WILDCARD_HOST = '*.wild.example.test';
const WILD_A = 'a.wild.example.test';
const WILD_B = 'b.deeper.wild.example.test';
/** A name under the wildcard that only the quiet client asks for, after the flood. */
const WILD_C = 'c.wild.example.test';
/** A DYNAMIC_DNS entry on a TLS port, and the name of the outside HTTPS server under it. */
const TLS_WILDCARD_HOST = '*.tlswild.example.test';
const TLS_WILD = 'secure.tlswild.example.test';
/** The waypoint's default allowance of new names per client, and its refill (64 a minute). */
const NEW_NAMES_PER_CLIENT = 64;
const NEW_NAMES_PER_SECOND = 64 / 60;

/**
 * The outside HTTPS server: answers each request with what it saw (path, headers, SNI, the client
 * certificate's names) as JSON. With a CA file it requires a client certificate that chains to it.
 */
const HTTPS_SERVER = `
const { readFileSync } = require('node:fs');
const [key, cert, port, ca] = process.argv.slice(1);
const mutual = ca ? { ca: readFileSync(ca), requestCert: true, rejectUnauthorized: true } : {};
require('node:https')
  .createServer({ key: readFileSync(key), cert: readFileSync(cert), ...mutual }, (req, res) => {
    const peer = req.socket.getPeerCertificate();
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({
      path: req.url,
      headers: req.headers,
      sni: req.socket.servername,
      client: peer && (peer.subjectaltname || (peer.subject && peer.subject.CN)),
    }));
  })
  .listen(Number(port), '0.0.0.0');
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
/**
 * A waypoint-bound ServiceEntry in istio-egress for one outside host, with one HTTP (or TLS) port and an
 * optional DestinationRule.
 */
const egressHost = (
  name: string,
  spec: { hosts: string[]; resolution: string; port: number; protocol?: 'TLS'; endpoints?: object[] },
  tls?: object,
): object[] => [
  {
    apiVersion: 'networking.istio.io/v1',
    kind: 'ServiceEntry',
    metadata: { name, namespace: 'istio-egress', labels: { 'istio.io/use-waypoint': 'waypoint' } },
    spec: {
      hosts: spec.hosts,
      location: 'MESH_EXTERNAL',
      resolution: spec.resolution,
      ports: [
        spec.protocol === 'TLS'
          ? { number: spec.port, name: 'tls', protocol: 'TLS' }
          : { number: spec.port, name: 'http', protocol: 'HTTP' },
      ],
      ...(spec.endpoints && { endpoints: spec.endpoints }),
    },
  },
  ...(tls === undefined
    ? []
    : [
        {
          apiVersion: 'networking.istio.io/v1',
          kind: 'DestinationRule',
          metadata: { name, namespace: 'istio-egress' },
          spec: { host: spec.hosts[0], trafficPolicy: { tls } },
        },
      ]),
];

const BIN = join(import.meta.dirname, '../../bin/ambit.mjs');
const OUTSIDE_DNS = join(import.meta.dirname, '../support/outside-dns.ts');

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
  const inPod = (pod: string, ...command: string[]) =>
    run('local', 'exec', pod, '-n', 'mesh', '--name', name, '--', ...command);
  const inClient = (...command: string[]) => inPod('client', ...command);
  /** GETs `url` from the client pod (with more curl arguments): the HTTP status (0 when the connection failed) and the body. */
  const get = async (url: string, ...curlArgs: string[]) => {
    const result = await inClient('curl', '-sS', '-m', '5', '-w', '\n%{http_code}', ...curlArgs, url);
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
  let report: ClusterReport;
  const { cert: certFile, key: keyFile } = selfSignedCertificate(root, TLS_HOST);
  const mtlsServer = selfSignedCertificate(root, MTLS_HOST);
  const tlsWildServer = selfSignedCertificate(root, TLS_WILD);
  const mtlsClient = selfSignedCertificate(root, 'egress-client.example.test');
  const dnsRecords = join(root, 'outside-dns.json');
  /** Adds records to the outside DNS server's, keeping those it has. */
  const addRecords = (more: Record<string, OutsideRecord>) =>
    writeOutsideRecords(dnsRecords, {
      ...(JSON.parse(readFileSync(dnsRecords, 'utf8')) as Record<string, OutsideRecord>),
      ...more,
    });
  /** Processes in the outside namespace: the echo, HTTPS and DNS servers. */
  const outsideProcesses: ChildProcess[] = [];
  const inOutside = (...command: string[]) =>
    outsideProcesses.push(track(spawn('ip', ['netns', 'exec', outside, ...command], { stdio: 'ignore' })));
  const waypointMetrics = async () =>
    (
      await run(
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
      )
    ).stdout;
  /** GETs through the egress waypoint until it answers `code`, then parses what the server saw. */
  const answered = async (url: string, code = 200) => {
    let answer = { code: 0, body: '', stderr: '' };
    await eventually(
      async () => {
        answer = await get(url);
        return answer.code === code;
      },
      { timeout: 30_000, what: `${url} answered ${code} through the egress waypoint` },
    );
    return answer;
  };

  beforeAll(async () => {
    const cluster = manifests(
      // Names outside the cluster go to the outside host's DNS server (started below).
      clusterDoc(name, { nodes: ['n1'], spec: { dns: { upstream: OUTSIDE_IP } } }),
      namespaceDoc('mesh', { ambient: true }),
      podDoc('client', { namespace: 'mesh', node: 'n1', serviceAccount: 'client' }),
      podDoc('flooder', { namespace: 'mesh', node: 'n1', serviceAccount: 'flooder' }),
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
    inOutside(process.execPath, BIN, 'echo', '--port', '8080', '--host', '0.0.0.0', '--version', 'outside');
    inOutside(process.execPath, '-e', HTTPS_SERVER, keyFile, certFile, '8443');
    inOutside(process.execPath, '-e', HTTPS_SERVER, mtlsServer.key, mtlsServer.cert, '9443', mtlsClient.cert);
    inOutside(process.execPath, '-e', HTTPS_SERVER, tlsWildServer.key, tlsWildServer.cert, '443');
    // A mesh workload outside the cluster: a certificate from the mesh's own CA, which it requires in turn.
    const meshCa = new TestCa('mesh', {
      certPem: readFileSync(join(report.stateDir, 'control', 'ca', 'root-cert.pem'), 'utf8'),
      keyPem: readFileSync(join(report.stateDir, 'control', 'ca', 'root-key.pem'), 'utf8'),
    });
    const meshServer = meshCa.issue('spiffe://cluster.local/ns/outside/sa/api');
    const meshFiles = { cert: join(root, 'mesh-server.crt'), key: join(root, 'mesh-server.key') };
    writeFileSync(meshFiles.cert, meshServer.certPem);
    writeFileSync(meshFiles.key, meshServer.keyPem);
    writeFileSync(join(root, 'mesh-ca.crt'), meshCa.certPem);
    inOutside(
      process.execPath,
      '-e',
      HTTPS_SERVER,
      meshFiles.key,
      meshFiles.cert,
      '9444',
      join(root, 'mesh-ca.crt'),
    );
    writeOutsideRecords(dnsRecords, {
      [DNS_BACKEND]: { address: OUTSIDE_IP, ttl: 1 },
      [SELF_RESOLVED]: { address: UNREGISTERED_IP, ttl: 30 },
    });
    inOutside(process.execPath, OUTSIDE_DNS, OUTSIDE_IP, dnsRecords);
    await eventually(async () => (await get(`http://${OUTSIDE_IP}:8080/`)).code === 200, {
      timeout: 15_000,
      what: 'the outside server, reached by IP (ALLOW_ANY)',
    });
  });

  afterAll(async () => {
    for (const child of outsideProcesses) child.kill('SIGKILL');
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
    expect(
      counter(
        await waypointMetrics(),
        'istio_requests_total',
        `destination_service="${TLS_HOST}",response_code="200"`,
      ),
    ).toBeGreaterThan(0);
  });

  it('resolution DNS: the waypoint resolves a hostname endpoint through the cluster DNS’s upstream, following its TTL', async () => {
    // One request per connection: each request dials, so each shows where a new connection goes (open
    // connections stay with the address they were dialled to).
    await applyYaml(
      'dns-entry',
      manifests(
        ...egressHost('dns-entry', {
          hosts: [DNS_HOST],
          resolution: 'DNS',
          port: 80,
          endpoints: [{ address: DNS_BACKEND, ports: { http: 8080 } }],
        }),
        {
          apiVersion: 'networking.istio.io/v1',
          kind: 'DestinationRule',
          metadata: { name: 'dns-entry', namespace: 'istio-egress' },
          spec: {
            host: DNS_HOST,
            trafficPolicy: { connectionPool: { http: { maxRequestsPerConnection: 1 } } },
          },
        },
      ),
    );
    const destination = async () => {
      const answer = await answered(`http://${DNS_HOST}/dns`);
      return (JSON.parse(answer.body) as { request: { destination: string } }).request.destination;
    };
    expect(await destination()).toBe(`${OUTSIDE_IP}:8080`);
    expect(outsideQueries(dnsRecords)[DNS_BACKEND]).toBeGreaterThan(0);
    // The answer changes; once its 1 s TTL has run out, new connections go to the new address.
    writeOutsideRecords(dnsRecords, {
      [DNS_BACKEND]: { address: UNREGISTERED_IP, ttl: 1 },
      [SELF_RESOLVED]: { address: UNREGISTERED_IP, ttl: 30 },
    });
    await eventually(async () => (await destination()) === `${UNREGISTERED_IP}:8080`, {
      timeout: 20_000,
      what: 'the waypoint following the changed DNS answer',
    });
  });

  it('resolution DNS_ROUND_ROBIN without endpoints: each host is resolved by its own name; one that does not resolve gets 503, counted', async () => {
    await applyYaml(
      'dns-self',
      manifests(
        ...egressHost('dns-self', {
          hosts: [SELF_RESOLVED, UNRESOLVED],
          resolution: 'DNS_ROUND_ROBIN',
          port: 8080,
        }),
      ),
    );
    const answer = await answered(`http://${SELF_RESOLVED}:8080/self`);
    expect((JSON.parse(answer.body) as { request: { destination: string } }).request.destination).toBe(
      `${UNREGISTERED_IP}:8080`,
    );
    const before = counter(await waypointMetrics(), 'ambit_waypoint_refused_total', 'reason="dns-nxdomain"');
    await answered(`http://${UNRESOLVED}:8080/`, 503);
    expect(
      counter(await waypointMetrics(), 'ambit_waypoint_refused_total', 'reason="dns-nxdomain"'),
    ).toBeGreaterThan(before);
  });

  it('TLS origination: MUTUAL with a Secret’s client certificate, ISTIO_MUTUAL with the waypoint’s mesh identity', async () => {
    await applyYaml(
      'mutual',
      manifests(
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'egress-client', namespace: 'istio-egress' },
          type: 'kubernetes.io/tls',
          stringData: {
            'tls.crt': readFileSync(mtlsClient.cert, 'utf8'),
            'tls.key': readFileSync(mtlsClient.key, 'utf8'),
            'ca.crt': readFileSync(mtlsServer.cert, 'utf8'),
          },
        },
        ...egressHost(
          'mutual',
          {
            hosts: [MTLS_HOST],
            resolution: 'STATIC',
            port: 80,
            endpoints: [{ address: OUTSIDE_IP, ports: { http: 9443 } }],
          },
          { mode: 'MUTUAL', credentialName: 'egress-client' },
        ),
        ...egressHost(
          'mesh-tls',
          {
            hosts: [MESH_TLS_HOST],
            resolution: 'STATIC',
            port: 80,
            endpoints: [{ address: OUTSIDE_IP, ports: { http: 9444 } }],
          },
          { mode: 'ISTIO_MUTUAL', subjectAltNames: ['spiffe://cluster.local/ns/outside/sa/api'] },
        ),
      ),
    );
    const mutual = JSON.parse((await answered(`http://${MTLS_HOST}/mutual`)).body) as {
      sni: string;
      client: string;
    };
    expect(mutual).toMatchObject({ sni: MTLS_HOST, client: 'DNS:egress-client.example.test' });
    const mesh = JSON.parse((await answered(`http://${MESH_TLS_HOST}/mesh`)).body) as {
      sni: string;
      client: string;
    };
    // Istio's SNI for mesh mTLS, and the waypoint's own SPIFFE identity as the client certificate.
    expect(mesh).toMatchObject({
      sni: `outbound_.80_._.${MESH_TLS_HOST}`,
      client: 'URI:spiffe://cluster.local/ns/istio-egress/sa/waypoint',
    });
  });

  it('a DestinationRule credentialName naming no Secret is warned of on apply and fails closed (503)', async () => {
    const result = await run(
      'apply',
      '-f',
      writeClusterFile(
        root,
        'missing-secret',
        manifests(
          ...egressHost(
            'missing-secret',
            {
              hosts: [MISSING_SECRET_HOST],
              resolution: 'STATIC',
              port: 80,
              endpoints: [{ address: OUTSIDE_IP, ports: { http: 8443 } }],
            },
            { mode: 'SIMPLE', credentialName: 'no-such-secret' },
          ),
        ),
      ),
      '--name',
      name,
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout + result.stderr).toContain(
      'credentialName "no-such-secret" names no Secret in istio-egress',
    );
    // Never the system roots instead: the request is refused.
    await answered(`http://${MISSING_SECRET_HOST}/`, 503);
  });

  it('resolution DYNAMIC_DNS: names under a wildcard host reach the waypoint, which resolves each request’s host; a Host outside it gets 503, counted, unresolved', async () => {
    addRecords({
      [WILD_A]: { address: OUTSIDE_IP, ttl: 30 },
      [WILD_B]: { address: UNREGISTERED_IP, ttl: 30 },
    });
    await applyYaml(
      'wildcard',
      manifests(...egressHost('wildcard', { hosts: [WILDCARD_HOST], resolution: 'DYNAMIC_DNS', port: 8080 })),
    );
    // The client's DNS proxy answers every name under the wildcard with the entry's one VIP.
    const vips = new Set<string>();
    await eventually(
      async () => {
        vips.clear();
        for (const host of [WILD_A, WILD_B])
          vips.add((await inClient('dig', '+short', '+time=2', '+tries=1', host)).stdout.trim());
        return vips.size === 1 && /^240\.240\.\d+\.\d+$/.test([...vips][0]!);
      },
      { timeout: 15_000, what: `names under ${WILDCARD_HOST} answered with its VIP` },
    );
    const destination = async (host: string) =>
      (JSON.parse((await answered(`http://${host}:8080/wild`)).body) as { request: { destination: string } })
        .request.destination;
    expect(await destination(WILD_A)).toBe(`${OUTSIDE_IP}:8080`);
    expect(await destination(WILD_B)).toBe(`${UNREGISTERED_IP}:8080`);
    // The same VIP asked for a host outside the wildcard: refused before any lookup.
    const refused = () =>
      counter(waypointMetricsText, 'ambit_waypoint_refused_total', 'reason="dns-outside-entry"');
    let waypointMetricsText = await waypointMetrics();
    const before = refused();
    const forged = await get(`http://${WILD_A}:8080/`, '-H', 'host: evil.example.test:8080');
    expect(forged.code).toBe(503);
    waypointMetricsText = await waypointMetrics();
    expect(refused()).toBeGreaterThan(before);
    expect(outsideQueries(dnsRecords)['evil.example.test']).toBeUndefined();
  });

  it('DYNAMIC_DNS lookups are bounded per client: a flood of new names is refused (503 UO, counted by source) and another client’s new name still resolves', async () => {
    addRecords({ [WILD_C]: { address: OUTSIDE_IP, ttl: 30 } });
    const tag = randomBytes(3).toString('hex');
    const floodNames = Array.from(
      { length: 3 * NEW_NAMES_PER_CLIENT },
      (_, i) => `f${i}-${tag}.wild.example.test`,
    );
    const flooderPrincipal = 'source_principal="spiffe://cluster.local/ns/mesh/sa/flooder"';
    const refusedOfFlooder = (text: string) =>
      counter(text, 'ambit_waypoint_dns_lookups_refused_total', flooderPrincipal);
    const before = refusedOfFlooder(await waypointMetrics());
    // Names nobody registered, each new to the cache, many at once: each costs the flooder a name, and
    // its lookups in flight are bounded too.
    const startedAt = performance.now();
    const flood = await inPod(
      'flooder',
      'curl',
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}\n',
      '-m',
      '10',
      '-Z',
      '--parallel-max',
      '16',
      ...floodNames.map((host) => `http://${host}:8080/`),
    );
    const elapsedSeconds = (performance.now() - startedAt) / 1000;
    const codes = flood.stdout.trim().split('\n');
    expect(codes).toHaveLength(floodNames.length);
    expect(codes).not.toContain('200');
    expect(codes).toContain('503');
    const after = await waypointMetrics();
    expect(refusedOfFlooder(after)).toBeGreaterThan(before);
    // Refusals carry the Istio-style source labels, and the requests are reported with flag UO.
    expect(
      counter(after, 'istio_requests_total', `${flooderPrincipal},response_code="503",response_flags="UO"`),
    ).toBeGreaterThan(0);
    // What reached the DNS server is within the flooder's allowance: its burst and what refilled meanwhile.
    const queries = outsideQueries(dnsRecords);
    const asked = floodNames.filter((host) => queries[host] !== undefined).length;
    expect(asked).toBeLessThanOrEqual(
      NEW_NAMES_PER_CLIENT + Math.ceil(elapsedSeconds * NEW_NAMES_PER_SECOND) + 1,
    );
    // The flood spent the flooder's share, not the other client's: its first look at a new name resolves.
    const quiet = await answered(`http://${WILD_C}:8080/quiet`);
    expect((JSON.parse(quiet.body) as { request: { destination: string } }).request.destination).toBe(
      `${OUTSIDE_IP}:8080`,
    );
    expect(queries[WILD_C]).toBeUndefined();
    expect(outsideQueries(dnsRecords)[WILD_C]).toBeGreaterThan(0);
  });

  it('DYNAMIC_DNS on a TLS port resolves the ClientHello’s SNI: the client’s TLS reaches the outside server untouched; an SNI outside the wildcard, or none, is reset and counted', async () => {
    addRecords({ [TLS_WILD]: { address: OUTSIDE_IP, ttl: 30 } });
    const result = await run(
      'apply',
      '-f',
      writeClusterFile(
        root,
        'tls-wildcard',
        manifests(
          ...egressHost('tls-wildcard', {
            hosts: [TLS_WILDCARD_HOST],
            resolution: 'DYNAMIC_DNS',
            port: 443,
            protocol: 'TLS',
          }),
        ),
      ),
      '--name',
      name,
    );
    expect(result.code, result.stderr).toBe(0);
    // A TLS port is served: no warning that its connections are refused.
    expect(result.stdout + result.stderr).not.toContain('has no host to resolve');
    // The client checks the outside server's own certificate: the waypoint passed the TLS through.
    let answer = { code: 0, body: '', stderr: '' };
    await eventually(
      async () => {
        answer = await get(`https://${TLS_WILD}/sni`, '--cacert', tlsWildServer.cert);
        return answer.code === 200;
      },
      { timeout: 30_000, what: `${TLS_WILD} answered over TLS through the egress waypoint` },
    );
    expect(JSON.parse(answer.body)).toMatchObject({ path: '/sni', sni: TLS_WILD });
    const vip = (await inClient('dig', '+short', '+time=2', '+tries=1', TLS_WILD)).stdout.trim();
    expect(vip).toMatch(/^240\.240\.\d+\.\d+$/);
    const refusals = async () => {
      const text = await waypointMetrics();
      return {
        outside: counter(text, 'ambit_waypoint_refused_total', 'reason="dns-outside-entry"'),
        noSni: counter(text, 'ambit_waypoint_refused_total', 'reason="dns-no-sni"'),
      };
    };
    const before = await refusals();
    // The entry's VIP, asked with an SNI outside its wildcard: reset, never looked up.
    const forged = await get(
      'https://evil-tls.example.test/',
      '-k',
      '--connect-to',
      `evil-tls.example.test:443:${vip}:443`,
    );
    expect(forged.code).toBe(0);
    // The VIP by address: curl sends no SNI for an IP, so there is no name to resolve.
    const bare = await get(`https://${vip}/`, '-k');
    expect(bare.code).toBe(0);
    const after = await refusals();
    expect(after.outside).toBeGreaterThan(before.outside);
    expect(after.noSni).toBeGreaterThan(before.noSni);
    expect(outsideQueries(dnsRecords)['evil-tls.example.test']).toBeUndefined();
  });
});
