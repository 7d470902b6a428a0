/**
 * A real 2-node local cluster, driven through the `ambit` CLI: pods on both nodes talk TCP and HTTP across
 * the fabric in both directions, `exec` lands in the right namespace as the right user, crashed processes
 * come back with their restarts counted, the root namespace is guarded, and `down` leaves nothing behind.
 */

import { execFileSync } from 'node:child_process';
import { rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EchoReport } from '../../src/echo/http.ts';
import { podVethName, routeMetric } from '../../src/local/names.ts';
import type { ClusterReport } from '../../src/local/report.ts';
import { ambit } from '../support/cli.ts';
import { eventually } from '../support/eventually.ts';
import {
  isAlive,
  leftovers,
  makeStateRoot,
  NOTHING_LEFT,
  uniqueName,
  writeClusterFile,
} from '../support/local-cluster.ts';
import {
  clusterDoc,
  echoPod,
  manifests,
  namespaceDoc,
  type PodOptions,
  podDoc,
  serviceDoc,
} from '../support/manifests.ts';
import { canRunNetnsTests } from '../support/privileges.ts';

const pod = (name: string, options: PodOptions = {}) => podDoc(name, { namespace: 'apps', ...options });

const clusterYaml = (name: string) =>
  manifests(
    clusterDoc(name),
    // Not enrolled in the mesh: this suite is about the bare cluster (enrollment: local-enrollment.test.ts).
    namespaceDoc('apps', { labels: { team: 'a' } }),
    echoPod('a', { namespace: 'apps', node: 'n1', labels: { app: 'echo' }, tcp: true }),
    echoPod('b', { namespace: 'apps', node: 'n2', labels: { app: 'echo' }, tcp: true }),
    pod('root', { node: 'n1', runAsUser: 0 }),
    pod('u1000', { node: 'n2', runAsUser: 1000 }),
    pod('crasher', { command: ['sh', '-c', 'echo crashing; exit 3'] }),
    pod('once', { command: ['true'], restartPolicy: 'OnFailure' }),
    serviceDoc('echo', { namespace: 'apps' }),
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'kept', namespace: 'apps' },
      spec: { hosts: ['echo'], http: [{ route: [{ destination: { host: 'echo' } }] }] },
    },
  );

/** Sends `payload` to ip:9000 from inside a pod and prints what comes back (Node 24 is on pods' PATH). */
const TCP_CLIENT =
  "const s=require('net').connect(9000,process.argv[1],()=>s.end(process.argv[2]));let d='';" +
  "s.on('data',c=>d+=c);s.on('end',()=>process.stdout.write(d));s.on('error',e=>{console.error(e.message);process.exit(1)})";

