/**
 * ambit-cni as a container runtime runs it: Debian's reference plugins `bridge` + `host-local` and then
 * `ambit-cni`, chained in one conflist, exec'd from CNI_PATH with the CNI_* variables and the config on
 * stdin, on pod namespaces this test creates, inside a "node" namespace this test creates. Behind the
 * plugin: a real ztunnel (its capture handler, the capture agent and the enrollment socket), and an in-test
 * Kubernetes API server that the plugin reads the pod and its namespace from. For both rule backends:
 * the pod gets its address from host-local, an ambient pod's traffic is captured by the ztunnel, CHECK
 * sees missing rules, DEL releases everything, and a refused or impossible enrollment fails ADD. A pod
 * whose network the runtime built before ambit-cni was chained (Ambit installed on a live cluster) is
 * enrolled by `ambit cni reconcile` (what `ambit cni install` runs at start), run in a PID namespace of its
 * own as in its DaemonSet: it finds the pod's namespace among the pinned ones under /var/run/netns by the
 * pod's IP, and the ztunnel captures the running pod's traffic by that path, without a restart.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenTcp, Netns } from '../../src/core/sys/netns-socket.ts';
import { CaptureAgent } from '../../src/redirect/agent.ts';
import type { BackendChoice } from '../../src/redirect/backend/types.ts';
import { EnrollmentServer } from '../../src/redirect/enroll/server.ts';
import { listRules, removeRules } from '../../src/redirect/rules.ts';
import { redirectedDestination } from '../../src/ztunnel/app.ts';
import { ZtunnelCaptureHandler } from '../../src/ztunnel/inpod/capture-handler.ts';
import type { Ztunnel } from '../../src/ztunnel/ztunnel.ts';
import { AMBIT, ROOT } from '../support/cli.ts';
import { type ChainError, CniRuntime, type Conflist, type PodSandbox } from '../support/cni-runtime.ts';
import { eventually } from '../support/eventually.ts';
import { KubeApiServer } from '../support/kube-api-server.ts';
import { quietLogs } from '../support/logging.ts';
import { snapshot, workload } from '../support/mesh-fixtures.ts';
import { nsExec, uniqueSuffix } from '../support/netns-fixture.ts';
import { canRunNetnsTests } from '../support/privileges.ts';
import { TestCa } from '../support/test-ca.ts';
import { createHarness, type Harness } from '../support/ztunnel-harness.ts';

const REFERENCE_PLUGINS = '/usr/lib/cni';
const execFileAsync = promisify(execFile);
const NODE = 'node-a';

function referencePluginsPresent(): boolean {
  const present = ['bridge', 'host-local', 'loopback'].every((p) => existsSync(join(REFERENCE_PLUGINS, p)));
  if (!present && process.env.CI === 'true') {
    throw new Error('CI=true and the reference CNI plugins are missing: install containernetworking-plugins');
  }
  return present;
}

const BACKENDS: BackendChoice[] = ['nft', 'iptables'];

describe.runIf(canRunNetnsTests() && referencePluginsPresent()).each(BACKENDS)(
  'ambit-cni chained after bridge + host-local (%s)',
  (backend) => {
    const id = uniqueSuffix();
    const nodeNetns = `cn-${id}`;
    const subnet = `10.251.${Number.parseInt(id.slice(0, 2), 16)}`;
    const made: string[] = [];
    let dir: string;
    let runtime: CniRuntime;
    /** The same runtime before Ambit was installed: the primary plugin only. */
    let runtimeBeforeAmbit: CniRuntime;
    let api: KubeApiServer;
    let harness: Harness;
    let ztunnel: Ztunnel;
    let agent: CaptureAgent;
    let server: EnrollmentServer;
    let socketPath: string;
    let nodeHandle: Netns;
    const children: ChildProcess[] = [];

    /** A pod as the API knows it and a sandbox netns for it, as kubelet and the runtime make them. */
    function pod(
      name: string,
      options: { namespace?: string; labels?: Record<string, string> } = {},
    ): PodSandbox {
      const namespace = options.namespace ?? 'mesh';
      const stored = api.put('/api/v1', 'pods', {
        metadata: { name, namespace, labels: options.labels ?? {} },
        spec: { serviceAccountName: `${name}-sa`, nodeName: NODE },
      });
      const netns = `cp-${id}-${name}`.slice(0, 30);
      execFileSync('ip', ['netns', 'add', netns]);
      made.push(netns);
      return {
        containerId: `sandbox-${name}-${id}`,
        netnsPath: `/run/netns/${netns}`,
        ifname: 'eth0',
        namespace,
        name,
        uid: stored.metadata.uid!,
      };
    }

    const netnsName = (sandbox: PodSandbox) => sandbox.netnsPath.slice('/run/netns/'.length);
    const ipOf = (result: { ips: Array<{ address: string }> }) => result.ips[0]!.address.split('/')[0]!;
    const inMesh = (sandbox: PodSandbox, ip: string) =>
      workload({ name: sandbox.name, namespace: sandbox.namespace, uid: sandbox.uid, ips: [ip], node: NODE });

    /**
     * The pod's outbound TCP reaches the ztunnel (its connection table names it), not the wire directly: a
     * server on the node's bridge address holds each connection open meanwhile.
     */
    async function expectOutboundCaptured(podNetns: string, port: number): Promise<void> {
      const upstream = spawn(
        'ip',
        [
          'netns',
          'exec',
          nodeNetns,
          'socat',
          `TCP4-LISTEN:${port},bind=${subnet}.1,fork,reuseaddr`,
          'EXEC:sleep 30',
        ],
        { stdio: 'ignore' },
      );
      children.push(upstream);
      try {
        await eventually(
          async () => (await nsExec(nodeNetns, ['ss', '-Hlnt'])).includes(`${subnet}.1:${port}`),
          { what: 'the upstream to listen' },
        );
        const held = spawn(
          'ip',
          ['netns', 'exec', podNetns, 'socat', '-T30', 'EXEC:sleep 30', `TCP4:${subnet}.1:${port}`],
          { stdio: 'ignore' },
        );
        children.push(held);
        const captured = () =>
          ztunnel
            .connections()
            .connections.some((c) => c.destination === `${subnet}.1:${port}` && c.direction === 'outbound');
        await expect.poll(captured, { timeout: 20_000 }).toBe(true);
        held.kill();
      } finally {
        upstream.kill();
      }
    }

    beforeAll(async () => {
      quietLogs();
      dir = mkdtempSync(join(tmpdir(), 'ambit-cni-'));
      execFileSync('ip', ['netns', 'add', nodeNetns]);
      made.push(nodeNetns);
      execFileSync('ip', ['-n', nodeNetns, 'link', 'set', 'lo', 'up']);
      nodeHandle = Netns.open(`/run/netns/${nodeNetns}`);

      // The API server listens on the node's loopback, where the plugin (run in the node namespace) finds it.
      api = new KubeApiServer();
      await listenTcp(nodeHandle, { address: '127.0.0.1', port: 0 }, api.http);
      const kubeconfig = join(dir, 'kubeconfig');
      writeFileSync(kubeconfig, api.kubeconfig());
      api.put('/api/v1', 'namespaces', {
        metadata: { name: 'mesh', labels: { 'istio.io/dataplane-mode': 'ambient' } },
      });
      api.put('/api/v1', 'namespaces', { metadata: { name: 'plain', labels: {} } });

      harness = createHarness(new TestCa());
      ztunnel = harness.ztunnel(NODE, { originalDestination: redirectedDestination });
      ztunnel.applySnapshot(snapshot({ workloads: [] }));
      agent = new CaptureAgent({
        handler: new ZtunnelCaptureHandler(ztunnel, { workloadWaitMs: 500 }),
        backend,
      });
      socketPath = join(dir, 'run', 'enroll.sock');
      server = await EnrollmentServer.listen(socketPath, agent);

      const cniPath = join(dir, 'bin');
      mkdirSync(cniPath);
      for (const plugin of ['bridge', 'host-local', 'loopback'])
        symlinkSync(join(REFERENCE_PLUGINS, plugin), join(cniPath, plugin));
      symlinkSync(join(ROOT, 'bin', 'ambit-cni.mjs'), join(cniPath, 'ambit-cni'));
      const conflist: Conflist = {
        cniVersion: '1.0.0',
        name: `ambit-test-${id}`,
        plugins: [
          {
            type: 'bridge',
            bridge: `cb${id}`,
            isGateway: true,
            ipMasq: false,
            ipam: {
              type: 'host-local',
              ranges: [[{ subnet: `${subnet}.0/24` }]],
              dataDir: join(dir, 'ipam'),
            },
          },
          { type: 'ambit-cni', enrollSocket: socketPath, kubeconfig, enrollTimeoutMs: 5000, backend },
        ],
      };
      runtime = new CniRuntime({ nodeNetns, cniPath, conflist });
      runtimeBeforeAmbit = new CniRuntime({
        nodeNetns,
        cniPath,
        conflist: { ...conflist, plugins: conflist.plugins.slice(0, 1) },
      });
    });

    afterAll(async () => {
      for (const child of children) child.kill();
      await server?.close();
      await agent?.close();
      await harness?.close();
      await api?.close();
      nodeHandle?.close();
      for (const netns of made.reverse()) {
        try {
          execFileSync('ip', ['netns', 'del', netns], { stdio: 'ignore' });
        } catch {
          // already gone
        }
      }
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('answers VERSION with the versions whose chained contract it follows', async () => {
      expect(await runtime.version('ambit-cni')).toEqual({
        cniVersion: '1.0.0',
        supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0'],
      });
    });

    it('ADD of an ambient pod: host-local address, capture by the ztunnel before ADD returns; CHECK, then DEL releases it', async () => {
      const sandbox = pod('web');
      // The mesh knows the pod once kubelet created it (the control plane watches pods); its IP comes from
      // host-local, which the ztunnel's config learns from the Pod's status. The test names the next address.
      ztunnel.applySnapshot(snapshot({ workloads: [inMesh(sandbox, `${subnet}.2`)] }));
      const result = await runtime.add(sandbox);
      expect(ipOf(result)).toBe(`${subnet}.2`);
      expect(agent.pods.map((p) => [p.uid, p.serviceAccount, p.ips])).toEqual([
        [sandbox.uid, 'web-sa', [`${subnet}.2`]],
      ]);
      const listing = await listRules({ path: sandbox.netnsPath }, { backend });
      expect([listing.rules.installed, listing.rules.drift]).toEqual([true, []]);

      await expectOutboundCaptured(netnsName(sandbox), 7070);

      await runtime.check(sandbox);
      await removeRules({ path: sandbox.netnsPath }, { backend });
      const broken = await runtime.check(sandbox).then(
        () => undefined,
        (error: ChainError) => error,
      );
      expect(broken?.run.type).toBe('ambit-cni');
      expect(broken?.body.code).toBe(102);

      expect(await runtime.del(sandbox)).toEqual([]);
      expect(agent.pods).toEqual([]);
      expect(ztunnel.podUids).toEqual([]);
      expect(readdirSync(join(dir, 'ipam', `ambit-test-${id}`)).filter((f) => f.startsWith(subnet))).toEqual(
        [],
      );
      expect(await nsExec(netnsName(sandbox), ['ip', '-o', 'link', 'show', 'eth0']).catch(() => 'gone')).toBe(
        'gone',
      );
    });

    it('enrolls a pod that was running before Ambit, found among the pinned namespaces by its IP, without restarting it', async () => {
      const sandbox = pod('early');
      const ip = ipOf(await runtimeBeforeAmbit.add(sandbox));
      const stored = api.get('/api/v1', 'pods', 'mesh', 'early')!;
      api.put('/api/v1', 'pods', { ...stored, status: { phase: 'Running', podIPs: [{ ip }] } });
      // Its app, started before Ambit and never restarted.
      const app = spawn('ip', ['netns', 'exec', netnsName(sandbox), 'sleep', '120'], { stdio: 'ignore' });
      children.push(app);
      try {
        await eventually(() => existsSync(`/proc/${app.pid}`), { what: 'the app to start' });
        expect((await listRules({ path: sandbox.netnsPath }, { backend })).rules.installed).toBe(false);
        ztunnel.applySnapshot(snapshot({ workloads: [inMesh(sandbox, ip)] }));
        // As in the DaemonSet: on the node's network, in a PID namespace of its own (no /proc of the pods).
        // Asynchronously: the API server answering it lives in this very process.
        const reconcile = async () => {
          const { stdout } = await execFileAsync(
            'ip',
            [
              'netns',
              'exec',
              nodeNetns,
              'unshare',
              '--pid',
              '--fork',
              '--mount-proc',
              process.execPath,
              AMBIT,
              'cni',
              'reconcile',
              '--node',
              NODE,
              '--enroll-socket',
              socketPath,
              '--kubeconfig',
              join(dir, 'kubeconfig'),
            ],
            { encoding: 'utf8', env: { ...process.env, AMBIT_LOG_LEVEL: 'error' } },
          ).catch((error: { stdout?: string; stderr?: string }) => {
            throw new Error(`ambit cni reconcile failed: ${error.stdout} ${error.stderr}`);
          });
          return JSON.parse(stdout) as {
            enrolled: string[];
            skipped: Array<{ pod: string }>;
            failed: unknown[];
          };
        };
        const outcome = await reconcile();
        expect(outcome.enrolled).toEqual(['mesh/early']);
        expect(outcome.failed).toEqual([]);
        // The path the runtime pinned, which the ztunnel's DaemonSet mounts at the same place.
        expect(agent.pods.find((p) => p.uid === sandbox.uid)).toMatchObject({
          ips: [ip],
          netns: `/var/run/netns/${netnsName(sandbox)}`,
        });
        const listing = await listRules({ path: sandbox.netnsPath }, { backend });
        expect([listing.rules.installed, listing.rules.drift]).toEqual([true, []]);
        await expectOutboundCaptured(netnsName(sandbox), 7071);
        expect(app.exitCode).toBeNull(); // the same process, never restarted
        // Again (the agent restarted): the captured pod is acknowledged as it is, not captured twice.
        expect((await reconcile()).enrolled).toEqual(['mesh/early']);
        expect(agent.pods.filter((p) => p.uid === sandbox.uid)).toHaveLength(1);
      } finally {
        app.kill();
        await new Promise((resolve) =>
          app.exitCode === null ? app.once('exit', resolve) : resolve(undefined),
        );
        await agent.remove(sandbox.uid, sandbox.netnsPath).catch(() => {});
        await runtimeBeforeAmbit.del(sandbox).catch(() => {});
      }
    });

    it('ADD of a pod outside the mesh passes the result on and installs nothing', async () => {
      const sandbox = pod('other', { namespace: 'plain' });
      const result = await runtime.add(sandbox);
      expect(ipOf(result)).toMatch(new RegExp(`^${subnet.replaceAll('.', '\\.')}\\.`));
      expect(agent.pods.map((p) => p.uid)).not.toContain(sandbox.uid);
      expect((await listRules({ path: sandbox.netnsPath }, { backend })).rules.installed).toBe(false);
      await runtime.check(sandbox);
      expect(await runtime.del(sandbox)).toEqual([]);
    });

    it('fails ADD when the ztunnel refuses the pod (not in its config), leaving nothing captured', async () => {
      const sandbox = pod('unknown');
      const failure = await runtime.add(sandbox).then(
        () => undefined,
        (error: ChainError) => error,
      );
      expect(failure?.run.type).toBe('ambit-cni');
      expect(failure?.body.code).toBe(100);
      expect(failure?.body.details).toMatch(/no workload/);
      expect(agent.pods.map((p) => p.uid)).not.toContain(sandbox.uid);
      expect((await listRules({ path: sandbox.netnsPath }, { backend })).rules.installed).toBe(false);
      expect(await runtime.del(sandbox)).toEqual([]);
    });

    it('fails ADD when no node agent answers, and when the API cannot say what the pod is (fail closed)', async () => {
      const sandbox = pod('orphan', { labels: { 'istio.io/dataplane-mode': 'ambient' } });
      ztunnel.applySnapshot(snapshot({ workloads: [inMesh(sandbox, `${subnet}.9`)] }));
      await server.close();
      try {
        const failure = await runtime.add(sandbox).then(
          () => undefined,
          (error: ChainError) => error,
        );
        expect([failure?.run.type, failure?.body.code]).toEqual(['ambit-cni', 100]);
      } finally {
        server = await EnrollmentServer.listen(socketPath, agent);
      }
      expect(await runtime.del(sandbox)).toEqual([]);

      api.delete('/api/v1', 'pods', sandbox.namespace, sandbox.name);
      const unknown = await runtime.add(sandbox).then(
        () => undefined,
        (error: ChainError) => error,
      );
      expect([unknown?.run.type, unknown?.body.code]).toEqual(['ambit-cni', 101]);
      expect(agent.pods.map((p) => p.uid)).not.toContain(sandbox.uid);
      expect(await runtime.del(sandbox)).toEqual([]);
    });
  },
);
