/**
 * The control plane inside a real local cluster, driven through the `ambit` CLI: it runs in the first node's
 * namespace on that node's underlay address and is ready before any pod starts; the supervisor reports the
 * pods (gone once ended), so the control plane serves them as workloads and service endpoints; `ambit apply
 * --name` reaches it (a bad file changes nothing); label changes reach it; a real data-plane client in the
 * second node's namespace, with that node's credential, gets its snapshot across the fabric and
 * certificates only for identities with a pod on its node; a control plane killed is restarted and told
 * what it missed.
 */

import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlApiClient } from '../../src/core/control-api/client.ts';
import type { PodInfo } from '../../src/core/control-api/types.ts';
import type { NodeSnapshot } from '../../src/core/model/index.ts';
import { CONTROL_PLANE_PORTS } from '../../src/core/ports.ts';
import {
  controlPlaneEndpoint,
  controlPlaneStateDir,
  nodeCredentialFile,
} from '../../src/local/mesh/control-plane.ts';
import type { ClusterReport } from '../../src/local/report.ts';
import { readClusterState, statePaths } from '../../src/local/state.ts';
import type { ClusterState } from '../../src/local/types.ts';
import { ambit, killAll } from '../support/cli.ts';
import { type Event, JsonLinesProcess } from '../support/control-processes.ts';
import { eventually } from '../support/eventually.ts';
import {
  leftovers,
  makeStateRoot,
  NOTHING_LEFT,
  uniqueName,
  writeClusterFile,
} from '../support/local-cluster.ts';
import {
  authorizationPolicyDoc,
  clusterDoc,
  DATAPLANE_MODE,
  echoPod,
  manifests,
  namespaceDoc,
  podDoc,
  serviceDoc,
} from '../support/manifests.ts';
import { canRunNetnsTests } from '../support/privileges.ts';

const shopPod = (name: string, node: string) =>
  echoPod(name, { namespace: 'shop', node, serviceAccount: name, labels: { app: name } });

const clusterYaml = (name: string) =>
  manifests(
    clusterDoc(name),
    namespaceDoc('shop'),
    shopPod('cart', 'n1'),
    shopPod('pay', 'n2'),
    // Runs once and ends: the control plane forgets it, and its node may no longer hold its identity.
    podDoc('batch', {
      namespace: 'shop',
      node: 'n2',
      serviceAccount: 'batch',
      restartPolicy: 'Never',
      command: ['true'],
    }),
    serviceDoc('cart', { namespace: 'shop' }),
    serviceDoc('pay', { namespace: 'shop' }),
  );

const POLICY = manifests(
  authorizationPolicyDoc('pay-from-cart', {
    namespace: 'shop',
    app: 'pay',
    principals: ['cluster.local/ns/shop/sa/cart'],
  }),
);

const BAD_POLICY = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: broken, namespace: shop}
spec:
  action: PERMIT
