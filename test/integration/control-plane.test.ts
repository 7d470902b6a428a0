/**
 * The control plane as a real process (`ambit control`), two data-plane clients as real processes (the real
 * client library and certificate manager) over real gRPC/TLS on loopback, and the real CLI: push and ACK,
 * NACK of a snapshot a client cannot apply, a change reaching both clients, the control plane killed and
 * restarted (clients keep serving, then resync incrementally), and the CA's node authorization.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReportedPods } from '../../src/control/pods/pod-source.ts';
import { ControlApiClient } from '../../src/core/control-api/client.ts';
import type { ControlStatus } from '../../src/core/control-api/types.ts';
import { GATEWAY_NAME_LABEL } from '../../src/core/labels.ts';
import { createNodeCredential } from '../../src/core/node-credentials.ts';
import { AMBIT, ambit, killAll, ROOT, track } from '../support/cli.ts';
import { JsonLinesProcess } from '../support/control-processes.ts';
import { eventually } from '../support/eventually.ts';

const state = mkdtempSync(join(tmpdir(), 'ambit-control-it-'));
const socket = join(state, 'control.sock');
const rootCert = join(state, 'ca', 'root-cert.pem');
const env = { AMBIT_CONTROL_SOCKET: socket, AMBIT_LOG_FORMAT: 'json' };
const api = new ControlApiClient(socket);

let control: ChildProcess | undefined;
const controlLog: string[] = [];

async function startControl(listen: string): Promise<ControlStatus> {
  control = track(
    spawn(
      process.execPath,
      [
        AMBIT,
        'control',
        '--state-dir',
        state,
        '--listen',
        listen,
        '--metrics-port',
        '0',
        '--debounce',
        '20ms',
      ],
      {
        cwd: ROOT,
        env: { ...process.env, ...env },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    ),
  );
  control.stderr!.on('data', (chunk: Buffer) => controlLog.push(chunk.toString()));
  const started = control;
  try {
    return await eventually(() => api.status(), {
      timeout: 20_000,
      what: 'the control plane to answer on its socket',
    });
  } catch (error) {
    // What the process said is what tells a slow start from a failed one.
    const exited = started.exitCode ?? started.signalCode;
    throw new Error(
      `${(error as Error).message}; the process ${exited === null ? 'still runs' : `exited (${exited})`}, its log ends with:\n${controlLog.join('').slice(-4000)}`,
    );
  }
}

async function metric(status: ControlStatus, name: string): Promise<number> {
  const text = await (await fetch(`http://${status.metricsAddress}/metrics`)).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(name));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

const CONFIG = `apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Service
metadata: {name: cart, namespace: shop}
spec: {selector: {app: cart}, clusterIP: 10.96.0.30, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: cart-allow, namespace: shop}
spec:
  selector: {matchLabels: {app: cart}}
  rules: [{from: [{source: {serviceAccounts: [frontend]}}]}]
`;

const pod = (
  name: string,
  node: string,
  ip: string,
  serviceAccount: string,
  labels: Record<string, string>,
) => ({
  name,
  namespace: 'shop',
  node,
  ips: [ip],
  serviceAccount,
  labels,
});

let status: ControlStatus;
let clientA: JsonLinesProcess;
let clientB: JsonLinesProcess;

function startClient(
  node: string,
  tokenFile: string,
  rejectLabel?: string,
  waypoint?: string,
): JsonLinesProcess {
  return new JsonLinesProcess(
    [
      'test/support/dataplane-client.ts',
      JSON.stringify({ address: status.grpcAddress, rootCert, tokenFile, node, rejectLabel, waypoint }),
    ],
    { AMBIT_LOG_LEVEL: 'warn' },
  );
}

/** Subscribes with `node`'s token as waypoint shop/shop-waypoint and waits for the refusal naming `reason`. */
async function expectWaypointRefused(node: string, reason: string): Promise<void> {
  const client = startClient(node, join(state, 'nodes', `${node}.token`), undefined, 'shop/shop-waypoint');
  try {
    await eventually(() => client.stderr.some((line) => line.includes(reason)) || undefined, {
      timeout: 10_000,
      what: `the refusal of ${node} as the waypoint`,
    });
    expect(client.events.some((event) => event.event === 'snapshot')).toBe(false);
  } finally {
    client.child.kill('SIGKILL');
  }
}