describe.runIf(canRunNetnsTests())('ambit local: a 2-node cluster', () => {
  const root = makeStateRoot();
  const name = uniqueName('it-local');
  const run = (...args: string[]) => ambit(args, { stateRoot: root });
  const inPod = (pod: string, ...command: string[]) =>
    run('local', 'exec', pod, '-n', 'apps', '--name', name, '--', ...command);
  const status = async () =>
    JSON.parse((await run('local', 'status', '--name', name, '-o', 'json')).stdout) as ClusterReport;
  const podOf = (report: ClusterReport, pod: string) => report.pods.find((p) => p.name === pod)!;
  let report: ClusterReport;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    const file = writeClusterFile(root, name, clusterYaml(name));
    const started = performance.now();
    const result = await run('local', 'up', '-f', file);
    timings.up = performance.now() - started;
    expect(result.stderr).not.toContain('FAILED');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`cluster ${name} is up`);
    report = await status();
  });

  afterAll(async () => {
    await run('local', 'down', '--name', name);
    rmSync(root, { recursive: true, force: true });
    console.log(`local cluster timings (ms): ${JSON.stringify(timings)}`);
  });

  it('places pods on both nodes with addresses from their node’s range, ready and running', () => {
    expect(report.nodes.map((n) => [n.name, n.underlayIP, n.podCIDR])).toEqual([
      ['n1', '10.250.0.1', '10.244.0.0/24'],
      ['n2', '10.250.0.2', '10.244.1.0/24'],
    ]);
    const a = podOf(report, 'a');
    const b = podOf(report, 'b');
    expect([a.node, a.ip, a.ready, a.status]).toEqual(['n1', '10.244.0.2', true, 'Running']);
    expect([b.node, b.ip, b.ready, b.status]).toEqual(['n2', '10.244.1.2', true, 'Running']);
    expect(report.services).toEqual([
      { name: 'echo', namespace: 'apps', clusterIP: '10.96.0.1', ports: ['http 80->http/TCP'], pods: 2 },
    ]);
    expect(report.supervisor.running).toBe(true);
  });

  it('carries TCP between pods on different nodes, both ways', async () => {
    const a = podOf(report, 'a');
    const b = podOf(report, 'b');
    const ab = await inPod('a', 'node', '-e', TCP_CLIENT, b.ip, 'ping from a');
    expect(ab.stderr).toBe('');
    expect(ab.stdout).toBe('ping from a');
    const ba = await inPod('b', 'node', '-e', TCP_CLIENT, a.ip, 'ping from b');
    expect(ba.stdout).toBe('ping from b');
  });

  it('carries HTTP across nodes without NAT: the server sees the client pod’s own IP', async () => {
    const a = podOf(report, 'a');
    const b = podOf(report, 'b');
    for (const [from, to] of [
      [a, b],
      [b, a],
    ] as const) {
      const result = await inPod(from.name, 'curl', '-sS', '--max-time', '5', `http://${to.ip}:8080/x?y=1`);
      const echo = JSON.parse(result.stdout) as EchoReport;
      // pod, namespace, node and IP come from the environment the supervisor gave the echo process.
      expect(echo).toMatchObject({
        pod: to.name,
        namespace: 'apps',
        node: to.node,
        ip: to.ip,
        version: to.name,
      });
      expect(echo.request.source.split(':')[0]).toBe(from.ip);
      expect(echo.request.destination).toBe(`${to.ip}:8080`);
    }
  });

  it('runs exec in the pod’s namespace, as the pod’s user, with the pod’s environment', async () => {
    const expectations: [string, string][] = [
      ['a', '65534:65534'],
      ['root', '0:0'],
      ['u1000', '1000:1000'],
    ];
    for (const [pod, user] of expectations) {
      const r = podOf(report, pod);
      const result = await inPod(
        pod,
        'sh',
        '-c',
        'readlink /proc/self/ns/net; echo "$(id -u):$(id -g)"; echo "$POD_NAME $POD_NAMESPACE $POD_IP $NODE_NAME"',
      );
      expect(result.stdout.split('\n')).toEqual([
        `net:[${statSync(`/run/netns/${r.netns}`).ino}]`,
        user,
        `${pod} apps ${r.ip} ${r.node}`,
        '',
      ]);
    }
    const resolv = await inPod('a', 'cat', '/etc/resolv.conf');
    expect(resolv.stdout).toContain(
      'search apps.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\n',
    );
    expect((await inPod('a', 'sh', '-c', 'exit 7')).code).toBe(7);
  });

  it('runs pod processes as their user inside their namespace', () => {
    for (const pod of ['a', 'u1000']) {
      const { pid, netns } = podOf(report, pod);
      expect(execFileSync('ps', ['-o', 'uid=', '-p', String(pid)], { encoding: 'utf8' }).trim()).toBe(
        pod === 'a' ? '65534' : '1000',
      );
      expect(execFileSync('readlink', [`/proc/${pid}/ns/net`], { encoding: 'utf8' }).trim()).toBe(
        `net:[${statSync(`/run/netns/${netns}`).ino}]`,
      );
    }
  });

  it('restarts crashed processes with backoff and counts the restarts', async () => {
    const latest = await eventually(
      async () => {
        const now = await status();
        return podOf(now, 'crasher').restarts >= 2 && now;
      },
      { timeout: 15_000, what: 'crasher restarted twice' },
    );
    const crashing = podOf(latest, 'crasher');
    expect(crashing.restarts).toBeGreaterThanOrEqual(2);
    expect(crashing.lastExit).toMatchObject({ code: 3 });
    expect((await run('local', 'logs', 'crasher', '-n', 'apps', '--name', name)).stdout).toContain(
      'crashing\ncrashing\n',
    );
    expect(podOf(latest, 'once')).toMatchObject({ status: 'Completed', restarts: 0 });

    const before = podOf(latest, 'a');
    process.kill(before.pid!, 'SIGKILL');
    const after = await eventually(
      async () => {
        const now = podOf(await status(), 'a');
        return now.restarts === 1 && now.ready && now;
      },
      { timeout: 10_000, what: 'a restarted and ready' },
    );
    expect(after).toMatchObject({
      restarts: 1,
      ready: true,
      status: 'Running',
      lastExit: { signal: 'SIGKILL' },
    });
    expect(after.pid).not.toBe(before.pid);
    const again = await inPod('b', 'node', '-e', TCP_CLIENT, before.ip, 'after restart');
    expect(again.stdout).toBe('after restart');
  });

  it('guards the cluster ranges in the root namespace: packets there fail at once', async () => {
    const routes = execFileSync('ip', ['route', 'show', 'proto', '147'], { encoding: 'utf8' });
    for (const range of ['10.250.0.0/24', '10.244.0.0/16', '10.96.0.0/16']) {
      expect(routes).toContain(`unreachable ${range} metric ${routeMetric(name)}`);
    }
    const error = await new Promise<NodeJS.ErrnoException>((resolve) => {
      const socket = connect(8080, podOf(report, 'a').ip);
      socket.on('connect', () => resolve(new Error('connected from the root namespace')));
      socket.on('error', resolve);
    });
    expect(error.code).toBe('EHOSTUNREACH');
    const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
    expect(links).not.toContain(podVethName('apps/a'));
  });

  it('shows logs of pods and of the supervisor', async () => {
    expect((await run('local', 'logs', 'a', '-n', 'apps', '--name', name)).stdout).toContain(
      '"msg":"listening"',
    );
    expect(
      (await run('local', 'logs', 'apps/b', '--name', name, '--tail', '1')).stdout.split('\n'),
    ).toHaveLength(2);
    expect((await run('local', 'logs', 'supervisor', '--name', name)).stdout).toContain('"msg":"started"');
    // A node's logs are those of its system processes: its node agent.
    const node = await run('local', 'logs', 'n1', '--name', name);
    expect(node.code, node.stderr).toBe(0);
    expect(node.stdout).toContain('"msg":"serving enrollment"');
    expect(node.stdout).toContain('/n1/enroll.sock');
  });

  it('refuses a second up with the same name and leaves the running cluster alone', async () => {
    const file = writeClusterFile(root, `${name}-again`, clusterYaml(name));
    const again = await run('local', 'up', '-f', file);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`a local cluster named ${name} already exists`);
    expect(podOf(await status(), 'b')).toMatchObject({ ready: true, status: 'Running' });
  });

  it('removes everything at down, and down is idempotent', async () => {
    const latest = await status();
    const pids = [latest.supervisor.pid!, ...latest.pods.flatMap((p) => (p.pid ? [p.pid] : []))];
    const interfaces = [...latest.pods.map((p) => podVethName(p.uid)), 'fabric0', 'cbr0'];
    const started = performance.now();
    const result = await run('local', 'down', '--name', name);
    timings.down = performance.now() - started;
    console.log(`down:\n${result.stderr}`);
    expect(result.code, result.stderr).toBe(0);
    expect(leftovers(name, root, interfaces)).toEqual(NOTHING_LEFT);
    expect(pids.filter(isAlive)).toEqual([]);
    const second = await run('local', 'down', '--name', name);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('does not exist: nothing to remove');
  });
});
