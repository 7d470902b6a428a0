/**
 * The ztunnel joined to a real local cluster, driven through the `ambit` CLI: each node agent is `ambit
 * ztunnel`, fed by the cluster's control plane. A client pod on n1 reaches an echo pod on n2 by its Service
 * name (DNS answered by the ztunnel's proxy) through HBONE mTLS across the fabric; authorization and peer
 * authentication applied with `ambit apply` take effect without restarts; `ambit ztunnel-config` and the
 * metrics show what happened; connections keep working while the control plane is unreachable and after a
 * ztunnel is killed and restarted by the supervisor.
 */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeNetns } from '../../src/local/names.ts';
import type { ClusterReport } from '../../src/local/report.ts';
import { ambit } from '../support/cli.ts';
import { clusterDown, clusterUp } from '../support/cluster-lifecycle.ts';
import { eventually } from '../support/eventually.ts';
import { isAlive, makeStateRoot, uniqueName, writeClusterFile } from '../support/local-cluster.ts';
import {
  authorizationPolicyDoc,
  clusterDoc,
  echoPod,
  manifests,
  namespaceDoc,
  peerAuthenticationDoc,
  podDoc,
  serviceDoc,
} from '../support/manifests.ts';
import { canRunNetnsTests } from '../support/privileges.ts';

const clusterYaml = (name: string) =>
  manifests(
    clusterDoc(name),
    namespaceDoc('mesh', { ambient: true }),
    namespaceDoc('plain'),
    echoPod('echo-a', {
      namespace: 'mesh',
      node: 'n2',
      serviceAccount: 'echo',
      labels: { app: 'echo' },
      version: 'a',
    }),
    podDoc('client', { namespace: 'mesh', node: 'n1', serviceAccount: 'client', labels: { app: 'client' } }),
    podDoc('outsider', {
      namespace: 'plain',
      node: 'n1',
      serviceAccount: 'default',
      labels: { app: 'outsider' },
    }),
    serviceDoc('echo', { namespace: 'mesh' }),
  );

const policy = (name: string, action: 'DENY' | 'ALLOW', principal: string) =>
  manifests(
    authorizationPolicyDoc(name, { namespace: 'mesh', app: 'echo', action, principals: [principal] }),
  );

const peerAuth = (mode: 'STRICT' | 'PERMISSIVE') =>
  manifests(peerAuthenticationDoc('mtls', { namespace: 'mesh', mode }));

const CLIENT_PRINCIPAL = 'cluster.local/ns/mesh/sa/client';

interface EchoAnswer {
  pod: string;
  request: { path: string; source: string };
}