const snapshotWith =
  (check: (event: Record<string, unknown>) => boolean) => (event: Record<string, unknown>) =>
    event.event === 'snapshot' && check(event);
const workloads = (event: Record<string, unknown>) => event.workloads as string[];
const policies = (event: Record<string, unknown>) => event.policies as string[];

beforeAll(async () => {
  const nodeA = createNodeCredential(state, 'node-a');
  const nodeB = createNodeCredential(state, 'node-b');
  status = await startControl('127.0.0.1:0');
  writeFileSync(join(state, 'shop.yaml'), CONFIG);
  const applied = await ambit(['apply', '-f', join(state, 'shop.yaml')], { env });
  expect(applied.stdout).toContain('AuthorizationPolicy shop/cart-allow created');
  await api.reportPod(pod('cart-1', 'node-a', '10.244.1.10', 'cart', { app: 'cart' }));
  await api.reportPod(pod('pay-1', 'node-b', '10.244.2.10', 'pay', { app: 'pay' }));
  clientA = startClient('node-a', nodeA.tokenFile);
  clientB = startClient('node-b', nodeB.tokenFile, 'reject=yes');
});

afterAll(() => {
  killAll();
  rmSync(state, { recursive: true, force: true });
});

describe('control plane with two data-plane clients over gRPC/TLS', () => {
  it('pushes each client its view; both ACK and show as in sync', async () => {
    const a = await clientA.waitFor(snapshotWith((event) => workloads(event).length === 2));
    const b = await clientB.waitFor(snapshotWith((event) => workloads(event).length === 2));
    expect(workloads(a)).toEqual(['shop/cart-1', 'shop/pay-1']);
    // Node A runs the pod the policy selects; node B does not need it.
    expect(policies(a)).toEqual(['shop/cart-allow']);
    expect(policies(b)).toEqual([]);
    const current = await eventually(
      async () => {
        const now = await api.status();
        return now.clients.length === 2 && now.clients.every((client) => client.inSync) ? now : undefined;
      },
      { timeout: 10_000, what: 'both clients in sync' },
    );
    expect(current.clients.map((client) => [client.node, client.kind, client.nacks]).sort()).toEqual([
      ['node-a', 'ztunnel', 0],
      ['node-b', 'ztunnel', 0],
    ]);
    const text = await ambit(['control', 'status'], { env });
    expect(text.stdout).toMatch(/node-a\s+ztunnel\s+node-a\s+\d+\s+yes\s+0/);
  });

  it('a config change reaches both clients within a bounded time', async () => {
    const started = Date.now();
    const sinceA = clientA.events.length;
    const sinceB = clientB.events.length;
    const applied = await ambit(['apply', '-f', '-'], {
      env,
      input:
        'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: shop-deny-ext, namespace: shop}\nspec: {action: DENY, rules: [{from: [{source: {ipBlocks: [203.0.113.0/24]}}]}]}\n',
    });
    // apply returns once both data-plane clients ACKed the version that carries the policy.
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(/^data plane: 2 of 2 client\(s\) took version \d+$/m);
    const has = snapshotWith((event) => policies(event).includes('shop/shop-deny-ext'));
    await Promise.all([clientA.waitFor(has, 10_000, sinceA), clientB.waitFor(has, 10_000, sinceB)]);
    const elapsed = Date.now() - started;
    console.log(`config change reached both clients in ${elapsed} ms (apply command included)`);
    expect(elapsed).toBeLessThan(10_000);
  });

  it('a client NACKs a snapshot it cannot apply and keeps its last one; the other ACKs', async () => {
    const sinceA = clientA.events.length;
    await api.reportPod(pod('cart-2', 'node-b', '10.244.2.11', 'cart', { app: 'cart', reject: 'yes' }));
    const nack = await clientB.waitFor((event) => event.event === 'nack');
    expect(nack.error).toBe('cannot apply workload shop/cart-2: label reject=yes');
    await clientA.waitFor(
      snapshotWith((event) => workloads(event).includes('shop/cart-2')),
      10_000,
      sinceA,
    );
    const kept = await clientB.ask({ cmd: 'current' }, 'current');
    expect(workloads(kept)).toEqual(['shop/cart-1', 'shop/pay-1']);
    const now = await api.status();
    const b = now.clients.find((client) => client.node === 'node-b')!;
    expect(b).toMatchObject({
      inSync: false,
      nacks: 1,
      lastNack: { message: 'cannot apply workload shop/cart-2: label reject=yes' },
    });
    expect(b.ackedVersion).not.toBe(b.lastNack!.version);
    expect(await metric(now, 'pilot_total_xds_rejects{type="ztunnel"}')).toBe(1);
    expect((await ambit(['control', 'status'], { env })).stdout).toContain(
      'cannot apply workload shop/cart-2',
    );
    // The pod goes away: what node B holds is right again, so nothing needs sending to it.
    await api.removePod('shop', 'cart-2');
    await eventually(async () => (await api.status()).clients.every((client) => client.inSync), {
      timeout: 10_000,
      what: 'node-b back in sync',
    });
    expect(workloads(await clientB.ask({ cmd: 'current' }, 'current'))).toEqual([
      'shop/cart-1',
      'shop/pay-1',
    ]);
  });

  it('the CA issues node-local identities only, and counts refusals', async () => {
    const local = await clientA.ask(
      { cmd: 'cert', identity: 'spiffe://cluster.local/ns/shop/sa/cart' },
      'cert',
    );
    expect(local.ok).toBe(true);
    const leaf = new X509Certificate(local.certPem as string);
    const root = new X509Certificate(readFileSync(rootCert));
    expect(leaf.verify(root.publicKey)).toBe(true);
    expect(leaf.subjectAltName).toBe('URI:spiffe://cluster.local/ns/shop/sa/cart');
    const foreign = await clientA.ask(
      { cmd: 'sign', identity: 'spiffe://cluster.local/ns/shop/sa/pay' },
      'sign',
    );
    expect(foreign).toMatchObject({
      ok: false,
      code: 7,
      error:
        'certificate request failed: node "node-a" may not obtain a certificate for spiffe://cluster.local/ns/shop/sa/pay: no pod with service account shop/pay runs on it',
    });
    const own = await clientB.ask({ cmd: 'cert', identity: 'spiffe://cluster.local/ns/shop/sa/pay' }, 'cert');
    expect(own.ok).toBe(true);
    const now = await api.status();
    expect(await metric(now, 'ambit_control_certificates_refused_total{reason="node_authorization"}')).toBe(
      1,
    );
    expect(await metric(now, 'citadel_server_success_cert_issuance_count')).toBe(2);
  });

  it('refuses a caller whose credential it does not know', async () => {
    const bogus = join(state, 'bogus.token');
    writeFileSync(bogus, 'not-a-real-token\n', { mode: 0o600 });
    const stranger = startClient('node-a', bogus);
    const answer = await stranger.ask(
      { cmd: 'sign', identity: 'spiffe://cluster.local/ns/shop/sa/cart' },
      'sign',
    );
    expect(answer).toMatchObject({
      ok: false,
      code: 16,
      error: 'certificate request failed: unknown node credential',
    });
    expect(stranger.events.some((event) => event.event === 'snapshot')).toBe(false);
    stranger.child.kill('SIGKILL');
  });

  it('refuses a ztunnel subscribing as a node other than the one it authenticated as', async () => {
    const impostor = startClient('node-b', join(state, 'nodes', 'node-a.token'));
    await eventually(
      async () =>
        impostor.stderr.some((line) =>
          line.includes('node \\"node-a\\" may not subscribe as ztunnel of node \\"node-b\\"'),
        )
          ? true
          : undefined,
      { timeout: 10_000, what: 'the refusal' },
    );
    expect(impostor.events.some((event) => event.event === 'snapshot')).toBe(false);
    impostor.child.kill('SIGKILL');
  });

  it('a waypoint subscribes as itself and receives the compiled routes of the services bound to it', async () => {
    const l7 = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: shop-waypoint, namespace: shop}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}
---
apiVersion: v1
kind: Service
metadata: {name: cart, namespace: shop, labels: {istio.io/use-waypoint: shop-waypoint}}
spec: {selector: {app: cart}, clusterIP: 10.96.0.30, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: cart, namespace: shop}
spec: {hosts: [cart], http: [{timeout: 2s, route: [{destination: {host: cart}}]}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: cart-get-only, namespace: shop}
spec:
  targetRefs: [{kind: Service, group: "", name: cart}]
  rules: [{to: [{operation: {methods: [GET]}}]}]
`;
    const applied = await ambit(['apply', '-f', '-'], { env, input: l7 });
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain('Service shop/cart configured');
    // A node token may subscribe as a waypoint only where an instance of it runs: none does yet.
    await expectWaypointRefused(
      'node-a',
      'node \\"node-a\\" may not subscribe as waypoint shop/shop-waypoint: no pod of that waypoint runs on it',
    );
    await api.reportPod(
      pod('shop-waypoint-0', 'node-a', '10.244.1.20', 'shop-waypoint', {
        [GATEWAY_NAME_LABEL]: 'shop-waypoint',
      }),
    );
    // Node B's token still may not: the instance runs on node A.
    await expectWaypointRefused(
      'node-b',
      'node \\"node-b\\" may not subscribe as waypoint shop/shop-waypoint',
    );
    const waypoint = startClient(
      'node-a',
      join(state, 'nodes', 'node-a.token'),
      undefined,
      'shop/shop-waypoint',
    );
    const snapshot = await waypoint.waitFor(snapshotWith((event) => (event.routes as string[]).length > 0));
    // Compiled: the VirtualService's one rule catches everything, so no default route follows it.
    expect(snapshot).toMatchObject({
      gateway: 'shop-waypoint',
      routes: ['shop/cart:80 VirtualService shop/cart'],
      clusters: ['outbound|80||cart.shop.svc.cluster.local'],
      authorization: ['shop/cart-get-only'],
    });
    const listed = await eventually(
      async () => (await api.status()).clients.find((client) => client.kind === 'waypoint' && client.inSync),
      { timeout: 10_000, what: 'the waypoint in status' },
    );
    expect(listed).toMatchObject({ node: 'node-a', waypoint: 'shop/shop-waypoint' });
    // ztunnels do not receive the L7 policy.
    const current = await clientA.ask({ cmd: 'current' }, 'current');
    expect(policies(current)).not.toContain('shop/cart-get-only');
    waypoint.child.kill('SIGKILL');
    const withInstance = (await api.status()).version;
    await api.removePod('shop', 'shop-waypoint-0');
    await eventually(
      async () => {
        const now = await api.status();
        return (
          now.version !== withInstance &&
          now.clients.length === 2 &&
          now.clients.every((client) => client.inSync)
        );
      },
      { timeout: 10_000, what: 'the waypoint to leave, and both ztunnels in sync without its instance' },
    );
    const refusals = await metric(
      await api.status(),
      'ambit_control_subscriptions_refused_total{reason="permission_denied"}',
    );
    expect(refusals).toBeGreaterThanOrEqual(3);
  });

  it('killed, the control plane leaves clients serving their last snapshot; restarted, they resync incrementally', async () => {
    const before = await clientA.ask({ cmd: 'current' }, 'current');
    const port = status.grpcAddress.split(':').at(-1)!;
    // Reported pods reach the disk in the background, shortly after a change (a runtime resyncs a restarted
    // control plane; this test has none): the last removal must have landed before the kill.
    await eventually(() => new ReportedPods(join(state, 'pods.json')).list().length === 2 || undefined, {
      timeout: 5_000,
      what: 'the reported pods on disk',
    });
    control!.kill('SIGKILL');
    await new Promise((resolve) => control!.once('exit', resolve));
    await eventually(async () => (await clientA.ask({ cmd: 'current' }, 'current')).connected === false, {
      timeout: 10_000,
      what: 'client A to notice',
    });
    const during = await clientA.ask({ cmd: 'current' }, 'current');
    expect(during.version).toBe(before.version);
    expect(workloads(during)).toEqual(workloads(before));
    expect(policies(during)).toEqual(policies(before));

    const sinceA = clientA.events.length;
    const sinceB = clientB.events.length;
    status = await startControl(`127.0.0.1:${port}`);
    // Config and pods survived the restart.
    expect(status.resources).toMatchObject({
      Namespace: 1,
      Service: 1,
      AuthorizationPolicy: 3,
      Gateway: 1,
      VirtualService: 1,
    });
    expect(status.pods).toBe(2);
    await clientA.waitFor((event) => event.event === 'snapshot', 20_000, sinceA);
    await clientB.waitFor((event) => event.event === 'snapshot', 20_000, sinceB);
    const resynced = await eventually(
      async () => {
        const now = await api.status();
        return now.clients.length === 2 && now.clients.every((client) => client.inSync) ? now : undefined;
      },
      { timeout: 20_000, what: 'both clients back in sync' },
    );
    // The clients said what they held: nothing had changed, so no resource was sent again.
    expect(await metric(resynced, 'ambit_control_push_bytes_total{type="ztunnel"}')).toBe(0);
    expect(workloads(await clientA.ask({ cmd: 'current' }, 'current'))).toEqual(workloads(before));
    // And changes flow again.
    const since = clientA.events.length;
    await api.reportPod(pod('cart-3', 'node-a', '10.244.1.11', 'cart', { app: 'cart' }));
    await clientA.waitFor(
      snapshotWith((event) => workloads(event).includes('shop/cart-3')),
      10_000,
      since,
    );
    const listed = await ambit(['get', 'authorizationpolicies', '-n', 'shop'], { env });
    expect(listed.stdout).toMatch(/shop\s+cart-allow\s+shop\.yaml document 3\s+api/);
  });
});

describe('watched config files', () => {
  it('applies a change to a watched file and ignores a bad edit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ambit-control-files-'));
    const configDir = join(dir, 'config');
    const watchedSocket = join(dir, 'state', 'control.sock');
    const watched = new ControlApiClient(watchedSocket);
    try {
      mkdirSync(configDir, { recursive: true });
      const rule = (host: string) =>
        `apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: reviews}\nspec: {host: ${host}}\n`;
      writeFileSync(join(configDir, 'dr.yaml'), rule('reviews'));
      track(
        spawn(
          process.execPath,
          [
            AMBIT,
            'control',
            '--state-dir',
            join(dir, 'state'),
            '--listen',
            '127.0.0.1:0',
            '--metrics-port',
            '0',
            '--config',
            configDir,
          ],
          {
            cwd: ROOT,
            stdio: 'ignore',
          },
        ),
      );
      const hostOf = async () =>
        (
          (await watched.get({ kind: 'dr', name: 'reviews', namespace: 'default' }))[0]?.document as
            | { spec: { host: string } }
            | undefined
        )?.spec.host;
      expect(await eventually(hostOf, { timeout: 20_000, what: 'the file to be loaded' })).toBe('reviews');
      writeFileSync(join(configDir, 'dr.yaml'), rule('ratings'));
      await eventually(async () => (await hostOf()) === 'ratings', {
        timeout: 10_000,
        what: 'the edit to be applied',
      });
      const revision = (await watched.status()).revision;
      writeFileSync(join(configDir, 'dr.yaml'), rule('"a..b"'));
      writeFileSync(join(configDir, 'other.yaml'), rule('x').replace('name: reviews', 'name: other'));
      await eventually(async () => (await watched.get({ kind: 'dr', name: 'other' })).length === 1, {
        timeout: 10_000,
        what: 'a later good file',
      });
      expect(await hostOf()).toBe('ratings');
      expect((await watched.status()).revision).toBe(revision + 1);
    } finally {
      killAll();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('ambit analyze (offline)', () => {
  it('exits 0 on valid files (printing warnings) and 1 on errors, naming file, document and field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ambit-analyze-'));
    try {
      writeFileSync(join(dir, 'good.yaml'), CONFIG);
      writeFileSync(
        join(dir, 'policies.yaml'),
        `${CONFIG}---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: allow-reviews, namespace: default}\nspec:\n  rules:\n  - to: [{operation: {methods: [GET, 7]}}]\n`,
      );
      const good = await ambit(['analyze', '-f', join(dir, 'good.yaml')]);
      expect(good.code).toBe(0);
      expect(good.stdout).toBe('No validation issues found in 1 file (3 resources).\n');
      const bad = await ambit(['analyze', '-f', dir]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain(
        'policies.yaml: document 4 (AuthorizationPolicy default/allow-reviews): spec.rules[0].to[0].operation.methods[1]: expected a string, got number 7',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