`;

describe.runIf(canRunNetnsTests())('the control plane of a local cluster', () => {
  const root = makeStateRoot();
  const name = uniqueName('it-cp');
  const run = (...args: string[]) => ambit(args, { stateRoot: root });
  const local = (...args: string[]) => run('local', ...args, '--name', name);
  const status = async () => JSON.parse((await local('status', '-o', 'json')).stdout) as ClusterReport;
  const controlOf = (report: ClusterReport) => report.system.find((p) => p.id === 'control-plane')!;
  let cluster: ClusterState;
  let report: ClusterReport;
  let api: ControlApiClient;
  let dataplane: JsonLinesProcess;

  const listening = (netns: string) =>
    execFileSync('ip', ['netns', 'exec', netns, 'ss', '-Hltnp'], { encoding: 'utf8' });
  const podIp = (pod: string) => report.pods.find((p) => p.name === pod)!.ip;
  const nodeOf = (node: string) => cluster.nodes.find((n) => n.name === node)!;
  const snapshot = async () => (await dataplane.ask({ cmd: 'dump' }, 'dump')).snapshot as NodeSnapshot;
  const reported = async (pod: string): Promise<PodInfo | undefined> =>
    (await api.listPods()).pods.find((p) => p.name === pod);
  /** The latest snapshot once `check` holds for it. */
  const snapshotWhere = (check: (snapshot: NodeSnapshot) => boolean, what: string) =>
    eventually(
      async () => {
        const current = await snapshot();
        return current && check(current) ? current : undefined;
      },
      { timeout: 15_000, what },
    );

  beforeAll(async () => {
    const file = writeClusterFile(root, name, clusterYaml(name));
    const result = await ambit(['local', 'up', '-f', file], { stateRoot: root });
    expect(result.code, result.stderr).toBe(0);
    cluster = readClusterState(statePaths(join(root, name)))!;
    report = await status();
    const endpoint = controlPlaneEndpoint(cluster);
    api = new ControlApiClient(endpoint.socket);
    // The real client library, as a ztunnel of node n2 uses it: in n2's namespace, with n2's credential.
    dataplane = new JsonLinesProcess(
      [
        'test/support/dataplane-client.ts',
        JSON.stringify({
          address: endpoint.address,
          rootCert: endpoint.rootCertFile,
          tokenFile: nodeCredentialFile(cluster, 'n2'),
          node: 'n2',
        }),
      ],
      { AMBIT_LOG_LEVEL: 'warn' },
      ['ip', 'netns', 'exec', nodeOf('n2').netns],
    );
  });

  afterAll(async () => {
    killAll();
    await ambit(['local', 'down', '--name', name], { stateRoot: root });
    rmSync(root, { recursive: true, force: true });
  });

  it("runs in the first node's namespace on its underlay address, ready before any pod started", () => {
    const control = controlOf(report);
    expect([control.node, control.status, control.ready, control.restarts]).toEqual([
      'n1',
      'Running',
      true,
      0,
    ]);
    const n1 = nodeOf('n1');
    const sockets = listening(n1.netns);
    for (const port of [CONTROL_PLANE_PORTS.grpc, CONTROL_PLANE_PORTS.metrics]) {
      expect(sockets).toMatch(
        new RegExp(`LISTEN .* ${n1.underlayIP.replaceAll('.', '\\.')}:${port} .*pid=${control.pid},`),
      );
    }
    expect(listening(nodeOf('n2').netns)).not.toContain(`:${CONTROL_PLANE_PORTS.grpc} `);
    // The supervisor started the first pod only after the control plane was ready.
    const log = readFileSync(statePaths(join(root, name)).supervisorLog, 'utf8');
    const ready = log.indexOf('"msg":"ready","id":"control-plane"');
    const firstPod = log.indexOf('"msg":"started","id":"pod/');
    expect(ready).toBeGreaterThan(0);
    expect(firstPod).toBeGreaterThan(ready);
    // Secrets: the state dir is root's alone, each node's token is 0600.
    const dir = controlPlaneStateDir(cluster);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(nodeCredentialFile(cluster, 'n1')).mode & 0o777).toBe(0o600);
    expect(statSync(nodeCredentialFile(cluster, 'n2')).mode & 0o777).toBe(0o600);
  });

  it('shows it in `ambit local status` and `ambit control status --name`', async () => {
    const table = (await local('status')).stdout;
    expect(table).toMatch(/control-plane\s+n1\s+yes\s+Running\s+0\s+\d+/);
    const text = await run('control', 'status', '--name', name);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`grpc ${controlPlaneEndpoint(cluster).address}`);
    expect(text.stdout).toContain('pods: 2');
  });

  it('knows the running pods with their nodes, IPs and readiness, and forgets an ended one', async () => {
    const pods = (await api.listPods()).pods.map((p) => [p.uid, p.node, p.ips, p.serviceAccount, p.ready]);
    expect(pods.sort()).toEqual([
      ['shop/cart', 'n1', [podIp('cart')], 'cart', true],
      ['shop/pay', 'n2', [podIp('pay')], 'pay', true],
    ]);
    expect(report.pods.find((p) => p.name === 'batch')?.status).toBe('Completed');
  });

  it('pushes workloads and services with their endpoints to a client across the fabric', async () => {
    const current = await snapshotWhere((s) => s.workloads.length === 2, 'a snapshot with both workloads');
    expect(current.workloads.map((w) => [w.uid, w.node, w.ips, w.identity, w.enrolled]).sort()).toEqual([
      ['shop/cart', 'n1', [podIp('cart')], 'spiffe://cluster.local/ns/shop/sa/cart', false],
      ['shop/pay', 'n2', [podIp('pay')], 'spiffe://cluster.local/ns/shop/sa/pay', false],
    ]);
    const services = current.services.map((s) => ({
      name: s.name,
      vips: s.vips,
      targetPorts: s.ports.map((p) => p.targetPort),
      endpoints: s.endpoints.map((e) => [e.ip, e.ready]),
    }));
    const vip = (svc: string) => report.services.find((s) => s.name === svc)!.clusterIP;
    expect(services).toEqual([
      { name: 'cart', vips: [vip('cart')], targetPorts: [8080], endpoints: [[podIp('cart'), true]] },
      { name: 'pay', vips: [vip('pay')], targetPorts: [8080], endpoints: [[podIp('pay'), true]] },
    ]);
  });

  it("signs certificates only for identities with a pod on the caller's node", async () => {
    const sign = (serviceAccount: string) =>
      dataplane.ask({ cmd: 'sign', identity: `spiffe://cluster.local/ns/shop/sa/${serviceAccount}` }, 'sign');
    const own = await sign('pay');
    expect(own.ok, String(own.error)).toBe(true);
    const leaf = new X509Certificate(own.certPem as string);
    const rootCert = new X509Certificate(readFileSync(controlPlaneEndpoint(cluster).rootCertFile));
    expect(leaf.verify(rootCert.publicKey)).toBe(true);
    expect(leaf.subjectAltName).toBe('URI:spiffe://cluster.local/ns/shop/sa/pay');
    // cart runs on n1 only; batch ran on n2 but has ended.
    for (const serviceAccount of ['cart', 'batch']) {
      expect(await sign(serviceAccount)).toMatchObject({
        ok: false,
        code: 7,
        error: `certificate request failed: node "n2" may not obtain a certificate for spiffe://cluster.local/ns/shop/sa/${serviceAccount}: no pod with service account shop/${serviceAccount} runs on it`,
      });
    }
  });

  it('hears of label changes: enrollment seen by the control plane is what the nodes enforce', async () => {
    const labeled = await local('label', 'namespace', 'shop', `${DATAPLANE_MODE}=ambient`);
    expect(labeled.code, labeled.stderr).toBe(0);
    const optOut = await local('label', 'pod', 'cart', '-n', 'shop', `${DATAPLANE_MODE}=none`);
    expect(optOut.code, optOut.stderr).toBe(0);
    const current = await snapshotWhere(
      (s) =>
        s.workloads.some((w) => w.name === 'pay' && w.enrolled) &&
        // cart is on n1: the client (n2's) gets its remote form, without labels, and its enrollment.
        s.workloads.some((w) => w.name === 'cart' && !w.enrolled),
      'the label changes to reach the client',
    );
    const meshOf = (pods: ClusterReport['pods']) =>
      Object.fromEntries(pods.map((p) => [p.name, p.mesh?.state === 'ambient']));
    const enrolledOf = (s: NodeSnapshot) => Object.fromEntries(s.workloads.map((w) => [w.name, w.enrolled]));
    expect(enrolledOf(current)).toEqual({ cart: false, pay: true });
    const nodes = (await status()).pods.filter((p) => p.name !== 'batch');
    expect(meshOf(nodes)).toEqual(enrolledOf(current));
    const namespace = await run('get', 'namespace', 'shop', '--name', name, '-o', 'json');
    expect(JSON.parse(namespace.stdout)).toMatchObject({
      metadata: { labels: { [DATAPLANE_MODE]: 'ambient' } },
    });
  });

  it('takes `ambit apply --name`, and refuses a bad file naming the field, changing nothing', async () => {
    const good = join(root, 'policy.yaml');
    writeFileSync(good, POLICY);
    const applied = await run('apply', '--name', name, '-f', good);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain('AuthorizationPolicy shop/pay-from-cart created');
    // pay runs on n2, enrolled: n2's client receives the policy that selects it.
    await snapshotWhere(
      (s) => s.policies.some((p) => p.name === 'pay-from-cart'),
      'the policy to reach node n2',
    );
    const revision = (await api.status()).revision;
    const bad = join(root, 'bad.yaml');
    writeFileSync(bad, BAD_POLICY);
    const refused = await run('apply', '--name', name, '-f', bad);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('bad.yaml: document 1 (AuthorizationPolicy shop/broken): spec.action');
    expect((await api.status()).revision).toBe(revision);
    // Without --name or --socket: the only local cluster.
    const listed = await run('get', 'authorizationpolicies', '-n', 'shop');
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/shop\s+pay-from-cart\s+policy\.yaml document 1\s+api/);
    expect(listed.stdout).not.toContain('broken');
    const unknown = await run('get', 'ap', '--name', 'no-such-cluster');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no local cluster named "no-such-cluster"');
  });

  it('is restarted when killed, and told what it missed while it was down', async () => {
    const before = controlOf(await status());
    // Hung, then killed: the label change cannot reach it meanwhile.
    process.kill(before.pid!, 'SIGSTOP');
    let label: Awaited<ReturnType<typeof local>>;
    try {
      label = await local('label', 'pod', 'pay', '-n', 'shop', 'tier=backend');
    } finally {
      process.kill(before.pid!, 'SIGKILL');
    }
    expect(label.code).toBe(1);
    expect(label.stderr).toContain('cannot tell the control plane about pod shop/pay');
    const after = await eventually(
      async () => {
        const control = controlOf(await status());
        return control.restarts === 1 && control.ready ? control : undefined;
      },
      { timeout: 20_000, what: 'the control plane to be restarted' },
    );
    expect(after.pid).not.toBe(before.pid);
    expect(listening(nodeOf('n1').netns)).toContain(`pid=${after.pid},`);
    const pay = await eventually(
      async () => ((await reported('pay'))?.labels?.tier === 'backend' ? reported('pay') : undefined),
      { timeout: 20_000, what: 'the resync to bring the new label' },
    );
    expect(pay).toMatchObject({ node: 'n2', ips: [podIp('pay')], ready: true });
    // The client reconnected to the new process and received the change.
    await snapshotWhere(
      (s) => s.workloads.some((w) => w.name === 'pay' && w.labels.tier === 'backend'),
      'the client to see the change',
    );
    const events: Event[] = dataplane.events.filter((event) => event.event === 'nack');
    expect(events).toEqual([]);
  });

  it('leaves nothing behind at down', async () => {
    killAll();
    const result = await ambit(['local', 'down', '--name', name], { stateRoot: root });
    expect(result.code, result.stderr).toBe(0);
    expect(leftovers(name, root)).toEqual(NOTHING_LEFT);
  });
});