describe.runIf(canRunNetnsTests())('the ztunnel in a local cluster', () => {
  const root = makeStateRoot();
  const name = uniqueName('it-zt');
  const run = (...args: string[]) => ambit(args, { stateRoot: root });
  const local = (...args: string[]) => run('local', ...args, '--name', name);
  const status = async () => JSON.parse((await local('status', '-o', 'json')).stdout) as ClusterReport;
  const inPod = (pod: string, namespace: string, ...command: string[]) =>
    run('local', 'exec', pod, '-n', namespace, '--name', name, '--', ...command);
  /** GETs `url` from the pod; the HTTP status (0 when the connection failed) and the body. */
  const get = async (pod: string, namespace: string, url: string) => {
    const result = await inPod(pod, namespace, 'curl', '-sS', '-m', '5', '-w', '\n%{http_code}', url);
    const lines = result.stdout.trimEnd().split('\n');
    return { code: Number(lines.pop()), body: lines.join('\n'), stderr: result.stderr };
  };
  const fromClient = (path = '/') => get('client', 'mesh', `http://echo.mesh:80${path}`);
  const applyFile = async (file: string, yaml: string, verb: 'apply' | 'delete' = 'apply') => {
    const result = await run(verb, '-f', writeClusterFile(root, file, yaml), '--name', name);
    expect(result.code, result.stderr).toBe(0);
  };
  /** Polls until a request from `pod` gets `code` (config reaches the ztunnels asynchronously). */
  const expectCode = (pod: string, namespace: string, url: string, code: number, what: string) =>
    eventually(async () => (await get(pod, namespace, url)).code === code, { timeout: 15_000, what });
  const inNode = (node: string, ...command: string[]) =>
    execFileSync('ip', ['netns', 'exec', nodeNetns(name, node), ...command], { encoding: 'utf8' });
  let report: ClusterReport;
  const podIp = (pod: string) => report.pods.find((p) => p.name === pod)!.ip;
  const systemPid = (latest: ClusterReport, id: string) => latest.system.find((p) => p.id === id)?.pid;
  const stopped: number[] = [];

  beforeAll(async () => {
    await clusterUp(root, name, clusterYaml(name));
    report = await status();
    expect(report.pods.map((p) => [p.name, p.status, p.mesh?.state])).toEqual(
      expect.arrayContaining([
        ['echo-a', 'Running', 'ambient'],
        ['client', 'Running', 'ambient'],
        ['outsider', 'Running', 'none'],
      ]),
    );
  });

  afterAll(async () => {
    for (const pid of stopped) if (isAlive(pid)) process.kill(pid, 'SIGCONT');
    await clusterDown(root, name);
  });

  it('carries a request by Service name across nodes, the echo seeing the client', async () => {
    const answer = await fromClient('/hello');
    expect(answer.code, answer.stderr).toBe(200);
    const echo = JSON.parse(answer.body) as EchoAnswer;
    expect(echo.pod).toBe('echo-a');
    expect(echo.request.path).toBe('/hello');
    // The ztunnel dialled the app from the client's own address (transparent socket in the pod).
    expect(echo.request.source.split(':')[0]).toBe(podIp('client'));
    // The name resolves to the VIP (answered by the client's ztunnel; the cluster DNS would say the same).
    const dig = await inPod(
      'client',
      'mesh',
      'dig',
      '+short',
      '+time=2',
      '+tries=1',
      'echo.mesh.svc.cluster.local',
    );
    expect(dig.stdout.trim()).toBe(report.services.find((s) => s.name === 'echo')!.clusterIP);
  });

  it('sends only HBONE mTLS over the fabric (a plaintext control request is seen in the clear)', async () => {
    // Every TCP packet on n1's underlay interface, headers and payload as text.
    const capture: ChildProcess = spawn(
      'ip',
      ['netns', 'exec', nodeNetns(name, 'n1'), 'tcpdump', '-i', 'eth0', '-nn', '-l', '-A', 'tcp'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let text = '';
    capture.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
    });
    try {
      await new Promise<void>((resolve, reject) => {
        capture.stderr!.on('data', (chunk: Buffer) => {
          if (chunk.toString().includes('listening on')) resolve();
        });
        capture.once('exit', (code) => reject(new Error(`tcpdump exited with ${code}`)));
      });
      const secret = `marker-${name}-secret`;
      const control = `marker-${name}-plain`;
      expect((await fromClient(`/${secret}`)).code).toBe(200);
      // The non-enrolled pod talks to the echo pod directly (PERMISSIVE): plaintext on the fabric.
      expect((await get('outsider', 'plain', `http://${podIp('echo-a')}:8080/${control}`)).code).toBe(200);
      await eventually(async () => text.includes(control), { timeout: 5_000, what: 'the control request' });
      expect(text).not.toContain(secret);
      expect(text).toContain(`> ${podIp('echo-a')}.15008:`);
    } finally {
      capture.kill('SIGKILL');
    }
  });

  it('enforces AuthorizationPolicies as they are applied and deleted, without restarts', async () => {
    const url = 'http://echo.mesh:80/';
    await applyFile('deny', policy('deny-client', 'DENY', CLIENT_PRINCIPAL));
    await expectCode('client', 'mesh', url, 0, 'the DENY to take effect');
    await applyFile('deny', policy('deny-client', 'DENY', CLIENT_PRINCIPAL), 'delete');
    await expectCode('client', 'mesh', url, 200, 'the DENY to be lifted');
    await applyFile('allow', policy('allow-other', 'ALLOW', 'cluster.local/ns/mesh/sa/someone-else'));
    await expectCode('client', 'mesh', url, 0, 'an ALLOW for another principal to shut the client out');
    await applyFile(
      'allow',
      policy('allow-other', 'ALLOW', 'cluster.local/ns/mesh/sa/someone-else'),
      'delete',
    );
    await expectCode('client', 'mesh', url, 200, 'the ALLOW to be lifted');
  });

  it('refuses plaintext from outside the mesh under STRICT, and lets it in under PERMISSIVE', async () => {
    const url = `http://${podIp('echo-a')}:8080/`;
    await applyFile('peer', peerAuth('STRICT'));
    await expectCode('outsider', 'plain', url, 0, 'STRICT to refuse plaintext');
    // Mesh clients still get through (over HBONE).
    expect((await fromClient()).code).toBe(200);
    await applyFile('peer', peerAuth('PERMISSIVE'));
    await expectCode('outsider', 'plain', url, 200, 'PERMISSIVE to let plaintext in');
  });

  it('shows its workloads and certificates through ambit ztunnel-config', async () => {
    const workloads = await run('ztunnel-config', 'workloads', '--name', name);
    expect(workloads.code, workloads.stderr).toBe(0);
    for (const pod of ['echo-a', 'client', 'outsider']) expect(workloads.stdout).toContain(pod);
    expect(workloads.stdout).toMatch(/^n1 .*client .*HBONE/m);
    const certificates = await run('ztunnel-config', 'certificates', '--name', name);
    expect(certificates.code, certificates.stderr).toBe(0);
    expect(certificates.stdout).toMatch(/^n1 +spiffe:\/\/cluster\.local\/ns\/mesh\/sa\/client +Leaf/m);
    expect(certificates.stdout).toMatch(/^n2 +spiffe:\/\/cluster\.local\/ns\/mesh\/sa\/echo +Leaf/m);
  });

  it('counts the connections on both sides in its metrics', async () => {
    expect((await fromClient()).code).toBe(200);
    const opened = (node: string, reporter: string) =>
      inNode(node, 'curl', '-sS', '-m', '5', 'http://127.0.0.1:15020/metrics')
        .split('\n')
        .filter(
          (line) =>
            line.startsWith('istio_tcp_connections_opened_total{') &&
            line.includes(`reporter="${reporter}"`) &&
            line.includes(`source_principal="spiffe://${CLIENT_PRINCIPAL}"`) &&
            line.includes('destination_principal="spiffe://cluster.local/ns/mesh/sa/echo"'),
        )
        .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
    expect(opened('n1', 'source')).toBeGreaterThanOrEqual(1);
    expect(opened('n2', 'destination')).toBeGreaterThanOrEqual(1);
  });

  it('keeps connecting known workloads while the control plane is unreachable', async () => {
    const pid = systemPid(await status(), 'control-plane')!;
    process.kill(pid, 'SIGSTOP');
    stopped.push(pid);
    try {
      expect((await fromClient()).code).toBe(200);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  });

  it('serves again after a killed ztunnel is restarted by the supervisor', async () => {
    const before = systemPid(await status(), 'node-agent/n1')!;
    process.kill(before, 'SIGKILL');
    await eventually(
      async () => {
        const pid = systemPid(await status(), 'node-agent/n1');
        return pid !== undefined && pid !== before ? pid : undefined;
      },
      { timeout: 20_000, what: 'the supervisor to restart the ztunnel of n1' },
    );
    await expectCode('client', 'mesh', 'http://echo.mesh:80/', 200, 'requests to work again');
  });
});
